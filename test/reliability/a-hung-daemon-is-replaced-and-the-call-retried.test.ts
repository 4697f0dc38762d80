/**
 * Issue 10 item 6: a daemon that stops answering (SIGSTOP, a wedged event loop) is killed
 * and replaced, with its script tree; the call is retried on the new daemon. Before, the work
 * showed `running` for ~100 s, then `daemon_lost`, and the retry never got a daemon because
 * the stopped process still existed.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { eventually, type RunningApp, startApp } from '../support/app-fixture.ts';
import { isAlive, jobOverlaps, jobRuns, jobScript } from './process-tree.ts';

let running: RunningApp | undefined;
afterEach(async () => {
  await running?.local.kill();
  running = undefined;
});

describe('a daemon stopped with SIGSTOP', () => {
  it('is killed and replaced, its script goes with it, and the call runs again', async () => {
    const app = await startApp(
      {
        'job.py': jobScript({ marker: 'unused' }),
        'app.ts': `
          import { Flow, LightningApp, ScriptWork } from '@api';
          class Root extends Flow {
            readonly job = new ScriptWork(this, 'job', { script: 'job.py', parallel: true, maxRetries: 2, retryBackoffSeconds: 0.1 });
            override run() { this.job.run({}); }
          }
          const app = new LightningApp({ name: 'hung' });
          new Root(app, 'root');
          export default app;`,
      },
      // Daemons start from the bundle (the default): fast enough to run the call before the
      // host's first ping, which once left a stopped daemon the whole 120 s start-up allowance.
      { daemonUnresponsiveAfterMs: 3000 },
    );
    running = app;
    await eventually(
      () => jobRuns(app.dir),
      (r) => r.length === 1,
      30_000,
    );
    await app.until(() => app.local.loop.statusOf('root.job')?.phase === 'running', 30_000, 'running');
    const [hung] = app.local.daemons.pids();
    process.kill(hung!, 'SIGSTOP');
    const runs = await eventually(
      () => jobRuns(app.dir),
      (r) => r.length === 2,
      40_000,
    );
    expect(runs).toHaveLength(2);
    expect(await isAlive(hung!)).toBe(false);
    expect(await isAlive(runs[0]!)).toBe(false);
    expect(await jobOverlaps(app.dir)).toEqual([]);
    const [replacement] = app.local.daemons.pids();
    expect(replacement).not.toBe(hung);
    await app.until(
      () => app.local.loop.statusOf('root.job')?.phase === 'running',
      30_000,
      'the retry to run on the new daemon',
    );
    expect(app.local.loop.statusOf('root.job')!.restarts).toBeGreaterThanOrEqual(1);
    const log = app.logs.map((l) => l.line).join('\n');
    expect(log).toMatch(/did not answer for 3 s/);
    // The rerun says why (ADR 0020: calls are at-least-once, never silently).
    expect(log).toMatch(
      /running the call again \(retry, attempt 2 of 3\): attempt 1 failed \(daemon_exit\): .*did not answer for 3 s/,
    );
  });
});
