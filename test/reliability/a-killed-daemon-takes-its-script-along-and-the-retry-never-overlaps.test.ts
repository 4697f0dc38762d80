/**
 * Issue 10 item 1: `kill -9` of a work's daemon must take the work's script (and everything
 * the script started) along, and the retry must not start before the old attempt is gone.
 * A GPU training script running twice on one GPU is the failure this guards against.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually, processesWith, type RunningApp, startApp } from '../support/app-fixture.ts';
import { isAlive, jobOverlaps, jobRuns, jobScript, processesLeft } from './process-tree.ts';

let running: RunningApp | undefined;
afterEach(async () => {
  await running?.local.kill();
  running = undefined;
});

describe('a daemon killed with SIGKILL', () => {
  it('takes its script and the script helpers along; the retry starts only after they are gone', async () => {
    const marker = `helper-${randomBytes(6).toString('hex')}`;
    const app = await startApp({
      'job.py': jobScript({ marker, helper: 'sleep' }),
      'app.ts': `
        import { Flow, LightningApp, ScriptWork } from '@api';
        class Root extends Flow {
          readonly job = new ScriptWork(this, 'job', { script: 'job.py', parallel: true, maxRetries: 3, retryBackoffSeconds: 0.1 });
          override run() { this.job.run({}); }
        }
        const app = new LightningApp({ name: 'kill9' });
        new Root(app, 'root');
        export default app;`,
    });
    running = app;
    const runsAtLeast = (n: number) =>
      eventually(
        () => jobRuns(app.dir),
        (r) => r.length >= n,
        30_000,
      );
    for (let kill = 1; kill <= 3; kill++) {
      await runsAtLeast(kill);
      await app.until(() => app.local.loop.statusOf('root.job')?.phase === 'running', 30_000, 'running');
      const [daemon] = app.local.daemons.pids();
      process.kill(daemon!, 'SIGKILL');
      const runs = await runsAtLeast(kill + 1);
      expect(runs).toHaveLength(kill + 1);
      // The killed attempt's script is gone, and it was gone before the next one started.
      expect(await isAlive(runs[kill - 1]!)).toBe(false);
      expect(await jobOverlaps(app.dir)).toEqual([]);
    }
    // Only the last attempt's helper is left while the app runs.
    expect(
      await eventually(
        () => processesWith(marker),
        (p) => p.length === 1,
      ),
    ).toHaveLength(1);
    await app.local.stop();
    expect(await processesLeft(marker)).toEqual([]);
    for (const pid of await jobRuns(app.dir)) expect(await isAlive(pid)).toBe(false);
  });
});
