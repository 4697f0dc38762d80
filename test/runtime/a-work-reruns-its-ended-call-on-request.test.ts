/**
 * EventLoop.rerun (the UI's Restart): a work's ended call runs again with the same arguments,
 * through the lifecycle's `rerun` transition. The script really runs twice, observers get
 * onCall with the arguments (cause `flow`, then `rerun`), and a flow that waits for the work
 * (not parallel) waits for the new run like any pending call. Refused, changing nothing: an
 * unknown work, a work never called, a call still running.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DaemonError, GrpcCode } from '../../constructs/errors.ts';
import type { CallStart } from '../../daemon/flow/event-loop.ts';
import { type RunningApp, startApp } from '../support/app-fixture.ts';

let running: RunningApp | undefined;
afterEach(async () => {
  await running?.local.stop(0, 'test over');
  running = undefined;
});

const rejection = async (p: Promise<unknown>): Promise<DaemonError> => {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DaemonError);
  return err as DaemonError;
};

describe('re-running a work call', () => {
  it('runs the ended call again with its arguments; the waiting flow waits for it', {
    timeout: 120_000,
  }, async () => {
    running = await startApp({
      // Appends a line per run, so the test counts real runs; `hold` keeps it running.
      'count.sh': `#!/usr/bin/env bash
here="$(dirname "$0")"
echo "run $*" >> "$here/runs.txt"
while [ -e "$here/hold" ]; do sleep 0.05; done
`,
      'app.ts': `
        import { Flow, LightningApp, ScriptWork } from '@api';
        class Root extends Flow<{ after: number }> {
          readonly w = new ScriptWork(this, 'w', { script: 'count.sh', args: (a: { lr: number }) => [String(a.lr)] });
          readonly never = new ScriptWork(this, 'never', { script: 'count.sh', parallel: true });
          constructor(app: LightningApp) { super(app, 'root', { state: { after: 0 } }); }
          override run() {
            this.w.run({ lr: 0.5 });
            // Only reached once w succeeded (w is blocking): counts the passes after it.
            const ended = this.w.status.endedAt ?? 0;
            if (this.state.after !== ended) this.state.after = ended;
          }
        }
        const app = new LightningApp({ name: 'rerun' });
        new Root(app);
        export default app;`,
    });
    const { local, until, dir } = running;
    const calls: [string, CallStart][] = [];
    local.loop.addObserver({ onCall: (w, c) => calls.push([w, c]) });
    const status = () => local.loop.statusOf('root.w')!;
    const flowSawEnd = () => (local.loop.snapshot().root!.vars as { after: number }).after;
    await until(() => status().phase === 'succeeded' && flowSawEnd() > 0, 30_000, 'the first run');
    const first = { hash: status().callHash, endedAt: status().endedAt! };
    expect(flowSawEnd()).toBe(first.endedAt);

    // Refusals first: nothing changes.
    expect((await rejection(local.loop.rerun('root.nope'))).grpcCode).toBe(GrpcCode.NOT_FOUND);
    const never = await rejection(local.loop.rerun('root.never'));
    expect(never.grpcCode).toBe(GrpcCode.FAILED_PRECONDITION);
    expect(never.message).toMatch(/root\.never has not been called yet.*root\.never\.run\(…\)/);

    // The re-run: same call, a second real run; the flow waits for it, then goes on.
    await writeFile(join(dir, 'hold'), '');
    await local.loop.rerun('root.w');
    await until(() => status().phase === 'running', 30_000, 'the re-run to start');
    expect(status().callHash).toBe(first.hash);
    expect(flowSawEnd()).toBe(first.endedAt); // run() stops at w.run() while the call is pending again
    const busy = await rejection(local.loop.rerun('root.w'));
    expect(busy.grpcCode).toBe(GrpcCode.FAILED_PRECONDITION);
    expect(busy.message).toMatch(/root\.w's call is running: only a call that ended .*Stop it first/);
    await rm(join(dir, 'hold'));
    await until(
      () => status().phase === 'succeeded' && flowSawEnd() > first.endedAt,
      30_000,
      'the re-run to end',
    );

    expect((await readFile(join(dir, 'runs.txt'), 'utf8')).trim().split('\n')).toEqual([
      'run 0.5',
      'run 0.5',
    ]);
    // The first call's onCall may come before this test's observer was added; the re-run's
    // is the last one, with the same call and arguments.
    const ofW = calls.filter(([w]) => w === 'root.w').map(([, c]) => c);
    expect(ofW.at(-1)).toEqual({ callHash: first.hash, args: { lr: 0.5 }, cause: 'rerun' });
    expect(ofW.slice(0, -1).every((c) => c.cause === 'flow' && c.callHash === first.hash)).toBe(true);
  });
});
