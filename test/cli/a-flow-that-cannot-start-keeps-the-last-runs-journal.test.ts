/**
 * The flow role checks its command line (`--set`, `--ui`) before it opens the journal: a typo
 * on a fresh start used to discard the previous run's journal and then fail, leaving nothing
 * for `--resume`. Real CLI process, real journal files.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { CLI, writeApp } from '../support/app-fixture.ts';

const run = promisify(execFile);

async function flow(dir: string, args: string[]): Promise<{ code: number; out: string }> {
  try {
    const r = await run(
      process.execPath,
      [CLI, 'flow', join(dir, 'app.ts'), '--listen', '127.0.0.1:0', ...args],
      {
        timeout: 60_000,
        env: { ...process.env, LIGHTNING_TOKEN: 'test-token' },
      },
    );
    return { code: 0, out: r.stdout + r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, out: e.stdout + e.stderr };
  }
}

describe('a flow role that cannot start', () => {
  it.each([
    ['an unknown --set key', ['--set', 'epoch=3']],
    ['a bad --ui address', ['--ui', 'nowhere']],
  ])('with %s leaves the last run’s journal as it was', async (_what, args) => {
    const dir = await writeApp({
      'app.ts': `import { Flow, LightningApp } from '@api';
        class Root extends Flow<{ epochs: number }> { override run() {} }
        const app = new LightningApp({ name: 'kept' });
        new Root(app, 'root', { state: { epochs: 1 } });
        export default app;`,
    });
    const journal = join(dir, '.lightning', 'journal');
    await mkdir(journal, { recursive: true });
    const line = `${JSON.stringify({ earlier: 'run' })}\n`;
    await writeFile(join(journal, 'journal.jsonl'), line);
    const r = await flow(dir, args);
    expect(r.code, r.out).toBe(2);
    expect(await readFile(join(journal, 'journal.jsonl'), 'utf8')).toBe(line);
  });
});
