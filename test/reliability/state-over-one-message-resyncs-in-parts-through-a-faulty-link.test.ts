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
import { type AppendingState, appendingApp, appendingModel, MARK_EVERY } from './appending-app.ts';
import { faultSeed, startFaultyLink, suiteFaults } from './faulty-link-rig.ts';

const N = 1000;
const BLOBS = {
  first: '😀a'.repeat(500_000), // 1.5 Mi units
  halfway: 'b😀'.repeat(600_000), // 1.8 Mi units: over the 1 MiB op limit
};
type S = AppendingState;
const buildApp = appendingApp('bigfaultylink', N, BLOBS);

describe('state over one message, through a faulty link', () => {
  it('resyncs in parts both ways and converges', { timeout: 240_000 }, async () => {
    const seed = faultSeed();
    const link = await startFaultyLink(buildApp, 'root.w', suiteFaults(0.005), seed);
    const { loop, proxy, daemon } = link;
    try {
      await daemon.start();
      const flowVars = () => loop.snapshot()['root.w']!.vars as unknown as S;
      await link.settle(() => flowVars().marks.length === N / MARK_EVERY);
      const flow = flowVars();
      const work = daemon.work.state as S;
      // Compared by hand: a diff of two 1.8 MB strings would drown the report.
      expect(flow.blob === BLOBS.halfway).toBe(true);
      expect(work.blob === BLOBS.halfway).toBe(true);
      const rest = (s: S) => ({ items: s.items.join(','), count: s.count, marks: s.marks, closed: s.closed });
      const model = rest(appendingModel(N));
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
