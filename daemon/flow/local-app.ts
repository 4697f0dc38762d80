/**
 * Local mode, programmatically: load an app file, start the event loop and its gRPC server
 * on 127.0.0.1, and one daemon process per Work. `lightning-local run` is a thin shell around
 * this; tests and benchmarks use it directly.
 */
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { LightningApp } from '../../constructs/app.ts';
import type { JsonValue } from '../../constructs/json.ts';
import { loadAppFile } from '../../constructs/load-app.ts';
import { ScriptWork } from '../../constructs/script-work.ts';
import { localDriveDir } from '../drive/open-drive.ts';
import { cachedBundle } from './bundle-cache.ts';
import type { AppEnd, EventLoop, LoopObserver } from './event-loop.ts';
import { startFlowRuntime } from './flow-runtime.ts';
import { type BundlePaths, bundlePaths } from './fresh-bundle.mjs';
import type { CompactionStep } from './journal.ts';
import { LocalDaemons } from './local-daemons.ts';

export interface LocalAppOptions {
  readonly appFile: string;
  /** `--env K=V`: environment for every work. */
  readonly env?: Readonly<Record<string, string>>;
  /** Overrides of the root flow's initial state. */
  readonly set?: Readonly<Record<string, JsonValue>>;
  /** `--set key=value` pairs, parsed against the root flow's declared state. */
  readonly setPairs?: readonly string[];
  /** Drive URL. @default the app's local Drive, `<appDir>/.lightning/drive/default` */
  readonly driveUrl?: string;
  readonly observer?: LoopObserver;
  /** A line a daemon process printed itself (crash traces before it connected). */
  readonly onDaemonOutput?: (work: string, line: string) => void;
  /** Continue from the journal of the previous run (`--resume`). @default false: start fresh */
  readonly resume?: boolean;
  /**
   * fsync the journal on every drain: `--resume` then survives power loss, not only the flow
   * process dying. @default false
   */
  readonly journalFsync?: boolean;
  /**
   * Journal lines between compactions (each writes the whole state). Small values compact
   * often; the fault suite uses them to kill the flow inside compactions. @default 5000
   */
  readonly journalCompactEvery?: number;
  /** Called after each journal compaction step (the fault suite kills the flow there). @default none */
  readonly onJournalCompactionStep?: (step: CompactionStep) => void;
  /**
   * Start daemons from an esbuild bundle of the app and runtime (as on a cloud VM: faster,
   * half the memory) instead of compiling TypeScript in each. Falls back to tsx, with a
   * notice, if the app cannot be bundled. @default true
   */
  readonly bundle?: boolean;
  /**
   * A daemon process that stops answering for this long (stopped, hung) is killed and
   * replaced; its call is retried. @default 30000
   */
  readonly daemonUnresponsiveAfterMs?: number;
  /**
   * How many works one daemon process serves at most (ADR 0022); 1 gives each work a process
   * of its own, as without a bundle. @default 50
   */
  readonly worksPerProcess?: number;
  /** Daemon hosts of one kind kept in use at once. @default the number of cores, at most 4 */
  readonly hostsPerGroup?: number;
  /**
   * The app's bundle this process (the flow) was started from: cli/bin.js found it fresh
   * (ADR 0022). The app is loaded from it and the daemons reuse it. Ignored unless it is the
   * bundle of `appFile`. @default none: the flow loaded the app through tsx
   */
  readonly startedFromBundle?: BundlePaths;
}

export interface LocalApp {
  readonly loop: EventLoop;
  readonly daemons: LocalDaemons;
  readonly flowAddress: string;
  /** The app file, absolute. */
  readonly appFile: string;
  readonly appDir: string;
  readonly driveUrl: string;
  /** True when state was restored from an earlier run's journal. */
  readonly resumed: boolean;
  /** Whether the daemons' bundle was rebuilt, reused, or not used (tsx daemons). */
  readonly bundle: BundleUse;
  /** True when this flow runs from that bundle too (`startedFromBundle`). */
  readonly flowFromBundle: boolean;
  /** Resolves once the app ended and every daemon process has exited. */
  readonly finished: Promise<AppEnd>;
  /** Ends the app (like Ctrl-C) and waits for it to finish. */
  stop(exitCode?: number, message?: string): Promise<AppEnd>;
  /** Kills everything at once (second Ctrl-C). */
  kill(): Promise<void>;
}

/** What became of the daemons' bundle this run. */
export type BundleUse = 'rebuilt' | 'reused' | 'none';

/**
 * Bundles the app and runtime into `.lightning/bundle/` for the daemons, or reuses the bundle
 * there when none of its sources changed (bundle-cache.ts). esbuild is loaded only here (the
 * flow process), never by a daemon. When bin.js started this flow from that bundle
 * (`fromBundle`), it has just found it fresh.
 */
async function localBundle(
  appFile: string,
  observer: LoopObserver | undefined,
  fromBundle: boolean,
): Promise<{ paths?: { cli: string; app: string }; use: BundleUse }> {
  const paths = bundlePaths(appFile);
  if (fromBundle) return { paths, use: 'reused' };
  try {
    const { bundleAppAndRuntime, writeRuntimeFiles, runtimeSourceFiles } = await import(
      '../../constructs/bundle/app-bundler.ts'
    );
    const reused = await cachedBundle(appFile, paths.outdir, async () => {
      const inputs = await bundleAppAndRuntime(appFile, paths.outdir, undefined, { inPlace: true });
      writeRuntimeFiles(paths.outdir);
      return [...inputs, ...runtimeSourceFiles()];
    });
    return { paths, use: reused ? 'reused' : 'rebuilt' };
  } catch (err) {
    observer?.onNotice?.(
      `could not bundle the app for fast daemon start-up, so each daemon compiles it with tsx instead: ${(err as Error).message.split('\n')[0]}`,
    );
    return { use: 'none' };
  }
}

function isScriptWork(app: LightningApp, work: string): boolean {
  try {
    return app.find(work) instanceof ScriptWork;
  } catch {
    return false;
  }
}

export async function startLocalApp(options: LocalAppOptions): Promise<LocalApp> {
  const fromBundle = options.startedFromBundle?.appFile === resolve(options.appFile);
  const { app, appFile, appDir } = await loadAppFile(options.appFile, {
    requireScripts: true,
    ...(fromBundle ? { compiled: options.startedFromBundle!.app } : {}),
  });
  const token = randomBytes(32).toString('hex');
  let daemons: LocalDaemons | undefined;
  const flow = await startFlowRuntime({
    app,
    appDir,
    token,
    listen: '127.0.0.1:0',
    ...(options.setPairs ? { setPairs: options.setPairs } : {}),
    ...(options.set ? { set: options.set } : {}),
    ...(options.resume ? { resume: true } : {}),
    ...(options.journalFsync ? { journalFsync: true } : {}),
    ...(options.journalCompactEvery ? { journalCompactEvery: options.journalCompactEvery } : {}),
    ...(options.onJournalCompactionStep ? { onJournalCompactionStep: options.onJournalCompactionStep } : {}),
    ...(options.observer ? { observer: options.observer } : {}),
    host: { ensureDaemon: (work, why) => daemons?.ensureDaemon(work, why) },
  });
  const { loop } = flow;
  const driveDir = localDriveDir(appDir);
  await mkdir(driveDir, { recursive: true });
  const driveUrl = options.driveUrl ?? pathToFileURL(driveDir).href;
  const flowAddress = `127.0.0.1:${flow.port}`;
  const built =
    options.bundle === false
      ? { use: 'none' as const }
      : await localBundle(appFile, options.observer, fromBundle);
  const bundle = built.paths;
  daemons = new LocalDaemons({
    ...(bundle ? { bundle } : {}),
    appFile,
    flowAddress,
    token,
    driveUrl,
    env: options.env ?? {},
    onOutput: options.onDaemonOutput ?? ((work, line) => process.stderr.write(`[${work} daemon] ${line}\n`)),
    onExit: (work, detail) => loop.onDaemonExit(work, detail),
    ...(options.daemonUnresponsiveAfterMs
      ? { daemonUnresponsiveAfterMs: options.daemonUnresponsiveAfterMs }
      : {}),
    ...(options.worksPerProcess !== undefined ? { worksPerProcess: options.worksPerProcess } : {}),
    ...(options.hostsPerGroup !== undefined ? { hostsPerGroup: options.hostsPerGroup } : {}),
    // A TypeScript work's own code runs in its daemon's process, where a stall or a crash of
    // it would take the other works along: ScriptWorks (whose daemons only run our code) and
    // TypeScript works never share a host.
    groupOf: (work) => (isScriptWork(app, work) ? 'scripts' : 'typescript'),
  });
  const local = daemons;
  const maxGraceMs =
    Math.max(10_000, ...app.works().map((w) => (w.props.stopGraceSeconds ?? 10) * 1000)) + 2000;
  const finished = (async () => {
    const end = await loop.done;
    // The loop keeps applying what daemons send while they stop: their last logs and
    // statuses. Every daemon has exited here (or was killed after the grace period); its
    // stream's end may still be on its way.
    await local.stopAll(maxGraceMs);
    await loop.goodbyes(2000);
    await flow.close();
    return end;
  })();
  loop.start();
  return {
    loop,
    daemons: local,
    flowAddress,
    appFile,
    appDir,
    driveUrl,
    resumed: flow.resumed,
    bundle: built.use,
    flowFromBundle: fromBundle,
    finished,
    stop: async (exitCode = 130, message = 'stopped') => {
      loop.requestEnd(exitCode, message);
      return finished;
    },
    kill: async () => {
      await local.killAll();
      await flow.closeServer();
    },
  };
}
