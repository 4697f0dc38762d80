import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startLocalApp } from '../../daemon/flow/local-app.ts';
import { writeApp } from '../support/app-fixture.ts';

const files = {
  'count.sh': '#!/usr/bin/env bash\necho run >> "$LIGHTNING_WORK_DIR/runs.txt"\n',
  'app.ts': `
    import { Flow, LightningApp, ScriptWork } from '@api';
    class Root extends Flow<{ generation: number }> {
      readonly w = new ScriptWork(this, 'w', { script: 'count.sh', state: { note: '' } });
      constructor(app: LightningApp) { super(app, 'root', { state: { generation: 0 } }); }
      override run() {
        this.w.run({ epochs: 3 });            // blocking: the rest waits for success
        if (this.state.generation === 0) {
          this.state.generation = 1;
          this.w.state.note = 'set by the first run';
          return this.stopApp('first run done');
        }
        this.stopApp('resumed at generation ' + this.state.generation + ', note: ' + this.w.state.note);
      }
    }
    const app = new LightningApp({ name: 'resume' });
    new Root(app);
    export default app;`,
};

describe('--resume', () => {
  it('restores flow state, work state and statuses, so a call that succeeded is not run again', async () => {
    const dir = await writeApp(files);
    const appFile = join(dir, 'app.ts');
    const first = await startLocalApp({ appFile, onDaemonOutput: () => {} });
    expect(await first.finished).toEqual({ exitCode: 0, message: 'first run done' });

    const second = await startLocalApp({ appFile, resume: true, onDaemonOutput: () => {} });
    expect(second.resumed).toBe(true);
    expect(await second.finished).toEqual({
      exitCode: 0,
      message: 'resumed at generation 1, note: set by the first run',
    });
    const runs = (await readFile(join(dir, '.lightning/works/root.w/runs.txt'), 'utf8')).trim().split('\n');
    expect(runs).toEqual(['run']); // the succeeded call was not repeated

    // Without --resume the app starts over.
    const fresh = await startLocalApp({ appFile, onDaemonOutput: () => {} });
    expect((await fresh.finished).message).toBe('first run done');
    expect(
      (await readFile(join(dir, '.lightning/works/root.w/runs.txt'), 'utf8')).trim().split('\n'),
    ).toHaveLength(2);
  });
});
