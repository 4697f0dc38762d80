/**
 * `--resume` after a failure: the user fixes the cause and resumes; the failed call runs
 * again (with the same arguments) instead of the old failure being replayed, and a call that
 * had succeeded is not run again. Real flow and daemon processes.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startLocalApp } from '../../daemon/flow/local-app.ts';
import { writeApp } from '../support/app-fixture.ts';

const files = {
  'prep.sh': '#!/usr/bin/env bash\necho prep >> "$LIGHTNING_WORK_DIR/runs.txt"\n',
  // Fails until the user "fixes" it by creating fixed.txt next to the app.
  'train.sh':
    '#!/usr/bin/env bash\necho train >> "$LIGHTNING_WORK_DIR/runs.txt"\n[ -f ../../../fixed.txt ] || { echo "no fix yet" >&2; exit 3; }\n',
  'app.ts': `
    import { Flow, LightningApp, ScriptWork } from '@api';
    class Root extends Flow {
      readonly prep = new ScriptWork(this, 'prep', { script: 'prep.sh' });
      readonly train = new ScriptWork(this, 'train', { script: 'train.sh' });
      constructor(app: LightningApp) { super(app, 'root'); }
      override run() {
        this.prep.run({});
        this.train.run({ lr: 0.1 });
        this.stopApp('trained');
      }
    }
    const app = new LightningApp({ name: 'retry-on-resume' });
    new Root(app);
    export default app;`,
};

const runs = async (dir: string, work: string) =>
  (await readFile(join(dir, `.lightning/works/${work}/runs.txt`), 'utf8')).trim().split('\n');

describe('--resume after a failed call', () => {
  it('runs the failed call again once the cause is fixed, and not the one that succeeded', async () => {
    const dir = await writeApp(files);
    const appFile = join(dir, 'app.ts');
    const first = await startLocalApp({ appFile, onDaemonOutput: () => {} });
    const end = await first.finished;
    expect(end.exitCode).toBe(1);
    expect(end.message).toContain('root.train failed');

    await writeFile(join(dir, 'fixed.txt'), 'yes\n');
    const second = await startLocalApp({ appFile, resume: true, onDaemonOutput: () => {} });
    expect(second.resumed).toBe(true);
    expect(await second.finished).toEqual({ exitCode: 0, message: 'trained' });
    expect(await runs(dir, 'root.train')).toEqual(['train', 'train']);
    expect(await runs(dir, 'root.prep')).toEqual(['prep']);
  });
});
