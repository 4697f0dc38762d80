/**
 * ADR 0022: `lightning-local run` reuses `.lightning/bundle/` while no source of it changed, and
 * then also starts the flow from it (no tsx); an edit to any file the app imports makes the
 * next run rebuild it and run the new code. LIGHTNING_NO_BUNDLED_FLOW=1 keeps the flow on tsx.
 */
import { execFile } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, writeApp } from '../support/app-fixture.ts';

const exec = promisify(execFile);
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const APP = `
  import { Flow, LightningApp, ScriptWork, Work } from '@api';
  import { GREETING } from './greeting.ts';
  class Says extends Work<{ said: string }> {
    override async execute() { this.state.said = GREETING; }
  }
  class Root extends Flow {
    readonly says = new Says(this, 'says', { state: { said: '' } });
    readonly script = new ScriptWork(this, 'script', { script: 'hi.py' });
    override run() {
      this.says.run({});
      this.script.run({});
      if (this.says.hasSucceeded && this.script.hasSucceeded) this.stopApp('said ' + this.says.state.said);
    }
  }
  const app = new LightningApp({ name: 'fresh' });
  new Root(app, 'root');
  export default app;`;

async function run(dir: string, env: Record<string, string> = {}): Promise<string> {
  const { stdout } = await exec(process.execPath, [CLI, 'run', 'app.ts', '--no-ui'], {
    cwd: dir,
    env: { ...process.env, ...env },
    timeout: 90_000,
  });
  return stdout;
}

describe('run and the daemon bundle', () => {
  it('starts from a fresh bundle, rebuilds a stale one, and always runs the current code', {
    timeout: 300_000,
  }, async () => {
    const dir = await writeApp({
      'app.ts': APP,
      'greeting.ts': "export const GREETING = 'first';\n",
      'hi.py': 'print("hi", flush=True)\n',
    });
    dirs.push(dir);

    const first = await run(dir);
    expect(first).toContain('.lightning/bundle rebuilt');
    expect(first).toContain('said first');

    const second = await run(dir);
    expect(second).toContain('.lightning/bundle reused (no source changed); the flow runs from it too');
    expect(second).toContain('said first');

    // An imported file changes: the next run must not start from the stale bundle.
    await writeFile(join(dir, 'greeting.ts'), "export const GREETING = 'second';\n");
    const third = await run(dir);
    expect(third).toContain('.lightning/bundle rebuilt');
    expect(third).not.toContain('the flow runs from it');
    expect(third).toContain('said second');

    const onTsx = await run(dir, { LIGHTNING_NO_BUNDLED_FLOW: '1' });
    expect(onTsx).toContain('.lightning/bundle reused (no source changed)\n');
    expect(onTsx).toContain('said second');
  });
});
