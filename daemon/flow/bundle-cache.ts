/**
 * The local daemons' bundle (`.lightning/bundle/`), rebuilt only when a source that went into it
 * changed (ADR 0022). After a build, `inputs.json` records the sha256 of every input file
 * esbuild read (the app, its imports, the runtime, its dependencies); the next run hashes those
 * files again and reuses the bundle when all match. Any edit that can change the output changes
 * one of them: an import added to the app changes the importing file.
 */
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BUNDLE_LAYOUT, isFreshBundle, MANIFEST, sha256File } from './fresh-bundle.mjs';

/**
 * Reuses the bundle of `appFile` if it is fresh, otherwise empties `outdir` and calls `build`
 * (which returns the files it read) and records their hashes. Returns whether it was reused.
 * `outdir` must be the app's bundle directory (fresh-bundle.mjs bundlePaths).
 */
export async function cachedBundle(
  appFile: string,
  outdir: string,
  build: () => Promise<readonly string[]>,
): Promise<boolean> {
  if (isFreshBundle(appFile)) return true;
  await rm(outdir, { recursive: true, force: true });
  const files = [...new Set(await build())].sort();
  const hashes = files.map((f) => sha256File(f));
  // An input that cannot be read back cannot be checked later: no manifest, rebuild next time.
  if (hashes.some((h) => h === null)) return false;
  const manifest = { layout: BUNDLE_LAYOUT, appFile, inputs: files.map((f, i) => [f, hashes[i]!]) };
  // Written last: a build that died half-way leaves no manifest, so the next run rebuilds.
  await writeFile(join(outdir, MANIFEST), `${JSON.stringify(manifest)}\n`);
  return false;
}
