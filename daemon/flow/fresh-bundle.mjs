// Plain JavaScript on purpose: cli/bin.js reads it before tsx is registered (ADR 0022).
//
// `.lightning/bundle/` holds the app and the runtime bundled by esbuild, and `inputs.json`
// the sha256 of every file that went in. A bundle is fresh when every one of those files still
// has its recorded hash: then `run` reuses it for the daemons, and bin.js starts the flow from
// it too (no TypeScript compiler, no tsx loader thread).
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/** Bumped when the bundle's layout or build options change. */
export const BUNDLE_LAYOUT = 2;
export const MANIFEST = 'inputs.json';

/** The bundle of an app file: where it lives and its entry points. */
export function bundlePaths(appFile) {
  const outdir = join(dirname(appFile), '.lightning', 'bundle');
  return {
    appFile,
    outdir,
    cli: join(outdir, 'lightning-runtime', 'cli', 'main.mjs'),
    app: join(outdir, 'app.mjs'),
  };
}

/** sha256 hex of a file, or null when it cannot be read. */
export function sha256File(file) {
  try {
    return createHash('sha256').update(readFileSync(file)).digest('hex');
  } catch {
    return null;
  }
}

/** True when the bundle of `appFile` exists and every input still has its recorded hash. */
export function isFreshBundle(appFile) {
  const b = bundlePaths(appFile);
  if (!existsSync(b.cli) || !existsSync(b.app)) return false;
  let manifest;
  try {
    manifest = JSON.parse(readFileSync(join(b.outdir, MANIFEST), 'utf8'));
  } catch {
    return false;
  }
  if (manifest?.layout !== BUNDLE_LAYOUT || manifest.appFile !== appFile || !Array.isArray(manifest.inputs))
    return false;
  return manifest.inputs.every(([file, hash]) => sha256File(file) === hash);
}

/** `run` options that take a value (the next argument, unless written `--opt=value`). */
const RUN_VALUE_OPTIONS = new Set([
  '-e',
  '--env',
  '-s',
  '--set',
  '--drive',
  '--ui-port',
  '--only',
  '--works-per-process',
]);

/**
 * For `lightning-local run <app> ...` whose bundle is fresh: the bundle's paths; otherwise
 * null. A command line read wrongly only costs the fast path: the bundle of a file that is not
 * the app does not exist or does not match.
 */
export function freshRunBundle(args) {
  if (args[0] !== 'run') return null;
  for (let i = 1; i < args.length; i++) {
    const a = args[i];
    if (a === '--') return null;
    if (a.startsWith('-')) {
      if (a === '-h' || a === '--help') return null;
      if (!a.includes('=') && RUN_VALUE_OPTIONS.has(a)) i++;
      continue;
    }
    const appFile = resolve(a);
    return isFreshBundle(appFile) ? bundlePaths(appFile) : null;
  }
  return null;
}
