/**
 * The faulty link (fault-proxy.ts) repeats every Run the flow sends. A call that ends before
 * the copy arrives must not run again: the daemon used to take the copy for a new call (its
 * call was over, and a Run carried nothing to tell a copy from a rerun), so a quick call ran
 * twice. A real rerun (the UI's Restart: same call, same arguments) still runs, once.
 */
import { describe, expect, it } from 'vitest';
import { Flow, LightningApp, Work } from '../../constructs/index.ts';
import { pollUntil } from '../support/app-fixture.ts';
import { startFaultyLink } from './faulty-link-rig.ts';

type S = { runs: number };

function buildApp() {
  class Quick extends Work<S> {
    override async execute() {
      this.state.runs++;
    }
  }
  class Root extends Flow {
    readonly w = new Quick(this, 'w', { state: { runs: 0 } });
    override run() {
      this.w.run({});
    }
  }
  const app = new LightningApp({ name: 'repeatedrun' });
  new Root(app, 'root');
  return app;
}

describe('a Run repeated on the way', () => {
  it('never runs its call twice; a restart still runs it again', { timeout: 60_000 }, async () => {
    const always = { drop: 0, duplicate: 1, reorder: 0, delay: 0, cut: 0 };
    const link = await startFaultyLink(buildApp, 'root.w', { toDaemon: always }, 1);
    const { loop, proxy, daemon } = link;
    const runs = () => (daemon.work.state as S).runs;
    try {
      await daemon.start();
      await pollUntil(() => loop.statusOf('root.w')?.phase === 'succeeded', 30_000, 'the call to succeed');
      await new Promise((r) => setTimeout(r, 500)); // the copy (at most 20 ms behind) has arrived
      expect(proxy.counts.toDaemon.duplicated).toBeGreaterThan(0);
      expect(runs()).toBe(1);

      await loop.rerun('root.w'); // the UI's Restart: its Run is repeated on the way too
      await pollUntil(
        () => runs() === 2 && loop.statusOf('root.w')?.phase === 'succeeded',
        30_000,
        'the rerun',
      );
      await new Promise((r) => setTimeout(r, 500));
      expect(runs()).toBe(2);
      expect((loop.snapshot()['root.w']!.vars as S).runs).toBe(2);
    } finally {
      await link.close();
    }
  });
});
