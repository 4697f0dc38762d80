/**
 * Mistakes a user makes in their own project the first time, each answered with what is
 * wrong, why, and the fix (instead of a stack trace from a library underneath).
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { CLI, writeApp } from '../support/app-fixture.ts';

const run = promisify(execFile);

async function cli(args: string[], cwd?: string): Promise<{ code: number; out: string }> {
  try {
    const r = await run(process.execPath, [CLI, ...args], { timeout: 60_000, ...(cwd ? { cwd } : {}) });
    return { code: 0, out: r.stdout + r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, out: e.stdout + e.stderr };
  }
}

const APP = `import { Flow, LightningApp } from '@api';
class Root extends Flow { override run() { this.stopApp('ok'); } }
const app = new LightningApp({ name: 'x' });
new Root(app, 'root');
export default app;
`;

describe('first mistakes in your own project', () => {
  it('a flow or work created without an id names the class and shows the call to write', async () => {
    const dir = await writeApp({
      'app.ts': `import { Flow, LightningApp, ScriptWork } from '@api';
        class Root extends Flow {
          // No id for the work either: reported once the flow has one.
          override run() {}
        }
        const app = new LightningApp({ name: 'x' });
        new (Root as any)(app);
        export default app;`,
    });
    const r = await cli(['run', join(dir, 'app.ts')]);
    expect(r.code).toBe(2);
    expect(r.out).not.toMatch(/Only root constructs may have an empty ID/);
    expect(r.out).toMatch(/Root \(a Flow\) was created without an id/);
    expect(r.out).toMatch(/new Root\(app, 'root'\)/);

    const work = await writeApp({
      'app.ts': `import { Flow, LightningApp, ScriptWork } from '@api';
        class Root extends Flow {
          readonly train = new (ScriptWork as any)(this, undefined, { script: 'train.py' });
          override run() {}
        }
        const app = new LightningApp({ name: 'x' });
        new Root(app, 'root');
        export default app;`,
    });
    const w = await cli(['run', join(work, 'app.ts')]);
    expect(w.code).toBe(2);
    expect(w.out).toMatch(/ScriptWork \(a Work\) in root was created without an id/);
  });

  it('an app in a CommonJS package is refused up front with the one-line fix', async () => {
    const dir = await writeApp({ 'app.ts': APP });
    await writeFile(join(dir, 'package.json'), '{ "name": "mine", "private": true }\n');
    const r = await cli(['run', 'app.ts'], dir);
    expect(r.code).toBe(2);
    expect(r.out).toMatch(/package\.json has no "type": "module"/);
    expect(r.out).toMatch(/npm pkg set type=module/);
    expect(r.out).not.toMatch(/require\(\) ES Module|ERR_REQUIRE/);
  });

  it('the same app as app.mts runs in a CommonJS package', async () => {
    const dir = await writeApp({ 'app.mts': APP });
    await writeFile(join(dir, 'package.json'), '{ "name": "mine", "private": true }\n');
    const r = await cli(['run', 'app.mts', '--no-ui'], dir);
    expect(r.out).toMatch(/app ended after .* \(exit 0\): ok/);
    expect(r.code).toBe(0);
  });
});
