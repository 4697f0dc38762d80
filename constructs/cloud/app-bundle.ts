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
 * Synthesis-only module (esbuild), never loaded by the runtime roles.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, dirname, extname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { LightningError } from '../errors.ts';
import { deterministicTarGz, type TarEntry } from './deterministic-tar.ts';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The runtime entry: the lightning-local CLI. */
export const RUNTIME_ENTRY = join(REPO_ROOT, 'cli', 'main.ts');
const ALWAYS_EXCLUDED = [
  'node_modules',
  '.git',
  '.lightning',
  'cdktf.out',
  '.venv',
  '__pycache__',
  '.terraform',
];

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

function walk(dir: string, base: string, excluded: ReadonlySet<string>, out: TarEntry[]): void {
  for (const name of readdirSync(dir).sort()) {
    const abs = join(dir, name);
    const rel = relative(base, abs).split(sep).join('/');
    if (excluded.has(name) || excluded.has(rel)) continue;
    const st = statSync(abs);
    if (st.isDirectory()) walk(abs, base, excluded, out);
    else if (st.isFile())
      out.push({ path: rel, data: readFileSync(abs), executable: (st.mode & 0o111) !== 0 });
  }
}

/** Synthesis modules (reached from `lightning-local synth` by a lazy import). */
const SYNTHESIS_MODULES = new Set(
  ['synth.ts', 'lightning-gcp.ts', 'app-bundle.ts', 'cdktf-app.ts', 'index.ts'].map((f) =>
    join(REPO_ROOT, 'constructs', 'cloud', f),
  ),
);

/**
 * Keeps the synthesis modules out of the bundle: `lightning-local synth` imports them
 * lazily, so the CLI works on a VM without them (only `synth` itself would fail there).
 */
const leaveOutSynthesis = {
  name: 'leave-out-synthesis',
  setup(build: {
    onResolve(
      o: { filter: RegExp },
      cb: (a: { path: string; resolveDir: string }) => { path: string; external: boolean } | undefined,
    ): void;
  }) {
    build.onResolve({ filter: /constructs\/cloud\/[a-z-]+\.ts$|^\.\/[a-z-]+\.ts$/ }, (args) => {
      const abs = resolve(args.resolveDir, args.path);
      return SYNTHESIS_MODULES.has(abs) ? { path: args.path, external: true } : undefined;
    });
  },
};

/**
 * For a bundle run in place (local daemons): the app's own modules keep their file location,
 * so `new URL('.venv/bin/python', import.meta.url)` in app.ts still points beside app.ts and
 * not into the bundle directory. (In the cloud bundle the app directory's files sit beside
 * app.mjs, so there the bundled location is right and this plugin is not used.)
 */
function keepAppFileLocations(appDir: string) {
  const loaders: Record<string, 'ts' | 'tsx' | 'js' | 'jsx'> = {
    '.ts': 'ts',
    '.mts': 'ts',
    '.cts': 'ts',
    '.tsx': 'tsx',
    '.js': 'js',
    '.mjs': 'js',
    '.cjs': 'js',
    '.jsx': 'jsx',
  };
  return {
    name: 'keep-app-file-locations',
    setup(build: {
      onLoad(
        o: { filter: RegExp },
        cb: (a: { path: string }) => { contents: string; loader: 'ts' | 'tsx' | 'js' | 'jsx' } | undefined,
      ): void;
    }) {
      build.onLoad({ filter: /\.[cm]?[jt]sx?$/ }, (args) => {
        if (!args.path.startsWith(appDir + sep) || args.path.includes(`${sep}node_modules${sep}`))
          return undefined;
        const source = readFileSync(args.path, 'utf8');
        if (!source.includes('import.meta')) return undefined;
        const contents = source
          .replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href))
          .replaceAll('import.meta.dirname', JSON.stringify(dirname(args.path)))
          .replaceAll('import.meta.filename', JSON.stringify(args.path));
        return { contents, loader: loaders[extname(args.path)] ?? 'ts' };
      });
    },
  };
}

/**
 * Files the runtime reads relative to its own modules (import.meta.url). The bundle keeps
 * their position relative to the code: cli/main.ts reads ../package.json, and
 * daemon/work/script-runner.ts reads ../python; from lightning-runtime/cli/ and
 * lightning-runtime/chunks/ both resolve inside lightning-runtime/.
 */
function runtimeFiles(): TarEntry[] {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
    name: string;
    version: string;
  };
  const out: TarEntry[] = [
    {
      path: 'lightning-runtime/package.json',
      data: Buffer.from(
        `${JSON.stringify({ name: pkg.name, version: pkg.version, type: 'module', private: true }, null, 2)}\n`,
      ),
    },
  ];
  const python: TarEntry[] = [];
  walk(
    join(REPO_ROOT, 'daemon', 'python'),
    join(REPO_ROOT, 'daemon', 'python'),
    new Set(ALWAYS_EXCLUDED),
    python,
  );
  for (const e of python) out.push({ ...e, path: `lightning-runtime/python/${e.path}` });
  // The flow's web UI (daemon/ui/ui-server.ts looks for ../ui-static beside its chunk).
  const ui: TarEntry[] = [];
  walk(join(REPO_ROOT, 'daemon', 'ui', 'static'), join(REPO_ROOT, 'daemon', 'ui', 'static'), new Set(), ui);
  for (const e of ui) out.push({ ...e, path: `lightning-runtime/ui-static/${e.path}` });
  // Its chart library, served from node_modules locally (ui-server.ts vendorFile), has no
  // node_modules to come from on the VM: ship the two files the page loads.
  const uplot = join(dirname(createRequire(import.meta.url).resolve('uplot/package.json')), 'dist');
  for (const f of ['uPlot.iife.min.js', 'uPlot.min.css']) {
    out.push({ path: `lightning-runtime/ui-static/vendor/${f}`, data: readFileSync(join(uplot, f)) });
  }
  return out;
}

/**
 * Bundles the app and the runtime with esbuild into `outdir` (app.mjs,
 * lightning-runtime/cli/main.mjs, lightning-runtime/chunks/*), one shared copy of the
 * constructs. Used for the cloud bundle and for local daemons (which then start without
 * compiling TypeScript). Returns the absolute paths of every source file that went in.
 */
export async function bundleAppAndRuntime(
  appFile: string,
  outdir: string,
  runtimeEntry = RUNTIME_ENTRY,
  options: { readonly inPlace?: boolean } = {},
): Promise<string[]> {
  const esbuild = await import('esbuild');
  try {
    const result = await esbuild.build({
      entryPoints: { app: appFile, 'lightning-runtime/cli/main': runtimeEntry },
      bundle: true,
      splitting: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      outdir,
      outExtension: { '.js': '.mjs' },
      chunkNames: 'lightning-runtime/chunks/[name]-[hash]',
      // Synthesis code stays out: the VM never synthesizes, and DESIGN §2 keeps CDKTF
      // out of the runtime roles.
      external: ['cdktf', '@cdktf/*', 'esbuild', 'tsx', 'tsx/*', 'vitest'],
      plugins: options.inPlace
        ? [leaveOutSynthesis, keepAppFileLocations(dirname(resolve(appFile)))]
        : [leaveOutSynthesis],
      alias: { 'lightning-local': join(REPO_ROOT, 'constructs', 'index.ts') },
      // CommonJS dependencies call require() for Node built-ins; ESM output needs a require.
      banner: {
        js: "import { createRequire as __lightningCreateRequire } from 'node:module';\nconst require = __lightningCreateRequire(import.meta.url);",
      },
      absWorkingDir: REPO_ROOT,
      legalComments: 'none',
      logLevel: 'silent',
      write: true,
      metafile: true,
    });
    // esbuild names inputs relative to absWorkingDir; namespaced ones (`ns:path`) are not files.
    return Object.keys(result.metafile.inputs)
      .filter((f) => !/^[a-z-]+:/.test(f))
      .map((f) => resolve(REPO_ROOT, f));
  } catch (err) {
    const errors =
      (err as { errors?: { text: string; location?: { file: string; line: number } | null }[] }).errors ?? [];
    const detail = errors
      .slice(0, 5)
      .map((e) => `  ${e.location ? `${e.location.file}:${e.location.line}: ` : ''}${e.text}`)
      .join('\n');
    throw new LightningError(
      'BUNDLE',
      `Could not bundle ${basename(appFile)}:\n${detail || String(err)}\n` +
        'The app and everything it imports must bundle with esbuild (no native modules); fix the import above or move it into a script the Work runs.',
      { cause: err },
    );
  }
}

/** Writes the runtime's non-code files (package.json, the Python helper) into `outdir`. */
export function writeRuntimeFiles(outdir: string): void {
  for (const e of runtimeFiles()) {
    const target = join(outdir, e.path);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, e.data);
  }
}

/**
 * The source files writeRuntimeFiles copies from (package.json, the Python helper, the UI's
 * static files and chart library): with esbuild's inputs, what a local bundle is fresh against.
 */
export function runtimeSourceFiles(): string[] {
  const files = [join(REPO_ROOT, 'package.json')];
  for (const dir of [join(REPO_ROOT, 'daemon', 'python'), join(REPO_ROOT, 'daemon', 'ui', 'static')]) {
    const entries: TarEntry[] = [];
    walk(dir, dir, new Set(ALWAYS_EXCLUDED), entries);
    for (const e of entries) files.push(join(dir, e.path));
  }
  const uplot = join(dirname(createRequire(import.meta.url).resolve('uplot/package.json')), 'dist');
  files.push(join(uplot, 'uPlot.iife.min.js'), join(uplot, 'uPlot.min.css'));
  return files;
}

/** Builds the bundle. Deterministic: the same sources give the same bytes. */
export async function buildAppBundle(options: AppBundleOptions): Promise<AppBundle> {
  const appFile = resolve(options.appFile);
  const appDir = dirname(appFile);
  const runtimeEntry = options.runtimeEntry ?? RUNTIME_ENTRY;
  const outdir = mkdtempSync(join(tmpdir(), 'lightning-bundle-'));
  try {
    await bundleAppAndRuntime(appFile, outdir, runtimeEntry);
    const entries: TarEntry[] = [];
    walk(appDir, appDir, new Set([...ALWAYS_EXCLUDED, ...(options.exclude ?? [])]), entries);
    const built: TarEntry[] = [];
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
