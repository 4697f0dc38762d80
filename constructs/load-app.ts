/**
 * Loads a user's app file (TypeScript, through tsx) and finds its LightningApp. Every way
 * this can go wrong ends in a ValidationError naming the file and what to change.
 *
 * Filed with the constructs because every role loads an app file: the CLI, the flow runtime,
 * the work daemon and synthesis (`cloud/cdktf-app.ts`). Not exported from the public entry.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { LightningApp } from './app.ts';
import { LightningError, ValidationError } from './errors.ts';
import { locateScript } from './script-work.ts';

export interface LoadedApp {
  readonly app: LightningApp;
  /** Absolute path of the app file. */
  readonly appFile: string;
  /** Its directory: scripts, `.lightning/` and the local Drive live beside it. */
  readonly appDir: string;
}

function fail(file: string, message: string, fix: string): never {
  throw new ValidationError([{ path: file, message, fix }], 'Cannot load the app');
}

/**
 * The nearest package.json decides whether Node (and tsx) load `app.ts` as CommonJS. Our
 * package is ESM only, and a CommonJS app fails deep inside Node with a require(esm) cycle
 * message, so the case is caught before the import, with the fix.
 */
function refuseCommonJs(appFile: string, shown: string): void {
  const ext = extname(appFile);
  if (ext === '.mts' || ext === '.mjs') return;
  if (ext === '.cts' || ext === '.cjs') {
    fail(
      shown,
      'the file is CommonJS by its extension; lightning-local apps are ES modules',
      'rename it to app.ts (in a "type": "module" package) or app.mts',
    );
  }
  let dir = dirname(appFile);
  for (;;) {
    const pkgFile = join(dir, 'package.json');
    if (existsSync(pkgFile)) {
      let type: unknown;
      try {
        type = (JSON.parse(readFileSync(pkgFile, 'utf8')) as { type?: unknown }).type;
      } catch {
        return; // a broken package.json is reported by Node itself, with its position
      }
      if (type === 'module') return;
      const pkgShown = relative(process.cwd(), pkgFile) || pkgFile;
      fail(
        shown,
        `${pkgShown} has no "type": "module", so Node would load the app as CommonJS; lightning-local and its apps are ES modules`,
        `run \`npm pkg set type=module\` in ${relative(process.cwd(), dir) || '.'} (or rename the app file to ${shown.replace(/\.[^.]+$/, '')}.mts)`,
      );
    }
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  fail(
    shown,
    'no package.json above the app file, so Node would load it as CommonJS; lightning-local apps are ES modules',
    'create one beside it with `npm init -y && npm pkg set type=module`, or start from `npx lightning-local init`',
  );
}

export interface LoadAppOptions {
  /**
   * Loads a separate instance of the app module under this key (its own Work objects and
   * module state), as a daemon host does for each work it serves (ADR 0022). Modules the app
   * imports are shared. @default the one instance every import shares
   */
  readonly instance?: string;
  /**
   * Refuse the app when a ScriptWork's `script` is missing (the roles that start an app: run,
   * synth, cost). A daemon loads the app from its bundle, where scripts are not. @default false
   */
  readonly requireScripts?: boolean;
  /**
   * The app file compiled: its fresh bundle's `app.mjs`, loaded instead of the file so that no
   * TypeScript loader is needed (`run` started from that bundle, ADR 0022).
   * @default none: the app file itself is imported
   */
  readonly compiled?: string;
}

export async function loadAppFile(file: string, options: LoadAppOptions = {}): Promise<LoadedApp> {
  const appFile = resolve(file);
  const shown = relative(process.cwd(), appFile) || appFile;
  if (!existsSync(appFile))
    fail(shown, 'the file does not exist', 'check the path (it is resolved against the current directory)');
  if (statSync(appFile).isDirectory()) fail(shown, 'this is a directory', 'pass the app file, e.g. app.ts');
  const source = options.compiled ?? appFile;
  if (source === appFile) refuseCommonJs(appFile, shown);
  let mod: Record<string, unknown>;
  try {
    const url = pathToFileURL(source);
    if (options.instance !== undefined) url.searchParams.set('work', options.instance);
    mod = (await import(url.href)) as Record<string, unknown>;
  } catch (err) {
    if (err instanceof LightningError) throw err;
    const e = err as Error;
    const detail = (e?.message ?? String(err)).split('\n').slice(0, 12).join('\n    ');
    const esmHint = /require\(\) ES Module|ERR_REQUIRE_ESM|ERR_REQUIRE_CYCLE/.test(detail);
    fail(
      shown,
      `the app file failed to load: ${e?.name ?? 'Error'}: ${detail}`,
      esmHint
        ? 'the app file is loaded as CommonJS: add "type": "module" to the nearest package.json, or name the file app.mts'
        : 'fix the error above (a syntax error, a missing import, or code that throws while the app is constructed)',
    );
  }
  const candidates = new Set<LightningApp>();
  if (LightningApp.isLightningApp(mod.default)) candidates.add(mod.default);
  else for (const v of Object.values(mod)) if (LightningApp.isLightningApp(v)) candidates.add(v);
  if (candidates.size === 0) {
    fail(
      shown,
      'the file exports no LightningApp',
      'end the file with `export default app;` where app = new LightningApp({ name: ... })',
    );
  }
  if (candidates.size > 1) {
    fail(shown, `the file exports ${candidates.size} LightningApps`, 'export one app as the default export');
  }
  const app = [...candidates][0]!;
  app.root; // validates there is exactly one root flow
  if (options.requireScripts) refuseMissingScripts(app, dirname(appFile));
  return { app, appFile, appDir: dirname(appFile) };
}

/**
 * A ScriptWork whose `script` is not there would fail only when the flow first calls it,
 * maybe after an hour of training upstream: every missing script is reported before anything
 * starts (run, synth, cost), with the path it was looked for at. Works created at run time
 * (WorkMap members added by `run()`) are checked when they are called.
 */
function refuseMissingScripts(app: LightningApp, appDir: string): void {
  const problems: { path: string; message: string; fix: string }[] = [];
  for (const work of app.works()) {
    const script = (work as { props?: { script?: unknown } }).props?.script;
    if (typeof script !== 'string') continue;
    const { file, found } = locateScript(appDir, script);
    if (found === 'file') continue;
    problems.push({
      path: work.name,
      message: `script ${JSON.stringify(script)} ${found === 'missing' ? 'does not exist' : 'is a directory'} (looked for ${file})`,
      fix: `\`script\` is resolved against the app file's directory (${appDir}): fix the path, or use \`command\` for a program on PATH`,
    });
  }
  if (problems.length > 0) throw new ValidationError(problems, 'Cannot start the app');
}

/** The LightningApp of an app file (for synth, cost and other tools). */
export async function loadApp(file: string): Promise<LightningApp> {
  return (await loadAppFile(file, { requireScripts: true })).app;
}
