/**
 * ADR 0022: `run` reuses `.lightning/bundle/` while every file esbuild read for it is unchanged
 * (by content hash) and rebuilds it as soon as one changes, including a file the app imports.
 */
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bundleAppAndRuntime } from '../../constructs/bundle/app-bundler.ts';
import { cachedBundle } from '../../daemon/flow/bundle-cache.ts';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('the local daemon bundle', () => {
  it('is reused while its sources are unchanged and rebuilt when one changes', {
    timeout: 120_000,
  }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lightning-bundle-cache-'));
    dirs.push(dir);
    await writeFile(join(dir, 'package.json'), '{ "type": "module" }\n');
    await writeFile(join(dir, 'greeting.ts'), "export const GREETING = 'first';\n");
    await writeFile(
      join(dir, 'app.ts'),
      "import { GREETING } from './greeting.ts';\nexport default { greeting: GREETING };\n",
    );
    const appFile = join(dir, 'app.ts');
    const outdir = join(dir, '.lightning', 'bundle');
    const app = join(outdir, 'app.mjs');
    let builds = 0;
    const once = () =>
      cachedBundle(appFile, outdir, () => {
        builds++;
        return bundleAppAndRuntime(appFile, outdir, undefined, { inPlace: true });
      });

    expect(await once()).toBe(false);
    expect(await readFile(app, 'utf8')).toContain('first');
    const builtAt = (await stat(app)).mtimeMs;

    expect(await once()).toBe(true);
    expect(builds).toBe(1);
    expect((await stat(app)).mtimeMs).toBe(builtAt);

    // A file the app imports changes: rebuilt, with the new content.
    await writeFile(join(dir, 'greeting.ts'), "export const GREETING = 'second';\n");
    expect(await once()).toBe(false);
    expect(builds).toBe(2);
    expect(await readFile(app, 'utf8')).toContain('second');

    // An output is missing: rebuilt.
    await rm(app);
    expect(await once()).toBe(false);
    expect(builds).toBe(3);
    expect(await once()).toBe(true);
  });
});
