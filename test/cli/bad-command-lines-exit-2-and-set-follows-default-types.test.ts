/**
 * Every bad-input case `lightning-local run --help` promises exit code 2 for: unknown
 * options and commands, a missing app argument, `--set` values of the wrong type, an
 * `--only` that names no work. Help and version still exit 0.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { CLI, writeApp } from '../support/app-fixture.ts';

const run = promisify(execFile);

async function cli(args: string[]): Promise<{ code: number; out: string }> {
  try {
    const r = await run(process.execPath, [CLI, ...args], { timeout: 60_000 });
    return { code: 0, out: r.stdout + r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, out: e.stdout + e.stderr };
  }
}

let app: string;
beforeAll(async () => {
  const dir = await writeApp({
    'app.ts': `import { Flow, LightningApp, ScriptWork } from '@api';
      interface S { epochs: number; fast: boolean; tag: string; opt: { lr: number }; extra: string | null }
      class Root extends Flow<S> {
        readonly train = new ScriptWork(this, 'train', { command: ['true'] });
        override run() {
          const s = this.state;
          this.stopApp(\`epochs=\${s.epochs} fast=\${s.fast} tag=\${JSON.stringify(s.tag)} lr=\${s.opt.lr} extra=\${JSON.stringify(s.extra)}\`);
        }
      }
      const app = new LightningApp({ name: 'x' });
      new Root(app, 'root', { state: { epochs: 1, fast: false, tag: 'a', opt: { lr: 0.1 }, extra: null } });
      export default app;`,
  });
  app = join(dir, 'app.ts');
});

describe('bad command lines exit 2', () => {
  it('an unknown option, a missing app argument and an unknown command', async () => {
    const unknown = await cli(['run', app, '--epochs', '3']);
    expect(unknown.code).toBe(2);
    expect(unknown.out).toMatch(/unknown option '--epochs'/);
    const missing = await cli(['run']);
    expect(missing.code).toBe(2);
    expect(missing.out).toMatch(/missing required argument 'app'/);
    const command = await cli(['rn', app]);
    expect(command.code).toBe(2);
    expect(command.out).toMatch(/unknown command 'rn'/);
  });

  it('help and version exit 0', async () => {
    expect((await cli(['run', '--help'])).code).toBe(0);
    expect((await cli(['--version'])).code).toBe(0);
  });

  it('--set values must have the type of the default, and every problem is listed', async () => {
    const r = await cli([
      'run',
      app,
      '--no-ui',
      '--set',
      'epochs=three',
      '--set',
      'fast=yes',
      '--set',
      'opt.lr=big',
    ]);
    expect(r.code).toBe(2);
    expect(r.out).toMatch(/3 problems/);
    expect(r.out).toMatch(/"epochs" is a number \(default 1\), "three" is not/);
    expect(r.out).toMatch(/"fast" is a boolean \(default false\), "yes" is not[\s\S]*true or false/);
    expect(r.out).toMatch(/"opt\.lr" is a number \(default 0\.1\)/);
  });

  it('--set values of the right type are used; a string default keeps text as text', async () => {
    const r = await cli([
      'run',
      app,
      '--no-ui',
      '--set',
      'epochs=3',
      '--set',
      'fast=true',
      '--set',
      'tag=12',
      '--set',
      'opt.lr=0.5',
      '--set',
      'extra=anything',
    ]);
    expect(r.out).toMatch(/epochs=3 fast=true tag="12" lr=0.5 extra="anything"/);
    expect(r.code).toBe(0);
  });

  it('--only must name a work or a flow of the app', async () => {
    const r = await cli(['run', app, '--no-ui', '--only', 'root.tran']);
    expect(r.code).toBe(2);
    expect(r.out).toMatch(/--only: "root\.tran" names no work or flow[\s\S]*root\.train/);
  });
});
