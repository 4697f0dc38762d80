import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
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

describe('lightning-local run with a bad app file', () => {
  it('a file that does not exist', async () => {
    const r = await cli(['run', '/nonexistent/app.ts']);
    expect(r.code).toBe(2);
    expect(r.out).toMatch(/Cannot load the app[\s\S]*app\.ts: the file does not exist/);
  });

  it('a file that does not compile names the file and the syntax error', async () => {
    const dir = await writeApp({
      'app.ts': "import { LightningApp } from '@api';\nconst app = new LightningApp({ name: 'x' };\n",
    });
    const r = await cli(['run', `${dir}/app.ts`]);
    expect(r.code).toBe(2);
    expect(r.out).toMatch(/app\.ts: the app file failed to load/);
    expect(r.out).toMatch(/Expected|expected/);
  });

  it('a file that exports no app says how to export one', async () => {
    const dir = await writeApp({
      'app.ts': "import { LightningApp } from '@api';\nnew LightningApp({ name: 'x' });\n",
    });
    const r = await cli(['run', `${dir}/app.ts`]);
    expect(r.code).toBe(2);
    expect(r.out).toMatch(/exports no LightningApp[\s\S]*export default app/);
  });

  it('an app without a root flow, and an invalid app name', async () => {
    const noRoot = await writeApp({
      'app.ts': "import { LightningApp } from '@api';\nexport default new LightningApp({ name: 'x' });\n",
    });
    const r1 = await cli(['run', `${noRoot}/app.ts`]);
    expect(r1.code).toBe(2);
    expect(r1.out).toMatch(/exactly one root Flow, found 0/);
    const badName = await writeApp({
      'app.ts':
        "import { LightningApp } from '@api';\nexport default new LightningApp({ name: 'Bad_Name' });\n",
    });
    const r2 = await cli(['run', `${badName}/app.ts`]);
    expect(r2.code).toBe(2);
    expect(r2.out).toMatch(/app name "Bad_Name" is invalid[\s\S]*lowercase/);
  });

  it('an unknown --set key and a malformed --env are refused before anything starts', async () => {
    const dir = await writeApp({
      'app.ts': `import { Flow, LightningApp } from '@api';
        class Root extends Flow<{ epochs: number }> { override run() {} }
        const app = new LightningApp({ name: 'x' });
        new Root(app, 'root', { state: { epochs: 1 } });
        export default app;`,
    });
    const r1 = await cli(['run', `${dir}/app.ts`, '--set', 'epoch=3']);
    expect(r1.code).toBe(2);
    expect(r1.out).toMatch(/no key "epoch"[\s\S]*epochs/);
    const r2 = await cli(['run', `${dir}/app.ts`, '--env', '1BAD']);
    expect(r2.code).toBe(2);
    expect(r2.out).toMatch(/--env: "1BAD" is not KEY=VALUE/);
  });
});
