/**
 * The fault suite's faulty link (issue 10): a real work daemon (WorkDaemon, in this process)
 * talks to a real flow (event loop + gRPC server) through a man-in-the-middle that drops,
 * duplicates, reorders and delays messages in both directions and cuts the connection
 * (fault-proxy.ts), seeded: the daemon's deltas on the way to the flow; the flow's write
 * requests and acks, and (duplicated, delayed) its welcomes, runs and snapshot requests on the
 * way to the daemon. The work appends 1..N to an array (a duplicate applied would show twice,
 * a lost delta as a hole) while the flow writes a mark into the work's state every 20 (a
 * request applied twice would show twice, a lost one never be confirmed). Then the faults
 * stop and:
 * - the flow's copy, the daemon's copy and the model ([1..N], the flow's marks) are equal;
 * - duplicates were seen and dropped, never applied; nothing was rejected; the call ran once;
 * - each gap cost one snapshot: at the flow, one snapshot request per gap; at the daemon (a
 *   flow request missing), one reconnect, whose welcome the daemon answers with one snapshot.
 * Prints one line of figures. LIGHTNING_FAULT_SEED picks another seed.
 */
import { describe, expect, it } from 'vitest';
import { Flow, LightningApp, Work } from '../../constructs/index.ts';
import { startFaultyLink } from './faulty-link-rig.ts';

const N = 4000;
type S = { items: number[]; count: number; marks: number[]; closed?: boolean };

function buildApp() {
  class Appender extends Work<S> {
    override async execute() {
      for (let i = 1; i <= N; i++) {
        this.state.items.push(i);
        this.state.count = i;
        // A tick (one delta) every few writes.
        if (i % 5 === 0) await new Promise((r) => setTimeout(r, 1));
      }
    }
  }
  class Root extends Flow {
    readonly w = new Appender(this, 'w', { state: { items: [], count: 0, marks: [] }, parallel: true });
    override run() {
      this.w.run({});
      // The flow writes into the work's state as well (requests the daemon applies once).
      // Every multiple of 20 the count has passed, in order: a pass may come after the count
      // crossed several of them (a fast work, a slow pass), and each must still be marked once.
      const reached = Math.floor(this.w.state.count / 20) * 20;
      for (let mark = 20; mark <= reached; mark += 20) {
        if (!this.w.state.marks.includes(mark)) this.w.state.marks.push(mark);
      }
    }
  }
  const app = new LightningApp({ name: 'faultylink' });
  new Root(app, 'root');
  return app;
}

describe('a faulty link between daemon and flow', () => {
  it('converges, applies no duplicate, and pays one snapshot per gap', { timeout: 240_000 }, async () => {
    const seed = Number(process.env.LIGHTNING_FAULT_SEED ?? 20261127);
    const link = await startFaultyLink(
      buildApp,
      'root.w',
      {
        toFlow: { drop: 0.03, duplicate: 0.05, reorder: 0.03, delay: 0.1, cut: 0.002 },
        // The flow sends fewer messages (a request per pass that wrote, acks, control): higher rates.
        toDaemon: { drop: 0.08, duplicate: 0.15, reorder: 0.08, delay: 0.1, cut: 0.002 },
      },
      seed,
    );
    const { loop, proxy, daemon } = link;
    try {
      await daemon.start();
      const flowVars = () => loop.snapshot()['root.w']!.vars as unknown as S;
      await link.settle(() => flowVars().marks.length === N / 20);
      const expected: S = {
        items: Array.from({ length: N }, (_, i) => i + 1),
        count: N,
        marks: Array.from({ length: N / 20 }, (_, i) => (i + 1) * 20),
        closed: true,
      };
      const flow = flowVars();
      const work = JSON.parse(JSON.stringify(daemon.work.state)) as S;
      expect(JSON.stringify(flow.items) === JSON.stringify(expected.items)).toBe(true);
      expect({ ...flow, items: flow.items.length }).toEqual({ ...expected, items: N });
      expect(work).toEqual(JSON.parse(JSON.stringify(flow)));

      const c = proxy.counts;
      const [up, down] = [c.toFlow, c.toDaemon];
      const stats = loop.stats;
      // The daemon's side of a gap: a flow request that arrived before the one it waits for.
      const requestGaps = link.requestGaps();
      process.stdout.write(
        `reliability: faulty link to the flow dropped ${up.dropped}, duplicated ${up.duplicated}, reordered ${up.reordered}, delayed ${up.delayed}; ` +
          `to the daemon dropped ${down.dropped}, duplicated ${down.duplicated}, reordered ${down.reordered}, delayed ${down.delayed}; cuts ${c.cuts}; ` +
          `gaps ${stats.gaps} at the flow and ${requestGaps} at the daemon, snapshot requests ${c.snapshotRequests}, snapshots ${c.snapshots} on ${c.connections} connections, ` +
          `duplicates dropped ${stats.duplicates} (applied 0), rejected ${stats.rejected}, lost updates 0, converged, seed ${seed}\n`,
      );
      expect(up.dropped + up.duplicated + up.reordered + c.cuts).toBeGreaterThan(10);
      expect(down.dropped + down.duplicated + down.reordered).toBeGreaterThan(10);
      expect(stats.duplicates).toBeGreaterThan(0);
      expect(stats.rejected).toBe(0);
      expect(stats.gaps).toBeGreaterThan(0);
      expect(requestGaps).toBeGreaterThan(0);
      // One request per gap at most (one sent just as a cut ends the stream never arrives).
      expect(c.snapshotRequests).toBeLessThanOrEqual(stats.gaps);
      expect(c.snapshotRequests).toBeGreaterThan(0);
      // A new stream only after a cut or a gap at the daemon, and a snapshot only for a new
      // stream (its welcome) or a request: repeated welcomes and requests cost nothing.
      expect(c.connections).toBeLessThanOrEqual(1 + c.cuts + requestGaps);
      expect(c.snapshots).toBeLessThanOrEqual(c.connections + c.snapshotRequests);
    } finally {
      await link.close();
    }
  });
});
