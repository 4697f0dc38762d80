/**
 * Issue 10 item 10: calls are at-least-once (ADR 0020). Every rerun is announced with its
 * reason on the terminal and in the work's log file, and the script or TypeScript work
 * sees which attempt it is and why it runs again (LIGHTNING_ATTEMPT / LIGHTNING_RERUN,
 * ctx.attempt / ctx.rerun), so it can be idempotent. Before, a call that ran again after
 * `--resume` was printed with no reason, and nothing told the script.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, eventually, processesWith, writeApp } from '../support/app-fixture.ts';

/** Appends "<attempt>:<rerun>" to runs.txt; fails with exit 3 on attempt 0 if asked to. */
const RECORDER = `
import os, pathlib, sys, time
here = pathlib.Path(__file__).parent
with open(here / "runs.txt", "a") as f:
    f.write(f"{os.environ['LIGHTNING_ATTEMPT']}:{os.environ['LIGHTNING_RERUN']}\\n")
print("py recorder up", flush=True)
if sys.argv[1:] == ["fail-first"] and os.environ["LIGHTNING_ATTEMPT"] == "0":
    sys.exit(3)
if sys.argv[1:] == ["fail-first"]:
    sys.exit(0)
time.sleep(300)
`;

/** A TypeScript work that records ctx.attempt and ctx.rerun, then runs until stopped. */
const APP = (scriptArgs: string, retryBackoffSeconds = 0.1) => `
  import { appendFileSync } from 'node:fs';
  import { join } from 'node:path';
  import { Flow, LightningApp, ScriptWork, Work, type WorkContext } from '@api';
  class Recorder extends Work {
    override async execute(_args: object, ctx: WorkContext) {
      appendFileSync(join(ctx.appDir, 'ts-runs.txt'), ctx.attempt + ':' + (ctx.rerun ?? '') + '\\n');
      ctx.log('ts recorder up');
      await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
    }
  }
  class Root extends Flow {
    readonly job = new ScriptWork(this, 'job', {
      script: 'recorder.py', args: ${JSON.stringify(scriptArgs ? [scriptArgs] : [])}, parallel: true,
      maxRetries: 1, retryBackoffSeconds: ${retryBackoffSeconds},
    });
    readonly ts = new Recorder(this, 'ts', { parallel: true });
    override run() { this.job.run({}); this.ts.run({}); }
  }
  const app = new LightningApp({ name: 'reruns' });
  new Root(app, 'root');
  export default app;`;

function run(
  dir: string,
  ...extra: string[]
): { cli: ChildProcess; output: () => string; exit: Promise<number | null> } {
  const cli = spawn(process.execPath, [CLI, 'run', join(dir, 'app.ts'), '--no-ui', ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  cli.stdout?.on('data', (c: Buffer) => {
    out += c.toString();
  });
  cli.stderr?.on('data', (c: Buffer) => {
    out += c.toString();
  });
  const exit = new Promise<number | null>((resolve) => cli.on('exit', (code) => resolve(code)));
  return { cli, output: () => out, exit };
}

const lines = async (file: string) =>
  (await readFile(file, 'utf8').catch(() => '')).split('\n').filter(Boolean);

describe('a call that runs again', () => {
  it('after a failed attempt: the script sees attempt 1 and "retry", and the reason is printed and logged', async () => {
    const dir = await writeApp({ 'recorder.py': RECORDER, 'app.ts': APP('fail-first') });
    const first = run(dir);
    const runs = await eventually(
      () => lines(join(dir, 'runs.txt')),
      (r) => r.length >= 2,
      60_000,
    );
    await eventually(
      async () => first.output(),
      (o) => /root\.job.*succeeded/.test(o),
      30_000,
    );
    first.cli.kill('SIGINT');
    expect(await first.exit).toBe(130);
    expect(runs).toEqual(['0:', '1:retry']);
    const announced =
      /running the call again \(retry, attempt 2 of 2\): attempt 1 failed \(exit_code, exit code 3\)/;
    expect(first.output()).toMatch(announced);
    expect(await readFile(join(dir, '.lightning', 'logs', 'latest', 'root.job.log'), 'utf8')).toMatch(
      announced,
    );
    expect(await lines(join(dir, 'ts-runs.txt'))).toEqual(['0:']);
  });

  it('after the flow was killed or stopped: --resume runs it as "resume" and says why', {
    timeout: 240_000,
  }, async () => {
    const dir = await writeApp({ 'recorder.py': RECORDER, 'app.ts': APP('') });
    // 1. The flow dies with its calls running (kill -9): the journal says running.
    const first = run(dir);
    await eventually(
      async () => first.output(),
      (o) => o.includes('py recorder up') && o.includes('ts recorder up'),
      60_000,
    );
    first.cli.kill('SIGKILL');
    await first.exit;
    // Local daemons end with the flow (their IPC channel closes), and their scripts with them.
    expect(
      await eventually(
        () => processesWith(dir),
        (p) => p.length === 0,
        30_000,
      ),
    ).toEqual([]);
    // 2. Resumed: both calls run again, as "resume", and the terminal says why.
    const second = run(dir, '--resume');
    await eventually(
      () => lines(join(dir, 'runs.txt')),
      (r) => r.length >= 2,
      60_000,
    );
    await eventually(
      () => lines(join(dir, 'ts-runs.txt')),
      (r) => r.length >= 2,
      30_000,
    );
    expect(await lines(join(dir, 'runs.txt'))).toEqual(['0:', '0:resume']);
    expect(await lines(join(dir, 'ts-runs.txt'))).toEqual(['0:', '0:resume']);
    expect(second.output()).toMatch(/local daemons end with the flow/);
    expect(second.output()).toMatch(
      /root\.job.*running the call again \(resume\): the flow was resumed from its journal while the call ran/,
    );
    await eventually(
      async () => second.output(),
      (o) => o.includes('py recorder up') && o.includes('ts recorder up'),
      30_000,
    );
    // 3. Ctrl-C records them stopped; the next --resume runs the stopped calls again.
    second.cli.kill('SIGINT');
    expect(await second.exit).toBe(130);
    const third = run(dir, '--resume');
    await eventually(
      () => lines(join(dir, 'runs.txt')),
      (r) => r.length >= 3,
      60_000,
    );
    await eventually(
      async () => third.output(),
      (o) => /root\.ts.*running the call again/.test(o),
      30_000,
    );
    third.cli.kill('SIGINT');
    expect(await third.exit).toBe(130);
    expect(await lines(join(dir, 'runs.txt'))).toEqual(['0:', '0:resume', '0:resume']);
    expect(third.output()).toMatch(
      /root\.job.*running the call again \(resume\): the call had stopped before the flow restarted \(stopped: (interrupted \(SIGINT\)|SIGTERM)\)/,
    );
    const log = await readFile(join(dir, '.lightning', 'logs', 'latest', 'root.job.log'), 'utf8');
    expect(log).toMatch(/running the call again \(resume\)/);
  });

  it('when the flow died while a retry waited: --resume runs that retry, as attempt 1', {
    timeout: 180_000,
  }, async () => {
    const dir = await writeApp({ 'recorder.py': RECORDER, 'app.ts': APP('fail-first', 600) });
    const first = run(dir);
    await eventually(
      async () => first.output(),
      (o) => /retry 1\/1 in 60s/.test(o), // the backoff is capped at 60 s
      60_000,
    );
    first.cli.kill('SIGKILL');
    await first.exit;
    const second = run(dir, '--resume');
    const runs = await eventually(
      () => lines(join(dir, 'runs.txt')),
      (r) => r.length >= 2,
      60_000,
    );
    await eventually(
      async () => second.output(),
      (o) => /root\.job.*succeeded/.test(o),
      30_000,
    );
    second.cli.kill('SIGINT');
    expect(await second.exit).toBe(130);
    expect(runs).toEqual(['0:', '1:retry']);
    expect(second.output()).toMatch(
      /root\.job.*running the call again \(retry, attempt 2 of 2\): attempt 1 failed \(exit_code, exit code 3\)/,
    );
    // Each rerun is announced once.
    expect(second.output().match(/root\.ts.*running the call again/g)).toHaveLength(1);
  });
});
