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
import { type AppendingState, appendingApp, appendingModel, MARK_EVERY } from './appending-app.ts';
import { faultSeed, startFaultyLink, suiteFaults } from './faulty-link-rig.ts';

const N = 4000;
type S = AppendingState;
const buildApp = appendingApp('faultylink', N);

describe('a faulty link between daemon and flow', () => {
  it('converges, applies no duplicate, and pays one snapshot per gap', { timeout: 240_000 }, async () => {
    const seed = faultSeed();
    const link = await startFaultyLink(buildApp, 'root.w', suiteFaults(0.002), seed);
    const { loop, proxy, daemon } = link;
    try {
      await daemon.start();
      const flowVars = () => loop.snapshot()['root.w']!.vars as unknown as S;
      await link.settle(() => flowVars().marks.length === N / MARK_EVERY);
      const expected = appendingModel(N);
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
