/**
 * `outputs` and `inputs` are Work props, not only ScriptWork's: a TypeScript work that writes
 * a file under its directory declares it as an output, the daemon uploads it after the call
 * succeeded, and another work (here a ScriptWork) gets it placed as an input. Before, a
 * TypeScript work had no way to declare files, so nothing was uploaded and the next work's
 * input fetch failed.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startApp } from '../support/app-fixture.ts';

describe('a TypeScript work', () => {
  it('hands a declared output to a ScriptWork through the Drive, and reads a declared input', async () => {
    const running = await startApp({
      'check.sh': '#!/usr/bin/env bash\nset -e\ngrep -q "weights from ts" model.txt\necho ok > seen.txt\n',
      'app.ts': `
        import { writeFile, readFile } from 'node:fs/promises';
        import { join } from 'node:path';
        import { Flow, LightningApp, ScriptWork, Work, type WorkContext } from '@api';
        class Train extends Work {
          override async execute(_args: object, ctx: WorkContext) {
            await writeFile(join(ctx.workDir, 'model.txt'), 'weights from ts\\n');
          }
        }
        class Report extends Work<{ seen: string }> {
          override async execute(_args: object, ctx: WorkContext) {
            this.state.seen = (await readFile(join(ctx.workDir, 'seen.txt'), 'utf8')).trim();
          }
        }
        class Root extends Flow {
          readonly train = new Train(this, 'train', { outputs: ['model.txt'] });
          readonly check = new ScriptWork(this, 'check', {
            script: 'check.sh',
            inputs: { 'model.txt': this.train.output('model.txt') },
            outputs: ['seen.txt'],
          });
          readonly report = new Report(this, 'report', {
            state: { seen: '' },
            inputs: { 'seen.txt': this.check.output('seen.txt') },
          });
          constructor(app: LightningApp) { super(app, 'root'); }
          override run() {
            this.train.run({});
            this.check.run({});
            this.report.run({});
            this.stopApp(\`seen \${this.report.state.seen}\`);
          }
        }
        const app = new LightningApp({ name: 'tsoutputs' });
        new Root(app);
        export default app;`,
    });
    expect((await running.local.finished).message).toBe('seen ok');
    const object = join(running.dir, '.lightning', 'drive', 'default', 'works', 'root.train', 'model.txt');
    expect(await readFile(object, 'utf8')).toBe('weights from ts\n');
  });

  it('refuses an output that is not a path inside its directory, naming the fix', async () => {
    const running = startApp({
      'app.ts': `
        import { Flow, LightningApp, Work } from '@api';
        class T extends Work { override async execute() {} }
        class Root extends Flow {
          readonly t = new T(this, 't', { outputs: ['../escape.txt'] });
          constructor(app: LightningApp) { super(app, 'root'); }
          override run() { this.t.run({}); }
        }
        const app = new LightningApp({ name: 'tsbadout' });
        new Root(app);
        export default app;`,
    });
    await expect(running).rejects.toThrow(
      /output "\.\.\/escape\.txt" is not a valid Drive key[\s\S]*relative path inside the work directory/,
    );
  });
});
