/**
 * Local mode, programmatically: load an app file, start the event loop and its gRPC server
 * on 127.0.0.1, and one daemon process per Work. `lightning-local run` is a thin shell around
 * this; tests and benchmarks use it directly.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { JsonValue } from '../../constructs/json.ts';
import { loadAppFile } from '../../constructs/load-app.ts';
import { localDriveDir } from '../drive/open-drive.ts';
import type { AppEnd, EventLoop, LoopObserver } from './event-loop.ts';
import { startFlowRuntime } from './flow-runtime.ts';
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
}

export interface LocalApp {
  readonly loop: EventLoop;
  readonly daemons: LocalDaemons;
  readonly flowAddress: string;
  readonly appDir: string;
  readonly driveUrl: string;
  /** True when state was restored from an earlier run's journal. */
  readonly resumed: boolean;
  /** Resolves once the app ended and every daemon process has exited. */
  readonly finished: Promise<AppEnd>;
  /** Ends the app (like Ctrl-C) and waits for it to finish. */
  stop(exitCode?: number, message?: string): Promise<AppEnd>;
  /** Kills everything at once (second Ctrl-C). */
  kill(): Promise<void>;
}

/**
 * Bundles the app and runtime into `.lightning/bundle/` for the daemons. esbuild is loaded
 * only here (the flow process), never by a daemon.
 */
async function localBundle(
  appFile: string,
  appDir: string,
  observer: LoopObserver | undefined,
): Promise<{ cli: string; app: string } | undefined> {
  const outdir = join(appDir, '.lightning', 'bundle');
  try {
    const { bundleAppAndRuntime, writeRuntimeFiles } = await import('../../constructs/cloud/app-bundle.ts');
    await rm(outdir, { recursive: true, force: true });
    await bundleAppAndRuntime(appFile, outdir, undefined, { inPlace: true });
    writeRuntimeFiles(outdir);
    return { cli: join(outdir, 'lightning-runtime', 'cli', 'main.mjs'), app: join(outdir, 'app.mjs') };
  } catch (err) {
    observer?.onNotice?.(
      `could not bundle the app for fast daemon start-up, so each daemon compiles it with tsx instead: ${(err as Error).message.split('\n')[0]}`,
    );
    return undefined;
  }
}

export async function startLocalApp(options: LocalAppOptions): Promise<LocalApp> {
  const { app, appFile, appDir } = await loadAppFile(options.appFile);
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
    ...(options.observer ? { observer: options.observer } : {}),
    host: { ensureDaemon: (work, why) => daemons?.ensureDaemon(work, why) },
  });
  const { loop } = flow;
  const driveDir = localDriveDir(appDir);
  await mkdir(driveDir, { recursive: true });
  const driveUrl = options.driveUrl ?? pathToFileURL(driveDir).href;
  const flowAddress = `127.0.0.1:${flow.port}`;
  const bundle = options.bundle === false ? undefined : await localBundle(appFile, appDir, options.observer);
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
    appDir,
    driveUrl,
    resumed: flow.resumed,
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
