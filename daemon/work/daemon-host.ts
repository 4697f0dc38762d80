/**
 * A daemon host (ADR 0022): one local process that serves several works, each through its own
 * WorkDaemon (its own gRPC stream, instance id, state document and script child) built on its
 * own instance of the app module, exactly as if it had a process of its own. What the works
 * share is the Node runtime: one start-up and one copy of the runtime code instead of one per
 * work. `lightning-local run` starts hosts (LocalDaemons) and tells them over IPC which works to
 * serve; nothing outside local mode uses them (a cloud VM serves its one work with `daemon`).
 *
 * IPC, parent → host: `{t:'ping'}` (answered with a pong while the event loop turns) and
 * `{t:'start', work}`. Host → parent: `{t:'pong'}`, `{t:'out', work, text}` (output that
 * belongs to one work: its daemon's diagnostics, and what its TypeScript code prints) and
 * `{t:'exited', work, code, detail?}` when a work's daemon has ended.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { pathToFileURL } from 'node:url';
import type * as grpc from '@grpc/grpc-js';
import type { Drive } from '../../constructs/drive.ts';
import { loadAppFile } from '../../constructs/load-app.ts';
import { ensureStateDir, localDriveDir, openDrive } from '../drive/open-drive.ts';
import type { HostReport, HostRequest } from '../protocol/host-ipc.ts';
import { killAllScriptsNow } from './script-runner.ts';
import { WorkDaemon } from './work-daemon.ts';

export interface DaemonHostOptions {
  /** The bundled app (app.mjs): each work loads its own instance of it. */
  readonly appFile: string;
  /** Directory scripts resolve against. @default the app file's */
  readonly appDir?: string;
  readonly flowAddress: string;
  readonly token: string;
  /** @default the app's local Drive */
  readonly driveUrl?: string;
  readonly env: Readonly<Record<string, string>>;
  readonly credentials?: grpc.ChannelCredentials;
}

/**
 * Serves works until the parent goes away or signals an end; never returns. Requires an IPC
 * channel to the parent (`process.send`).
 */
export async function runDaemonHost(opts: DaemonHostOptions): Promise<never> {
  const send = (m: HostReport) => {
    // A closed channel means the parent is gone: the 'disconnect' handler ends us.
    if (process.connected) process.send?.(m, () => {});
  };
  const outputOf = new AsyncLocalStorage<string>();
  routeOutput(outputOf, (work, text) => send({ t: 'out', work, text }));

  const daemons = new Map<string, WorkDaemon>();
  let stopping = false;
  let drive: Promise<Drive> | undefined;
  const exitWhenDone = () => {
    if (stopping && daemons.size === 0) process.exit(0);
  };

  const start = async (work: string) => {
    // A work's module-level code and every call of it print as that work.
    await outputOf.run(work, async () => {
      try {
        // `?work=` makes the loader evaluate the app anew for this work: its own Work objects
        // and module state, as in a process of its own. The runtime chunks it imports are
        // shared (same URLs), so the classes are the same.
        const loaded = await loadAppFile(opts.appFile, { instance: work });
        const appDir = opts.appDir ?? loaded.appDir;
        drive ??= (async () => {
          await ensureStateDir(appDir);
          return openDrive(opts.driveUrl ?? pathToFileURL(localDriveDir(appDir)).href);
        })();
        const daemon = new WorkDaemon({
          app: loaded.app,
          appDir,
          workName: work,
          flowAddress: opts.flowAddress,
          token: opts.token,
          drive: await drive,
          env: opts.env,
          diagnostics: (line) => send({ t: 'out', work, text: `${line}\n` }),
          callScope: (fn) => outputOf.run(work, fn),
          ...(opts.credentials ? { credentials: opts.credentials } : {}),
        });
        daemons.set(work, daemon);
        await daemon.start();
        void daemon.exited.then((code) => {
          daemons.delete(work);
          send({ t: 'exited', work, code });
          exitWhenDone();
        });
      } catch (err) {
        daemons.delete(work);
        const message = (err as Error)?.message ?? String(err);
        send({ t: 'out', work, text: `${message}\n` });
        send({ t: 'exited', work, code: 1, detail: `the daemon could not start: ${message.split('\n')[0]}` });
        exitWhenDone();
      }
    });
  };

  const stop = (why: string) => {
    if (stopping) return;
    stopping = true;
    for (const d of daemons.values()) void d.shutdown(why);
    exitWhenDone();
  };

  process.on('message', (m: HostRequest) => {
    if (m?.t === 'ping') send({ t: 'pong' });
    else if (m?.t === 'start' && typeof m.work === 'string' && !stopping && !daemons.has(m.work))
      void start(m.work);
  });
  process.on('disconnect', () => stop('the parent process exited'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGUSR2', () => {
    killAllScriptsNow();
    process.exit(137);
  });
  // Heard from at once: the parent holds a host to the short unresponsive limit only after
  // its first answer, and works may start running before its first ping comes round.
  send({ t: 'pong' });
  // Every work's output goes to the parent; an error no work's code caught ends the host, and
  // the parent retries every work it served.
  return new Promise<never>(() => {});
}

/**
 * Sends what a work's code writes to stdout/stderr to the parent as that work's output; what is
 * written outside any work's scope stays the host's own (the parent shows it for all its works).
 */
function routeOutput(scope: AsyncLocalStorage<string>, emit: (work: string, text: string) => void): void {
  for (const stream of [process.stdout, process.stderr]) {
    const original = stream.write.bind(stream) as (...args: unknown[]) => boolean;
    stream.write = ((chunk: unknown, ...rest: unknown[]) => {
      const work = scope.getStore();
      if (work === undefined) return original(chunk, ...rest);
      emit(work, typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
      const cb = rest.find((x) => typeof x === 'function') as (() => void) | undefined;
      cb?.();
      return true;
    }) as typeof stream.write;
  }
}
