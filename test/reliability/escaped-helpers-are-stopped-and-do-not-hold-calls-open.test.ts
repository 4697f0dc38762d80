/**
 * Issue 10 item 5: a helper a script starts in a new session (setsid, as daemonizing
 * servers do) is still part of the work: it does not keep a finished call `running`, and it
 * does not survive the app, even when it ignores SIGTERM.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually, processesWith, type RunningApp, startApp } from '../support/app-fixture.ts';
import { jobRuns, jobScript, processesLeft } from './process-tree.ts';

let running: RunningApp | undefined;
afterEach(async () => {
  await running?.local.kill();
  running = undefined;
});

function appTs(props: string): string {
  return `
    import { Flow, LightningApp, ScriptWork } from '@api';
    class Root extends Flow {
      readonly job = new ScriptWork(this, 'job', { script: 'job.py', parallel: true, ${props} });
      override run() { this.job.run({}); }
    }
    const app = new LightningApp({ name: 'escape' });
    new Root(app, 'root');
    export default app;`;
}

describe('helpers started in a new session', () => {
  it('a script that exits 0 after starting one succeeds at once, and the helper is stopped', async () => {
    const marker = `helper-${randomBytes(6).toString('hex')}`;
    const app = await startApp({
      'job.py': jobScript({ marker, helper: 'sleep', exitAfterHelper: true }),
      'app.ts': appTs(''),
    });
    running = app;
    await app.until(
      () => app.local.loop.statusOf('root.job')?.phase === 'succeeded',
      30_000,
      'the call to succeed although its helper still runs',
    );
    expect(await processesLeft(marker)).toEqual([]);
  });

  it('Ctrl-C stops a SIGTERM-ignoring helper too (SIGKILL after the grace period)', async () => {
    const marker = `helper-${randomBytes(6).toString('hex')}`;
    const app = await startApp({
      'job.py': jobScript({ marker, helper: 'ignore-term' }),
      'app.ts': appTs('stopGraceSeconds: 1'),
    });
    running = app;
    await eventually(
      () => jobRuns(app.dir),
      (r) => r.length === 1,
      30_000,
    );
    expect(
      await eventually(
        () => processesWith(marker),
        (p) => p.length === 1,
      ),
    ).toHaveLength(1);
    const end = await app.local.stop();
    expect(end.exitCode).toBe(130);
    // Gone when the app has ended, not some time later.
    expect(await processesWith(marker)).toEqual([]);
  });
});
