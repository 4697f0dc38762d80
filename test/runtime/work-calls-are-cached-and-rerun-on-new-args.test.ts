import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type RunningApp, startApp } from '../support/app-fixture.ts';

let running: RunningApp | undefined;
afterEach(async () => {
  await running?.local.stop(0, 'test over');
  running = undefined;
});

// The script appends one line per run to a file in its work dir, so the test can count how
// often it really ran (not just what the status says).
const countingScript = `#!/usr/bin/env bash
echo "run $*" >> "$LIGHTNING_WORK_DIR/runs.txt"
`;

describe('work.run() call hashing', () => {
  it('runs a call once, ignores the same arguments, and re-runs on new arguments', async () => {
    running = await startApp({
      'count.sh': countingScript,
      'app.ts': `
        import { Flow, LightningApp, ScriptWork } from '@api';
        class Root extends Flow<{ lr: number; passes: number }> {
          readonly w = new ScriptWork(this, 'w', { script: 'count.sh', args: (a: { lr: number }) => [String(a.lr)], parallel: true });
          constructor(app: LightningApp) { super(app, 'root', { state: { lr: 1, passes: 0 } }); }
          override run() { this.w.run({ lr: this.state.lr }); }
        }
        const app = new LightningApp({ name: 'calls' });
        new Root(app);
        export default app;`,
    });
    const { local, until, dir } = running;
    const status = () => local.loop.statusOf('root.w')!;
    await until(() => status().phase === 'succeeded', 30_000, 'first call to succeed');
    const firstHash = status().callHash;

    // More passes with the same args, triggered by an unrelated state change. post() runs on
    // the loop; the passes it triggers run in the same drain, before the promise settles.
    const passesBefore = local.loop.stats.passes;
    for (let i = 1; i <= 3; i++) {
      await new Promise<void>((resolve) =>
        local.loop.post(() => {
          (local.loop.app.root.state as { passes: number }).passes = i;
          resolve();
        }),
      );
    }
    expect(local.loop.stats.passes).toBeGreaterThanOrEqual(passesBefore + 3);
    expect(status().callHash).toBe(firstHash);
    expect(status().phase).toBe('succeeded');

    // New args: a new call.
    local.loop.post(() => {
      (local.loop.app.root.state as { lr: number }).lr = 2;
    });
    await until(
      () => status().phase === 'succeeded' && status().callHash !== firstHash,
      30_000,
      'second call',
    );
    const runs = (await readFile(join(dir, '.lightning/works/root.w/runs.txt'), 'utf8')).trim().split('\n');
    expect(runs).toEqual(['run 1', 'run 2']);
  });

  it('re-runs when run() mutates the same arguments object in place', async () => {
    // The loop recognises a repeated call by comparing the arguments with a copy of the last
    // ones: had it kept the caller's object, a change made inside it would never be seen.
    running = await startApp({
      'count.sh': countingScript,
      'app.ts': `
        import { Flow, LightningApp, ScriptWork } from '@api';
        class Root extends Flow<{ lr: number }> {
          readonly w = new ScriptWork(this, 'w', { script: 'count.sh', args: (a: { opt: { lr: number } }) => [String(a.opt.lr)], parallel: true });
          private readonly args = { opt: { lr: 0 } };
          constructor(app: LightningApp) { super(app, 'root', { state: { lr: 1 } }); }
          override run() { this.args.opt.lr = this.state.lr; this.w.run(this.args); }
        }
        const app = new LightningApp({ name: 'calls-in-place' });
        new Root(app);
        export default app;`,
    });
    const { local, until, dir } = running;
    const status = () => local.loop.statusOf('root.w')!;
    await until(() => status().phase === 'succeeded', 30_000, 'first call to succeed');
    const firstHash = status().callHash;
    local.loop.post(() => {
      (local.loop.app.root.state as { lr: number }).lr = 2;
    });
    await until(
      () => status().phase === 'succeeded' && status().callHash !== firstHash,
      30_000,
      'second call',
    );
    const runs = (await readFile(join(dir, '.lightning/works/root.w/runs.txt'), 'utf8')).trim().split('\n');
    expect(runs).toEqual(['run 1', 'run 2']);
  });
});

describe('parallel vs blocking calls', () => {
  it('a blocking call holds back the code after it until it succeeded; a parallel one does not', async () => {
    running = await startApp({
      'slow.sh': '#!/usr/bin/env bash\nsleep 0.5\n',
      'app.ts': `
        import { Flow, LightningApp, ScriptWork } from '@api';
        class Root extends Flow<{ afterBlocking: string[]; afterParallel: string[] }> {
          readonly a = new ScriptWork(this, 'a', { script: 'slow.sh' });
          readonly b = new ScriptWork(this, 'b', { script: 'slow.sh', parallel: true });
          constructor(app: LightningApp) { super(app, 'root', { state: { afterBlocking: [], afterParallel: [] } }); }
          override run() {
            this.b.run({});
            // Recorded on every pass where the code after b.run() executes: b's phase at that time.
            const pb = this.b.status.phase;
            if (!this.state.afterParallel.includes(pb)) this.state.afterParallel.push(pb);
            this.a.run({});
            const pa = this.a.status.phase;
            if (!this.state.afterBlocking.includes(pa)) this.state.afterBlocking.push(pa);
            if (this.b.hasSucceeded) this.stopApp('both done');
          }
        }
        const app = new LightningApp({ name: 'blocking' });
        new Root(app);
        export default app;`,
    });
    const end = await running.local.finished;
    expect(end).toEqual({ exitCode: 0, message: 'both done' });
    const vars = running.local.loop.snapshot().root!.vars as {
      afterBlocking: string[];
      afterParallel: string[];
    };
    // Code after the parallel call ran while b was still pending/running.
    expect(vars.afterParallel).toContain('pending');
    // Code after the blocking call only ever ran once a had succeeded.
    expect(vars.afterBlocking).toEqual(['succeeded']);
  });

  it('with cacheCalls: false a finished call with the same arguments is dispatched again', async () => {
    running = await startApp({
      'count.sh': countingScript,
      'app.ts': `
        import { Flow, LightningApp, ScriptWork } from '@api';
        class Root extends Flow {
          readonly w = new ScriptWork(this, 'w', { script: 'count.sh', cacheCalls: false, parallel: true });
          constructor(app: LightningApp) { super(app, 'root'); }
          override run() { this.w.run({ same: 'args' }); }
        }
        const app = new LightningApp({ name: 'nocache' });
        new Root(app);
        export default app;`,
    });
    const runsFile = join(running.dir, '.lightning/works/root.w/runs.txt');
    const runCount = async () =>
      (await readFile(runsFile, 'utf8').catch(() => '')).trim().split('\n').filter(Boolean).length;
    let count = 0;
    await running.until(
      () => {
        void runCount().then((n) => {
          count = n;
        });
        return count >= 3;
      },
      30_000,
      'three runs of the same call',
    );
    expect(count).toBeGreaterThanOrEqual(3);
  });
});
