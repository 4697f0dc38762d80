/**
 * Every error the CLI prints for bad input (app files, props, options, environment, Drive
 * locations) says what is wrong, carries a typed code (`code: VALIDATION`, `DRIVE_NOT_FOUND`,
 * ...) and a `fix:` line, exits 2, and shows no stack trace.
 */
import { execFile } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { CLI, writeApp } from '../support/app-fixture.ts';

const run = promisify(execFile);

async function cli(args: string[], cwd: string, env: Record<string, string> = {}) {
  try {
    const r = await run(process.execPath, [CLI, ...args], {
      cwd,
      timeout: 60_000,
      env: { ...process.env, LIGHTNING_TOKEN: '', ...env },
    });
    return { code: 0, out: r.stdout + r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, out: e.stdout + e.stderr };
  }
}

/** An app whose root flow has `body` in its class and `state` as its initial state. */
const appWith = (body: string, extraImports = '') => `
  import { Flow, LightningApp, ScriptWork${extraImports} } from '@api';
  class Root extends Flow<{ epochs: number }> {
    ${body}
    override run() {}
  }
  const app = new LightningApp({ name: 'bad' });
  new Root(app, 'root', { state: { epochs: 1 } });
  export default app;`;

let dir: string;
let empty: string;
beforeAll(async () => {
  dir = await writeApp({
    'app.ts': appWith(''),
    'syntax.ts': "import { LightningApp } from '@api';\nconst app = new LightningApp({ name: 'x' };\n",
    'no-export.ts': "import { LightningApp } from '@api';\nnew LightningApp({ name: 'x' });\n",
    'bad-name.ts':
      "import { LightningApp } from '@api';\nexport default new LightningApp({ name: 'Bad_Name' });\n",
    'bad-props.ts': appWith("readonly w = new ScriptWork(this, 'w', { command: ['true'], maxRetries: -1 });"),
    'bad-gpu.ts': appWith(
      "readonly w = new ScriptWork(this, 'w', { command: ['true'], compute: new CloudCompute({ gpuType: 'nvidia-h9000' as never }) });",
      ', CloudCompute',
    ),
    'state-in-constructor.ts': appWith(
      "readonly w = new ScriptWork(this, 'w', { command: ['true'] });\n    readonly peek = this.w.state;",
    ),
  });
  empty = await mkdtemp(join(tmpdir(), 'no-drive-'));
});

describe('errors the CLI prints for bad input', () => {
  it.each([
    ['an app file that does not exist', ['run', 'nope.ts'], 'VALIDATION'],
    ['a directory for the app file', ['run', '.'], 'VALIDATION'],
    ['an app file with a syntax error', ['run', 'syntax.ts'], 'VALIDATION'],
    ['an app file that exports no app', ['run', 'no-export.ts'], 'VALIDATION'],
    ['an invalid app name', ['run', 'bad-name.ts'], 'VALIDATION'],
    ['an invalid work prop', ['run', 'bad-props.ts'], 'VALIDATION'],
    ['an unknown GPU type', ['cost', 'bad-gpu.ts'], 'VALIDATION'],
    ['state read in a constructor', ['run', 'state-in-constructor.ts'], 'NOT_RUNNING'],
    ['an unknown --set key', ['run', 'app.ts', '--set', 'epoch=3'], 'VALIDATION'],
    ['a --set value of the wrong type', ['run', 'app.ts', '--set', 'epochs=many'], 'VALIDATION'],
    ['a malformed --env', ['run', 'app.ts', '--env', '1BAD'], 'VALIDATION'],
    ['a bad --ui-port', ['run', 'app.ts', '--ui-port', 'x'], 'VALIDATION'],
    [
      'a daemon without its token',
      ['daemon', 'app.ts', '--work', 'root.w', '--flow', '127.0.0.1:1'],
      'VALIDATION',
    ],
    ['a flow with a bad --ui', ['flow', 'app.ts', '--ui', 'nowhere'], 'VALIDATION', { LIGHTNING_TOKEN: 't' }],
    [
      'a daemon with a bad --advertise-host',
      ['daemon', 'app.ts', '--work', 'root.w', '--flow', '127.0.0.1:1', '--advertise-host', 'not a host!'],
      'VALIDATION',
      { LIGHTNING_TOKEN: 't' },
    ],
    ['a Drive URL of an unknown scheme', ['drive', '--drive', 'ftp://x', 'ls'], 'DRIVE_INVALID_KEY'],
    ['two local paths to drive cp', ['drive', 'cp', 'a.txt', 'b.txt'], 'DRIVE_INVALID_KEY'],
  ] as const)('%s', async (_what, args, code, env?: Record<string, string>) => {
    const r = await cli([...args], dir, env);
    expect(r.code, r.out).toBe(2);
    expect(r.out).toContain(`code: ${code}`);
    expect(r.out).toMatch(/fix: \S/);
    expect(r.out).not.toMatch(/^\s+at .*:\d+:\d+\)?$/m);
  });

  it('no local Drive where drive ls runs', async () => {
    const r = await cli(['drive', 'ls'], empty);
    expect(r.code, r.out).toBe(2);
    expect(r.out).toContain('code: DRIVE_NOT_FOUND');
    expect(r.out).toMatch(/fix: run this in the app's directory/);
  });
});
