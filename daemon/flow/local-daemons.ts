/**
 * Local mode's process host: one daemon process per Work, started on demand, each in its own
 * process group with an IPC channel to us. If this process dies, the channel closes and every
 * daemon stops its script and exits; on an orderly end we wait for them and escalate to
 * SIGTERM/SIGKILL of their process groups after the grace period.
 *
 * A daemon that stops answering pings on the IPC channel (SIGSTOP, a wedged event loop) for
 * `daemonUnresponsiveAfterMs` is SIGKILLed and reported as ended, so its call fails and the
 * retry gets a new daemon; its script tree dies with it (the tree guard's parent-death
 * signal, ADR 0015). Only the current process of a work is ever reported to the loop.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DaemonHost } from './event-loop.ts';

/** The CLI entry the daemons are started with. */
export const CLI_BIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'cli', 'bin.js');

export interface LocalDaemonsOptions {
  readonly appFile: string;
  readonly flowAddress: string;
  readonly token: string;
  readonly driveUrl: string;
  /** App-level environment (`--env`), handed to every work. */
  readonly env: Readonly<Record<string, string>>;
  /**
   * The app and runtime bundled as plain JavaScript (as on a cloud VM): daemons start from it
   * without compiling TypeScript. @default none: daemons load the app through tsx
   */
  readonly bundle?: { readonly cli: string; readonly app: string };
  /** A line the daemon process itself printed (not script output, which goes over gRPC). */
  onOutput(work: string, line: string): void;
  /** A daemon process ended while the app was running. */
  onExit(work: string, detail: string): void;
  /**
   * A daemon that has not answered a ping for this long is killed and reported as ended (its
   * call fails and is retried on a new daemon). Before its first answer it gets at least
   * 2 minutes to start. @default 30000
   */
  readonly daemonUnresponsiveAfterMs?: number;
}

/** How often each daemon is pinged over its IPC channel. */
const PING_EVERY_MS = 1000;
/** A call needs a daemon that has been silent this long: replace it at once. */
const REPLACE_ON_CALL_AFTER_MS = 5 * PING_EVERY_MS;
/** A daemon that has not answered yet is still starting (loading the app); give it this long. */
const STARTUP_ALLOWANCE_MS = 120_000;

interface Tracked {
  readonly child: ChildProcess;
  readonly startedAt: number;
  lastAnswer: number | null;
  /** Set when the watchdog killed it: the exit detail the loop gets. */
  killedBecause?: string;
}

export class LocalDaemons implements DaemonHost {
  private readonly children = new Map<string, ChildProcess>();
  private readonly tracked = new Map<ChildProcess, Tracked>();
  private readonly unresponsiveAfterMs: number;
  private watchdog: NodeJS.Timeout | undefined;
  private stopping = false;

  constructor(private readonly opts: LocalDaemonsOptions) {
    this.unresponsiveAfterMs = opts.daemonUnresponsiveAfterMs ?? 30_000;
  }

  ensureDaemon(work: string, why: 'start' | 'call' | 'preempted' = 'start'): void {
    if (this.stopping) return;
    const existing = this.children.get(work);
    if (existing && isAlive(existing)) {
      // The loop asks again for a call: if the process it has stopped answering pings, it is
      // the reason the work has no stream; kill it and start anew rather than wait for it.
      const t = this.tracked.get(existing);
      const silentMs = t?.lastAnswer != null ? Date.now() - t.lastAnswer : 0;
      if (why !== 'call' || !t || silentMs < REPLACE_ON_CALL_AFTER_MS) return;
      t.killedBecause = `did not answer for ${formatSeconds(silentMs)} when a call needed it, so it was replaced`;
      this.opts.onOutput(work, `the daemon ${t.killedBecause}`);
      signalGroup(existing, 'SIGKILL');
      // Its exit is not reported: the map holds the new process from here on.
    }
    const { bundle } = this.opts;
    const entry = bundle
      ? [bundle.cli, 'daemon', bundle.app, '--app-dir', dirname(this.opts.appFile)]
      : [CLI_BIN, 'daemon', this.opts.appFile];
    const child = spawn(
      process.execPath,
      [
        ...entry,
        '--work',
        work,
        '--flow',
        this.opts.flowAddress,
        '--drive',
        this.opts.driveUrl,
        '--exit-with-parent',
      ],
      {
        env: {
          ...process.env,
          LIGHTNING_TOKEN: this.opts.token,
          LIGHTNING_APP_ENV_JSON: JSON.stringify(this.opts.env),
          FORCE_COLOR: '0',
        },
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
        detached: true,
      },
    );
    this.children.set(work, child);
    this.track(child);
    const forward = (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n')) if (line.trim()) this.opts.onOutput(work, line);
    };
    child.stdout?.on('data', forward);
    child.stderr?.on('data', forward);
    child.on('error', (err) => this.opts.onOutput(work, `cannot start the daemon: ${err.message}`));
    child.on('exit', (code, signal) => {
      const why = this.tracked.get(child)?.killedBecause;
      this.tracked.delete(child);
      // A replaced process is history: its exit must not end the call of its successor.
      if (this.stopping || this.children.get(work) !== child) return;
      this.opts.onExit(work, why ?? (signal ? `killed by ${signal}` : `exit code ${code}`));
    });
  }

  /** Pings the daemon over IPC; one watchdog timer checks every daemon's last answer. */
  private track(child: ChildProcess): void {
    const t: Tracked = { child, startedAt: Date.now(), lastAnswer: null };
    this.tracked.set(child, t);
    child.on('message', (m: unknown) => {
      if (typeof m === 'object' && m !== null && (m as { t?: unknown }).t === 'pong')
        t.lastAnswer = Date.now();
    });
    this.watchdog ??= setInterval(() => this.checkDaemons(), PING_EVERY_MS);
    this.watchdog.unref();
  }

  private checkDaemons(): void {
    const now = Date.now();
    for (const [work, child] of this.children) {
      const t = this.tracked.get(child);
      if (!t || !isAlive(child) || t.killedBecause) continue;
      const silentMs = now - (t.lastAnswer ?? t.startedAt);
      const limit =
        t.lastAnswer === null
          ? Math.max(this.unresponsiveAfterMs, STARTUP_ALLOWANCE_MS)
          : this.unresponsiveAfterMs;
      if (silentMs >= limit) {
        t.killedBecause = `did not answer for ${formatSeconds(limit)} (stopped or hung), so it was killed`;
        this.opts.onOutput(work, `the daemon ${t.killedBecause}; a retry starts a new one`);
        // SIGKILL reaches a stopped process; its script tree follows by the guard's
        // parent-death signal.
        signalGroup(child, 'SIGKILL');
        continue;
      }
      if (child.connected) child.send({ t: 'ping' }, () => {});
    }
  }

  /** The pid of the current daemon process of `work`, if one was started. */
  pidOf(work: string): number | undefined {
    return this.children.get(work)?.pid;
  }

  pids(): number[] {
    return [...this.children.values()].map((c) => c.pid).filter((p): p is number => p !== undefined);
  }

  /**
   * Ends every daemon: SIGTERM to each daemon process at once (a daemon handles it like the
   * Shutdown message the loop sent: it stops its call with the work's grace period; this also
   * reaches daemons that never connected), then SIGTERM to each daemon's process group after
   * `graceMs`, and SIGKILL 2 s later.
   */
  async stopAll(graceMs: number): Promise<void> {
    this.stopping = true;
    clearInterval(this.watchdog);
    const alive = [...this.children.values()].filter((c) => c.exitCode === null && c.signalCode === null);
    const exits = alive.map((c) => new Promise<void>((resolve) => c.once('exit', () => resolve())));
    const all = Promise.all(exits);
    for (const c of alive) c.kill('SIGTERM');
    const signalAll = (sig: NodeJS.Signals) => {
      for (const c of alive) signalGroup(c, sig);
    };
    const term = setTimeout(() => signalAll('SIGTERM'), graceMs);
    const kill = setTimeout(() => signalAll('SIGKILL'), graceMs + 2000);
    await all;
    clearTimeout(term);
    clearTimeout(kill);
  }

  /**
   * Second Ctrl-C: no waiting. SIGUSR2 makes a daemon SIGKILL its scripts' process groups
   * and exit at once (scripts live in their own groups, so killing the daemon's group alone
   * would orphan them); anything still there 500 ms later is killed.
   */
  async killAll(): Promise<void> {
    this.stopping = true;
    clearInterval(this.watchdog);
    const alive = [...this.children.values()].filter((c) => c.exitCode === null && c.signalCode === null);
    for (const c of alive) signalGroup(c, 'SIGUSR2');
    await Promise.race([
      Promise.all(alive.map((c) => new Promise<void>((resolve) => c.once('exit', () => resolve())))),
      new Promise((resolve) => setTimeout(resolve, 500)),
    ]);
    for (const c of alive) signalGroup(c, 'SIGKILL');
  }
}

function signalGroup(child: ChildProcess, sig: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, sig);
  } catch {
    // already gone
  }
}

function isAlive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

function formatSeconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}
