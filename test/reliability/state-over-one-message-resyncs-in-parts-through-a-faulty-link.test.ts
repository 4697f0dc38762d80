/**
 * ADR 0021's resync in parts, through the faulty link (fault-proxy.ts): a work whose state is
 * over 1 Mi UTF-16 units of JSON (one message's worth) keeps converging when gaps and cuts
 * force resyncs, in both directions that carry a whole document:
 * - daemon → flow: a snapshot after a gap at the flow (a dropped or reordered delta), after a
 *   reconnect, and instead of an op too large for one message (the work replaces its blob);
 * - flow → daemon: the welcome of every new stream (after a cut, or a gap in the flow's
 *   requests at the daemon), which the daemon puts back together before it answers.
 * The document holds astral characters (surrogate pairs), so parts are cut beside them.
 */
import { describe, expect, it } from 'vitest';
import { Flow, LightningApp, Work } from '../../constructs/index.ts';
import { startFaultyLink } from './faulty-link-rig.ts';

const N = 1000;
const FIRST_BLOB = '😀a'.repeat(500_000); // 1.5 Mi units
const SECOND_BLOB = 'b😀'.repeat(600_000); // 1.8 Mi units: over the 1 MiB op limit
type S = { blob: string; items: number[]; count: number; marks: number[]; closed?: boolean };

function buildApp() {
  class Big extends Work<S> {
    override async execute() {
      for (let i = 1; i <= N; i++) {
        this.state.items.push(i);
        this.state.count = i;
        if (i === N / 2) this.state.blob = SECOND_BLOB;
        if (i % 5 === 0) await new Promise((r) => setTimeout(r, 2));
      }
    }
  }
  class Root extends Flow {
    readonly w = new Big(this, 'w', {
      state: { blob: FIRST_BLOB, items: [], count: 0, marks: [] },
      parallel: true,
    });
    override run() {
      this.w.run({});
      const reached = Math.floor(this.w.state.count / 20) * 20;
      for (let mark = 20; mark <= reached; mark += 20) {
        if (!this.w.state.marks.includes(mark)) this.w.state.marks.push(mark);
      }
    }
  }
  const app = new LightningApp({ name: 'bigfaultylink' });
  new Root(app, 'root');
  return app;
}

describe('state over one message, through a faulty link', () => {
  it('resyncs in parts both ways and converges', { timeout: 240_000 }, async () => {
    const seed = Number(process.env.LIGHTNING_FAULT_SEED ?? 20261127);
    const link = await startFaultyLink(
      buildApp,
      'root.w',
      {
        toFlow: { drop: 0.03, duplicate: 0.05, reorder: 0.03, delay: 0.1, cut: 0.005 },
        toDaemon: { drop: 0.08, duplicate: 0.15, reorder: 0.08, delay: 0.1, cut: 0.005 },
      },
      seed,
    );
    const { loop, proxy, daemon } = link;
    try {
      await daemon.start();
      const flowVars = () => loop.snapshot()['root.w']!.vars as unknown as S;
      await link.settle(() => flowVars().marks.length === N / 20);
      const flow = flowVars();
      const work = daemon.work.state as S;
      // Compared by hand: a diff of two 1.8 MB strings would drown the report.
      expect(flow.blob === SECOND_BLOB).toBe(true);
      expect(work.blob === SECOND_BLOB).toBe(true);
      const rest = (s: S) => ({ items: s.items.join(','), count: s.count, marks: s.marks, closed: s.closed });
      const model = {
        items: Array.from({ length: N }, (_, i) => i + 1).join(','),
        count: N,
        marks: Array.from({ length: N / 20 }, (_, i) => (i + 1) * 20),
        closed: true,
      };
      expect(rest(flow)).toEqual(model);
      expect(rest({ ...work })).toEqual(model);

      const c = proxy.counts;
      const stats = loop.stats;
      const requestGaps = link.requestGaps();
      process.stdout.write(
        `reliability: state over one message through the faulty link: snapshots ${c.snapshots} (${c.snapshotParts} part messages), welcomes in ${c.welcomeParts} part messages, ` +
          `gaps ${stats.gaps} at the flow and ${requestGaps} at the daemon, cuts ${c.cuts}, ${c.connections} connections, rejected ${stats.rejected}, seed ${seed}\n`,
      );
      expect(link.notices.filter((n) => n.includes('rejected'))).toEqual([]);
      expect(stats.rejected).toBe(0);
      expect(stats.gaps).toBeGreaterThan(0);
      expect(requestGaps + c.cuts).toBeGreaterThan(0); // the daemon dialed again and got a welcome
      // The document is always over one message, so every snapshot and welcome is in parts.
      expect(c.snapshotParts).toBeGreaterThan(c.snapshots);
      expect(c.welcomeParts).toBeGreaterThan(c.connections);
      expect(c.snapshots).toBeLessThanOrEqual(c.connections + c.snapshotRequests + 1); // +1: the blob
    } finally {
      await link.close();
    }
  });
});
