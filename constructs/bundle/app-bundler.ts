/**
 * The app bundler: esbuild bundles the user's app file and the lightning-local runtime (the CLI,
 * one shared copy of the constructs) into a directory, beside the runtime's non-code files.
 * Two users, which is why it lives below both of them (docs/ARCHITECTURE.md, layers):
 *
 * - synthesis (`constructs/cloud/app-bundle.ts`) packs that directory and the app's files
 *   into the .tar.gz every VM runs;
 * - local mode (`daemon/flow/local-app.ts`) builds it into `.lightning/bundle/` so the daemons
 *   (and the next `run`'s flow) start without compiling TypeScript (ADR 0022).
 *
 * A build tool: it loads esbuild (lazily) and is itself left out of every bundle it makes
 * (a bundle never rebuilds itself). It imports only the constructs core: never synthesis
 * (cdktf) and never a runtime role.
 */
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, extname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { LightningError } from '../errors.ts';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The runtime entry: the lightning-local CLI. */
export const RUNTIME_ENTRY = join(REPO_ROOT, 'cli', 'main.ts');
/** Never copied from an app's directory or the runtime's (caches, environments, outputs). */
export const ALWAYS_EXCLUDED: readonly string[] = [
  'node_modules',
  '.git',
  '.lightning',
  'cdktf.out',
  '.venv',
  '__pycache__',
  '.terraform',
];

/** A file to put into a bundle (the shape `deterministicTarGz` packs). */
export interface BundleFile {
  /** Relative POSIX path. */
  readonly path: string;
  readonly data: Buffer;
  readonly executable?: boolean;
}

/** Appends the files under `dir` (sorted, paths relative to `base`), skipping `excluded` names or paths. */
export function walk(dir: string, base: string, excluded: ReadonlySet<string>, out: BundleFile[]): void {
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

/**
 * Build-time modules, reached from the CLI only by a lazy import: synthesis (from
 * `lightning-local synth`) and this bundler (from local mode, which never rebuilds a bundle it
 * started from).
 */
const BUILD_TIME_MODULES = new Set([
  ...['synth.ts', 'lightning-gcp.ts', 'app-bundle.ts', 'cdktf-app.ts', 'index.ts'].map((f) =>
    join(REPO_ROOT, 'constructs', 'cloud', f),
  ),
  fileURLToPath(import.meta.url),
]);

/**
 * Keeps the build-time modules out of the bundle: the CLI imports them lazily, so it works on
 * a VM without them (only `synth` itself would fail there).
 */
const leaveOutBuildTime = {
  name: 'leave-out-build-time',
  setup(build: {
    onResolve(
      o: { filter: RegExp },
      cb: (a: { path: string; resolveDir: string }) => { path: string; external: boolean } | undefined,
    ): void;
  }) {
    build.onResolve({ filter: /constructs\/(cloud|bundle)\/[a-z-]+\.ts$|^\.\/[a-z-]+\.ts$/ }, (args) => {
      const abs = resolve(args.resolveDir, args.path);
      return BUILD_TIME_MODULES.has(abs) ? { path: args.path, external: true } : undefined;
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
export function runtimeFiles(): BundleFile[] {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
    name: string;
    version: string;
  };
  const out: BundleFile[] = [
    {
      path: 'lightning-runtime/package.json',
      data: Buffer.from(
        `${JSON.stringify({ name: pkg.name, version: pkg.version, type: 'module', private: true }, null, 2)}\n`,
      ),
    },
  ];
  const python: BundleFile[] = [];
  walk(
    join(REPO_ROOT, 'daemon', 'python'),
    join(REPO_ROOT, 'daemon', 'python'),
    new Set(ALWAYS_EXCLUDED),
    python,
  );
  for (const e of python) out.push({ ...e, path: `lightning-runtime/python/${e.path}` });
  // The flow's web UI (daemon/ui/ui-server.ts looks for ../ui-static beside its chunk).
  const ui: BundleFile[] = [];
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
        ? [leaveOutBuildTime, keepAppFileLocations(dirname(resolve(appFile)))]
        : [leaveOutBuildTime],
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
    const entries: BundleFile[] = [];
    walk(dir, dir, new Set(ALWAYS_EXCLUDED), entries);
    for (const e of entries) files.push(join(dir, e.path));
  }
  const uplot = join(dirname(createRequire(import.meta.url).resolve('uplot/package.json')), 'dist');
  files.push(join(uplot, 'uPlot.iife.min.js'), join(uplot, 'uPlot.min.css'));
  return files;
}
