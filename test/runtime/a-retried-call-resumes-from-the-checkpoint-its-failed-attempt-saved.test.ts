/**
 * WorkProps.checkpoint outside the cloud: an attempt that fails after writing its checkpoint
 * has it saved to the Drive, and the retry of the same call gets it back in place
 * (`$LIGHTNING_RESUME_FROM`), so it continues instead of starting over; once the call
 * succeeded the checkpoint is gone from the Drive. A new call (other arguments) does not see
 * an earlier call's checkpoint. Real flow and daemon processes, the local Drive.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startLocalApp } from '../../daemon/flow/local-app.ts';
import { writeApp } from '../support/app-fixture.ts';

const files = {
  // Counts to $1, one step per line of progress.txt; crashes once at step 3 (first attempt),
  // after writing its checkpoint; with LIGHTNING_RESUME_FROM it starts where that says.
  'count.sh': `#!/usr/bin/env bash
set -eu
target="$1"
step=0
if [ -n "\${LIGHTNING_RESUME_FROM:-}" ]; then step="$(cat "$LIGHTNING_RESUME_FROM")"; echo "resumed at $step"; fi
while [ "$step" -lt "$target" ]; do
  step=$((step + 1))
  echo "$step" >> "$LIGHTNING_WORK_DIR/progress.txt"
  mkdir -p ckpt && echo "$step" > ckpt/step
  if [ "$step" -eq 3 ] && [ ! -f "$LIGHTNING_WORK_DIR/crashed-$target" ]; then
    touch "$LIGHTNING_WORK_DIR/crashed-$target"; echo "crash at 3" >&2; exit 9
  fi
done
echo "done at $step"
`,
  'app.ts': `
    import { Flow, LightningApp, ScriptWork } from '@api';
    class Root extends Flow<{ phase: number }> {
      readonly count = new ScriptWork<object, { to: number }>(this, 'count', {
        script: 'count.sh',
        args: (a) => [String(a.to)],
        checkpoint: 'ckpt/step',
        maxRetries: 1,
        retryBackoffSeconds: 0,
      });
      constructor(app: LightningApp) { super(app, 'root', { state: { phase: 0 } }); }
      override run() {
        this.count.run({ to: this.state.phase === 0 ? 5 : 4 });
        if (!this.count.hasSucceeded) return;
        if (this.state.phase === 0) { this.state.phase = 1; return; }
        this.stopApp('counted');
      }
    }
    const app = new LightningApp({ name: 'checkpointed' });
    new Root(app);
    export default app;`,
};

describe('a work with a checkpoint', () => {
  it('retries a failed call from the checkpoint its failed attempt saved, and drops it on success', async () => {
    const dir = await writeApp(files);
    const app = await startLocalApp({ appFile: join(dir, 'app.ts'), onDaemonOutput: () => {} });
    expect(await app.finished).toEqual({ exitCode: 0, message: 'counted' });
    const progress = (await readFile(join(dir, '.lightning/works/root.count/progress.txt'), 'utf8'))
      .trim()
      .split('\n');
    // Call 1 (to 5): 1 2 3, crash, the retry goes on at 4 5. Call 2 (to 4): its own checkpoint
    // only (none), so it starts at 1: 1 2 3, crash, retry 4.
    expect(progress).toEqual(['1', '2', '3', '4', '5', '1', '2', '3', '4']);
    const drive = join(dir, '.lightning/drive/default/works/root.count/checkpoints');
    const left = existsSync(drive) ? await readdir(drive, { recursive: true }) : [];
    expect(left.filter((f) => String(f).endsWith('step'))).toEqual([]);
  });
});
