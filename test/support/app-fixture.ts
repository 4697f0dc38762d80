/**
 * Test apps on disk: writes an app file (and its scripts) into a fresh temp directory and
 * starts it with the real local runtime (event loop, gRPC server, daemon processes).
 */
import { EventEmitter } from 'node:events';
import { chmod, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { WorkStatus } from '../../constructs/work-status.ts';
import type { LogStream } from '../../daemon/flow/event-loop.ts';
import { type LocalApp, type LocalAppOptions, startLocalApp } from '../../daemon/flow/local-app.ts';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const API = join(REPO, 'constructs', 'index.ts');
export const CLI = join(REPO, 'cli', 'bin.js');

/** Files of a test app; `app.ts` may import from '@api' (replaced by the constructs entry). */
export type AppFiles = Record<string, string>;

export async function writeApp(files: AppFiles): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'lightning-test-'));
  await writeFile(join(dir, 'package.json'), '{ "type": "module", "private": true }\n');
  for (const [name, content] of Object.entries(files)) {
    const path = join(dir, name);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, content.replaceAll("'@api'", JSON.stringify(API)));
    if (name.endsWith('.sh') || content.startsWith('#!')) await chmod(path, 0o755);
  }
  return dir;
}

export interface RunningApp {
  readonly local: LocalApp;
  readonly dir: string;
  readonly events: EventEmitter;
  readonly logs: { work: string; stream: LogStream; line: string }[];
  readonly statuses: { work: string; status: WorkStatus }[];
  readonly notices: string[];
  /** Resolves when `predicate` holds (checked after every state change); rejects after `ms`. */
  until(predicate: () => boolean, ms?: number, what?: string): Promise<void>;
}

export async function startApp(
  files: AppFiles,
  options: Omit<LocalAppOptions, 'appFile' | 'observer'> = {},
): Promise<RunningApp> {
  const dir = await writeApp(files);
  const events = new EventEmitter();
  events.setMaxListeners(100);
  const logs: RunningApp['logs'] = [];
  const statuses: RunningApp['statuses'] = [];
  const notices: string[] = [];
  const local = await startLocalApp({
    ...options,
    appFile: join(dir, 'app.ts'),
    onDaemonOutput: (work, line) => logs.push({ work, stream: 'daemon', line }),
    observer: {
      onLog: (work, stream, lines) => {
        for (const line of lines) logs.push({ work, stream, line });
        events.emit('change');
      },
      onStatus: (work, status) => {
        statuses.push({ work, status });
        events.emit('change');
      },
      onNotice: (m) => {
        notices.push(m);
        events.emit('change');
      },
      onStateChanged: () => events.emit('change'),
    },
  });
  const until = (predicate: () => boolean, ms = 30_000, what = 'condition') =>
    new Promise<void>((resolvePromise, reject) => {
      if (predicate()) return resolvePromise();
      const timer = setTimeout(() => {
        events.off('change', check);
        reject(
          new Error(
            `timed out after ${ms} ms waiting for ${what}\nstate: ${JSON.stringify(local.loop.snapshot(), null, 1).slice(0, 3000)}\nlogs:\n${logs
              .slice(-30)
              .map((l) => `${l.work} ${l.stream} ${l.line}`)
              .join('\n')}`,
          ),
        );
      }, ms);
      const check = () => {
        if (predicate()) {
          clearTimeout(timer);
          events.off('change', check);
          resolvePromise();
        }
      };
      events.on('change', check);
      void local.finished.then(() => setImmediate(check));
    });
  return { local, dir, events, logs, statuses, notices, until };
}

/** PIDs of live processes whose command line contains `marker`. */
export async function processesWith(marker: string): Promise<number[]> {
  const { readdir, readFile } = await import('node:fs/promises');
  const out: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).replaceAll('\0', ' ');
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (state !== 'Z' && cmd.includes(marker)) out.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return out;
}

/** Re-checks `check` (an outcome that settles shortly, like processes dying) until it holds or `ms` pass. */
export async function eventually<T>(check: () => Promise<T>, ok: (v: T) => boolean, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  let value = await check();
  while (!ok(value) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    value = await check();
  }
  return value;
}

/** Waits until `check()` holds (re-checked every 20 ms); fails naming `what` after `ms`. */
export async function pollUntil(check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
