/**
 * The app bundle uploaded to the Drive bucket and run on every VM: the app file bundled with
 * esbuild, the lightning-local runtime bundled with it (one shared copy of the constructs),
 * and the files of the app's directory (its scripts). Layout inside the .tar.gz:
 *
 *   app.mjs                        the user's app, bundled
 *   lightning-runtime/cli/main.mjs the CLI (flow and daemon roles)
 *   lightning-runtime/chunks/*     code shared by both
 *   lightning-runtime/package.json name and version (the CLI reads ../package.json)
 *   lightning-runtime/python/*     daemon/python (script-runner finds it at ../python)
 *   <app dir files>                train.py, serve.sh, ... (scripts resolve against app.mjs)
 *
 * The esbuild part is the app bundler (constructs/bundle/app-bundler.ts), which local mode
 * uses too; this synthesis module packs its output into the archive.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import {
  ALWAYS_EXCLUDED,
  type BundleFile,
  bundleAppAndRuntime,
  RUNTIME_ENTRY,
  runtimeFiles,
  walk,
} from '../bundle/app-bundler.ts';
import { deterministicTarGz } from './deterministic-tar.ts';

export interface AppBundleOptions {
  /** The app file (absolute or relative to cwd). */
  readonly appFile: string;
  /** Where to write the .tar.gz. */
  readonly outFile: string;
  /** Paths (relative to the app dir) to leave out. @default [] */
  readonly exclude?: readonly string[];
  /** @default RUNTIME_ENTRY */
  readonly runtimeEntry?: string;
}

export interface AppBundle {
  /** Absolute path of the .tar.gz. */
  readonly path: string;
  readonly sha256: string;
  readonly bytes: number;
  /** Paths inside the archive, sorted. */
  readonly files: readonly string[];
}

/** Builds the bundle. Deterministic: the same sources give the same bytes. */
export async function buildAppBundle(options: AppBundleOptions): Promise<AppBundle> {
  const appFile = resolve(options.appFile);
  const appDir = dirname(appFile);
  const runtimeEntry = options.runtimeEntry ?? RUNTIME_ENTRY;
  const outdir = mkdtempSync(join(tmpdir(), 'lightning-bundle-'));
  try {
    await bundleAppAndRuntime(appFile, outdir, runtimeEntry);
    const entries: BundleFile[] = [];
    walk(appDir, appDir, new Set([...ALWAYS_EXCLUDED, ...(options.exclude ?? [])]), entries);
    const built: BundleFile[] = [];
    walk(outdir, outdir, new Set(), built);
    built.push(...runtimeFiles());
    const builtPaths = new Set(built.map((e) => e.path));
    const all = [...entries.filter((e) => !builtPaths.has(e.path)), ...built];
    const tgz = deterministicTarGz(all);
    writeFileSync(options.outFile, tgz);
    return {
      path: resolve(options.outFile),
      sha256: createHash('sha256').update(tgz).digest('hex'),
      bytes: tgz.length,
      files: all.map((e) => e.path).sort(),
    };
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}
