/**
 * An ended event loop runs no more events: a state patch (the UI's editor, `PATCH
 * /api/state`), a re-run (the UI's Restart) or a stop that arrives after the end is refused at once
 * with FAILED_PRECONDITION, instead of waiting forever for a loop that will not run it.
 */
import { describe, expect, it } from 'vitest';
import { DaemonError, GrpcCode } from '../../constructs/errors.ts';
import { startApp } from '../support/app-fixture.ts';

describe('requests to an ended app', () => {
  it('are refused, not left hanging', async () => {
    const running = await startApp({
      'app.ts': `
        import { Flow, LightningApp } from '@api';
        class Root extends Flow<{ n: number }> {
          constructor(app: LightningApp) { super(app, 'root', { state: { n: 0 } }); }
          override run() { this.stopApp('done'); }
        }
        const app = new LightningApp({ name: 'ended' });
        new Root(app);
        export default app;`,
    });
    expect((await running.local.finished).message).toBe('done');
    const settle = (p: Promise<unknown>) =>
      Promise.race([
        p.then(
          () => 'resolved',
          (err: unknown) => err,
        ),
        new Promise((r) => setTimeout(() => r('still waiting after 5 s'), 5_000)),
      ]);
    for (const outcome of [
      await settle(running.local.loop.patchState('root', [{ op: 'replace', path: '/n', value: 1 }])),
      await settle(running.local.loop.rerun('root')),
      await settle(running.local.loop.stop('root')),
    ]) {
      expect(outcome).toBeInstanceOf(DaemonError);
      expect((outcome as DaemonError).grpcCode).toBe(GrpcCode.FAILED_PRECONDITION);
      expect((outcome as DaemonError).message).toMatch(/app ended has ended/);
    }
    await running.local.stop(0, 'test over');
  });
});
