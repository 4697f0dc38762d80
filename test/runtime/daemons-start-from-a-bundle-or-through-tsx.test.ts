import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { processesWith, startApp } from '../support/app-fixture.ts';

const files = {
  'hi.py': 'from lightning_state import report\nreport(greeting="hi")\n',
  'app.ts': `
    import { Flow, LightningApp, ScriptWork } from '@api';
    class Root extends Flow {
      readonly w = new ScriptWork(this, 'w', { script: 'hi.py', state: {} });
      constructor(app: LightningApp) { super(app, 'root'); }
      override run() { this.w.run({}); this.stopApp('said ' + (this.w.state as { greeting?: string }).greeting); }
    }
    const app = new LightningApp({ name: 'bundled' });
    new Root(app);
    export default app;`,
};

describe('how daemons start', () => {
  it('by default from the app+runtime bundle in .lightning/bundle (as on a VM)', async () => {
    const running = await startApp({
      ...files,
      'app.ts': files['app.ts']
        .replace("script: 'hi.py'", "script: 'hi.py', parallel: true")
        .replace("this.stopApp('said '", "if (this.w.hasSucceeded) this.stopApp('said '"),
    });
    // While it runs, every daemon is a node process on the bundled CLI.
    const daemons = await processesWith(
      join(running.dir, '.lightning/bundle/lightning-runtime/cli/main.mjs'),
    );
    expect(daemons.length).toBe(1);
    expect(await readFile(join(running.dir, '.lightning/bundle/app.mjs'), 'utf8')).toContain(
      'name: "bundled"',
    );
    expect((await running.local.finished).message).toBe('said hi');
  });

  it('through tsx when bundling is turned off, with the same result', async () => {
    const running = await startApp(files, { bundle: false });
    expect((await running.local.finished).message).toBe('said hi');
  });
});

describe('an app that finds files beside itself', () => {
  it('sees import.meta.url of app.ts in a bundled daemon, not the bundle directory', async () => {
    const running = await startApp({
      'config.json': '{ "greeting": "hello from beside app.ts" }\n',
      'app.ts': `
        import { readFileSync } from 'node:fs';
        import { Flow, LightningApp, Work } from '@api';
        import type { Construct } from 'constructs';
        const CONFIG = new URL('config.json', import.meta.url);
        class Reader extends Work<{ greeting: string }> {
          constructor(scope: Construct, id: string) { super(scope, id, { state: { greeting: '' } }); }
          override async execute() { this.state.greeting = JSON.parse(readFileSync(CONFIG, 'utf8')).greeting; }
        }
        class Root extends Flow {
          readonly r = new Reader(this, 'r');
          constructor(app: LightningApp) { super(app, 'root'); }
          override run() { this.r.run({}); this.stopApp(this.r.state.greeting); }
        }
        const app = new LightningApp({ name: 'beside' });
        new Root(app);
        export default app;`,
    });
    expect((await running.local.finished).message).toBe('hello from beside app.ts');
  });
});
