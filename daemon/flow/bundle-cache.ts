/**
 * The local daemons' bundle (`.lightning/bundle/`), rebuilt only when a source that went into it
 * changed (ADR 0022). After a build, `inputs.json` records the sha256 of every input file
 * esbuild read (the app, its imports, the runtime, its dependencies); the next run hashes those
 * files again and reuses the bundle when all match. Any edit that can change the output changes
 * one of them: an import added to the app changes the importing file.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const MANIFEST = 'inputs.json';
/** Bumped when the bundle's layout or build options change. */
const LAYOUT = 1;

interface Manifest {
  readonly layout: number;
  readonly appFile: string;
  /** [absolute path, sha256 hex] of every input. */
  readonly inputs: readonly (readonly [string, string])[];
}

async function sha256(file: string): Promise<string | null> {
  try {
    return createHash('sha256')
      .update(await readFile(file))
      .digest('hex');
  } catch {
    return null; // gone: the bundle is stale
  }
}

/** True when `outdir` holds a bundle of `appFile` built from files that are unchanged since. */
async function isFresh(appFile: string, outdir: string, outputs: readonly string[]): Promise<boolean> {
  if (!outputs.every((f) => existsSync(f))) return false;
  let manifest: Manifest;
  try {
    manifest = JSON.parse(await readFile(join(outdir, MANIFEST), 'utf8')) as Manifest;
  } catch {
    return false;
  }
  if (manifest.layout !== LAYOUT || manifest.appFile !== appFile || !Array.isArray(manifest.inputs))
    return false;
  const hashes = await Promise.all(manifest.inputs.map(([file]) => sha256(file)));
  return manifest.inputs.every(([, hash], i) => hashes[i] === hash);
}

/**
 * Reuses the bundle in `outdir` if it is fresh, otherwise empties `outdir` and calls `build`
 * (which returns the input files it read) and records their hashes. `outputs`: files a usable
 * bundle has. Returns whether it was reused.
 */
export async function cachedBundle(
  appFile: string,
  outdir: string,
  outputs: readonly string[],
  build: () => Promise<readonly string[]>,
): Promise<boolean> {
  if (await isFresh(appFile, outdir, outputs)) return true;
  await rm(outdir, { recursive: true, force: true });
  const files = [...new Set(await build())].sort();
  const hashes = await Promise.all(files.map((f) => sha256(f)));
  // An input that cannot be read back cannot be checked later: no manifest, rebuild next time.
  if (hashes.some((h) => h === null)) return false;
  const manifest: Manifest = { layout: LAYOUT, appFile, inputs: files.map((f, i) => [f, hashes[i]!]) };
  // Written last: a build that died half-way leaves no manifest, so the next run rebuilds.
  await writeFile(join(outdir, MANIFEST), `${JSON.stringify(manifest)}\n`);
  return false;
}
