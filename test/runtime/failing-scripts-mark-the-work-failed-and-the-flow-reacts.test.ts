import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ValidationError } from '../../constructs/errors.ts';
import { eventually, processesWith, type RunningApp, startApp } from '../support/app-fixture.ts';

let running: RunningApp | undefined;
afterEach(async () => {
  await running?.local.stop(0, 'test over');
  running = undefined;
});

/** An app whose flow calls one parallel work and records every status it sees. */
function appWith(workProps: string, extra = '') {
  return `
    import { Flow, LightningApp, ScriptWork } from '@api';
    class Root extends Flow<{ seen: string[] }> {
      readonly w = new ScriptWork(this, 'w', { parallel: true, ${workProps} });
      constructor(app: LightningApp) { super(app, 'root', { state: { seen: [] } }); }
      override run() {
        this.w.run({});
        const p = this.w.status.phase;
        if (this.state.seen[this.state.seen.length - 1] !== p) this.state.seen.push(p);
        ${extra}
      }
    }
    const app = new LightningApp({ name: 'failing' });
    new Root(app);
    export default app;`;
}

describe('a work whose script cannot run or fails', () => {
  it('missing scripts: the app refuses to start, naming every one and where it looked', async () => {
    const app = `
      import { Flow, LightningApp, ScriptWork } from '@api';
      class Root extends Flow {
        readonly a = new ScriptWork(this, 'a', { script: 'nope.py' });
        readonly b = new ScriptWork(this, 'b', { script: 'scripts' });
        readonly c = new ScriptWork(this, 'c', { command: ['python3', '-c', 'pass'] });
        constructor(app: LightningApp) { super(app, 'root'); }
        override run() { this.a.run({}); }
      }
      const app = new LightningApp({ name: 'missing' });
      new Root(app);
      export default app;`;
    const started = startApp({ 'app.ts': app, 'scripts/keep.txt': '' });
    const err = await started.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ValidationError);
    const problems = (err as ValidationError).problems;
    expect(problems.map((p) => p.path)).toEqual(['root.a', 'root.b']);
    expect(problems[0]!.message).toMatch(/"nope\.py" does not exist \(looked for \/.*\/nope\.py\)/);
    expect(problems[1]!.message).toMatch(/"scripts" is a directory/);
    expect(problems[0]!.fix).toMatch(/resolved against the app file's directory/);
  });

  it('a script removed after the start: failed with spawn_error naming the file; the app keeps running', async () => {
    running = await startApp({
      'late.py': 'print("hi")\n',
      'app.ts': `
        import { Flow, LightningApp, ScriptWork } from '@api';
        class Root extends Flow<{ go: boolean }> {
          readonly w = new ScriptWork(this, 'w', { parallel: true, script: 'late.py' });
          constructor(app: LightningApp) { super(app, 'root', { state: { go: false } }); }
          override run() { if (this.state.go) this.w.run({}); }
        }
        const app = new LightningApp({ name: 'late' });
        new Root(app);
        export default app;`,
    });
    const { local, until } = running;
    await rm(join(running.dir, 'late.py'));
    await local.loop.patchState('root', [{ op: 'replace', path: '/go', value: true }]);
    await until(() => local.loop.statusOf('root.w')?.phase === 'failed', 30_000, 'failed');
    const st = local.loop.statusOf('root.w')!;
    expect(st.reason).toBe('spawn_error');
    expect(st.message).toMatch(/late\.py does not exist/);
    expect(local.loop.hasEnded).toBe(false);
  });

  it('script not executable: failed with a chmod hint', async () => {
    running = await startApp({
      tool: 'echo hi\n', // no shebang, no extension, mode 644
      'app.ts': appWith(`script: 'tool'`),
    });
    const { local, until } = running;
    await until(() => local.loop.statusOf('root.w')?.phase === 'failed', 30_000, 'failed');
    expect(local.loop.statusOf('root.w')!.message).toMatch(/chmod \+x/);
  });

  it('non-zero exit: failed with the exit code and the last stderr lines; the flow reacts', async () => {
    running = await startApp({
      'fail.sh': '#!/usr/bin/env bash\necho "CUDA out of memory" >&2\nexit 3\n',
      'app.ts': appWith(
        `script: 'fail.sh'`,
        `if (this.w.hasFailed) this.stopApp('reacted to exit ' + this.w.status.exitCode);`,
      ),
    });
    const end = await running.local.finished;
    expect(end).toEqual({ exitCode: 0, message: 'reacted to exit 3' });
    const st = running.local.loop.statusOf('root.w')!;
    expect(st.reason).toBe('exit_code');
    expect(st.message).toMatch(/exited with code 3[\s\S]*CUDA out of memory/);
    // Every transition was applied in order...
    expect(running.statuses.filter((s) => s.work === 'root.w').map((s) => s.status.phase)).toEqual([
      'pending',
      'running',
      'failed',
    ]);
    // ...while the flow, whose passes coalesce bursts, saw at least the first and the last.
    const seen = (running.local.loop.snapshot().root!.vars as { seen: string[] }).seen;
    expect(seen[0]).toBe('pending');
    expect(seen.at(-1)).toBe('failed');
  });

  it('retries a failing call maxRetries times, then fails', async () => {
    running = await startApp({
      'flaky.sh': '#!/usr/bin/env bash\necho attempt >> "$LIGHTNING_WORK_DIR/attempts"\nexit 1\n',
      'app.ts': appWith(`script: 'flaky.sh', maxRetries: 2, retryBackoffSeconds: 0.05`),
    });
    const { local, until } = running;
    await until(() => local.loop.statusOf('root.w')?.phase === 'failed', 30_000, 'failed after retries');
    const st = local.loop.statusOf('root.w')!;
    expect(st.restarts).toBe(2);
    expect(st.attempt).toBe(2);
  });

  it('a blocking call that fails throws WorkFailedError into run(), which the flow can catch', async () => {
    running = await startApp({
      'fail.sh': '#!/usr/bin/env bash\nexit 7\n',
      'app.ts': `
        import { Flow, LightningApp, ScriptWork, WorkFailedError } from '@api';
        class Root extends Flow {
          readonly w = new ScriptWork(this, 'w', { script: 'fail.sh' });
          constructor(app: LightningApp) { super(app, 'root'); }
          override run() {
            try { this.w.run({}); }
            catch (err) {
              if (err instanceof WorkFailedError) return this.stopApp('caught exit ' + err.exitCode);
              throw err;
            }
          }
        }
        const app = new LightningApp({ name: 'blockfail' });
        new Root(app);
        export default app;`,
    });
    expect(await running.local.finished).toEqual({ exitCode: 0, message: 'caught exit 7' });
  });

  it('an uncaught blocking failure ends the app with exit code 1 and says how to handle it', async () => {
    running = await startApp({
      'fail.sh': '#!/usr/bin/env bash\nexit 2\n',
      'app.ts': `
        import { Flow, LightningApp, ScriptWork } from '@api';
        class Root extends Flow {
          readonly w = new ScriptWork(this, 'w', { script: 'fail.sh' });
          constructor(app: LightningApp) { super(app, 'root'); }
          override run() { this.w.run({}); }
        }
        const app = new LightningApp({ name: 'uncaught' });
        new Root(app);
        export default app;`,
    });
    const end = await running.local.finished;
    expect(end.exitCode).toBe(1);
    expect(end.message).toMatch(/root\.w failed \(exit_code, exit code 2\)[\s\S]*fix: catch WorkFailedError/);
  });
});

describe('stopping and killing', () => {
  it('work.stop() kills the script and every process it started, and records stopped', async () => {
    const marker = `lightning-tree-${process.pid}-${Date.now()}`;
    running = await startApp({
      'tree.sh': `#!/usr/bin/env bash\n(sleep 300; echo ${marker}) &\nsleep 301 ${marker} 2>/dev/null || sleep 300\n`,
      'app.ts': appWith(
        `script: 'tree.sh'`,
        `if (this.w.isRunning && this.state.seen.length === 2) { this.state.seen.push('stop-sent'); this.w.stop(); }`,
      ),
    });
    const { local, until } = running;
    await until(() => local.loop.statusOf('root.w')?.phase === 'stopped', 30_000, 'stopped');
    expect(local.loop.statusOf('root.w')!.reason).toBe('stopped');
    // Both the script's subshell (sleep 300) and its main sleep are gone.
    expect(
      await eventually(
        () => processesWith(marker),
        (pids) => pids.length === 0,
      ),
    ).toEqual([]);
  });

  it('a script killed from outside mid-run is failed with reason signal', async () => {
    running = await startApp({
      'victim.sh': '#!/usr/bin/env bash\necho "pid $$"\nsleep 300\n',
      'app.ts': appWith(`script: 'victim.sh'`),
    });
    const { local, until, logs } = running;
    await until(() => logs.some((l) => l.line.startsWith('pid ')), 30_000, 'the script to print its pid');
    const pid = Number(logs.find((l) => l.line.startsWith('pid '))!.line.slice(4));
    process.kill(pid, 'SIGKILL');
    await until(() => local.loop.statusOf('root.w')?.phase === 'failed', 30_000, 'failed');
    const st = local.loop.statusOf('root.w')!;
    expect(st.reason).toBe('signal');
    expect(st.message).toMatch(/SIGKILL/);
  });

  it('a timeout kills the call and fails it with reason timeout', async () => {
    running = await startApp({
      'slow.sh': '#!/usr/bin/env bash\nsleep 300\n',
      'app.ts': appWith(`script: 'slow.sh', timeoutSeconds: 0.5`),
    });
    const { local, until } = running;
    await until(() => local.loop.statusOf('root.w')?.phase === 'failed', 30_000, 'timed out');
    expect(local.loop.statusOf('root.w')!.reason).toBe('timeout');
  });
});
