/**
 * Local mode's daemon processes, started on demand, each in its own process group with an IPC
 * channel to us. With the app bundled (the default), works are served by daemon hosts
 * (daemon/work/daemon-host.ts, ADR 0022): a few processes, each serving up to
 * `worksPerProcess` works, every work with its own daemon, stream and script child. ScriptWorks
 * and TypeScript works never share a host (a TypeScript work's own code runs in its host and
 * could stall it). `worksPerProcess: 1`, or no bundle, gives one `daemon` process per work.
 * If this process dies, the channel closes and every daemon stops its script and exits; on an
 * orderly end we wait for them and escalate to SIGTERM/SIGKILL of their process groups after
 * the grace period.
 *
 * A daemon that stops answering pings on the IPC channel (SIGSTOP, a wedged event loop) for
 * `daemonUnresponsiveAfterMs` is SIGKILLed and reported as ended, so its call fails and the
 * retry gets a new daemon; its script tree dies with it (the tree guard's parent-death
 * signal, ADR 0015). A host that is killed or dies takes every work it served along: each is
 * reported as ended and its call retried, on a new host. Only the current process of a work is
 * ever reported to the loop.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HostReport, HostRequest } from '../protocol/host-ipc.ts';
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
  /**
   * How many works one daemon process serves at most (with a bundle). 1: a process per work,
   * each work isolated from the others' crashes and stalls. @default 50
   */
  readonly worksPerProcess?: number;
  /**
   * Which works may share a host: works of different groups never do. @default every work in
   * one group
   */
  groupOf?(work: string): string;
  /**
   * Hosts of one group kept in use at once: new works go to a new host until there are this
   * many, so the works spread over the cores. @default the number of cores, at most 4 (each
   * host costs ~55 MiB before it serves a work)
   */
  readonly hostsPerGroup?: number;
}

/** How often each daemon is pinged over its IPC channel. */
const PING_EVERY_MS = 1000;
/** A call needs a daemon that has been silent this long: replace it at once. */
const REPLACE_ON_CALL_AFTER_MS = 5 * PING_EVERY_MS;
/** A daemon that has not answered yet is still starting (loading the app); give it this long. */
const STARTUP_ALLOWANCE_MS = 120_000;

/** One daemon process: a `daemon` serving one work, or a daemon host serving several. */
interface Proc {
  readonly child: ChildProcess;
  /** Works of this group only; null for a one-work `daemon` process. */
  readonly group: string | null;
  readonly startedAt: number;
  /** The works it serves now (a hosted work leaves when its daemon ends). */
  readonly works: Set<string>;
  lastAnswer: number | null;
  /** Set when the watchdog killed it: the exit detail the loop gets. */
  killedBecause?: string;
}

export class LocalDaemons implements DaemonHost {
  /** Each work's current process. */
  private readonly current = new Map<string, Proc>();
  private readonly procs = new Set<Proc>();
  private readonly unresponsiveAfterMs: number;
  private readonly worksPerProcess: number;
  private readonly hostsPerGroup: number;
  private watchdog: NodeJS.Timeout | undefined;
  private stopping = false;

  constructor(private readonly opts: LocalDaemonsOptions) {
    this.unresponsiveAfterMs = opts.daemonUnresponsiveAfterMs ?? 30_000;
    this.worksPerProcess = opts.bundle ? Math.max(1, opts.worksPerProcess ?? 50) : 1;
    this.hostsPerGroup = Math.max(1, opts.hostsPerGroup ?? Math.min(4, availableParallelism()));
  }

  ensureDaemon(work: string, why: 'start' | 'call' | 'preempted' = 'start'): void {
    if (this.stopping) return;
    const existing = this.current.get(work);
    if (existing && isAlive(existing.child) && existing.works.has(work)) {
      // The loop asks again for a call: if the process it has stopped answering pings, it is
      // the reason the work has no stream; kill it and start anew rather than wait for it.
      const silentMs = existing.lastAnswer != null ? Date.now() - existing.lastAnswer : 0;
      if (why !== 'call' || silentMs < REPLACE_ON_CALL_AFTER_MS) return;
      existing.killedBecause = `did not answer for ${formatSeconds(silentMs)} when a call needed it, so it was replaced`;
      this.opts.onOutput(work, `the daemon ${existing.killedBecause}`);
      signalGroup(existing.child, 'SIGKILL');
      // Its exit is not reported for this work (the map holds the new process from here on);
      // the other works it served are reported and retried.
    }
    const proc = this.worksPerProcess === 1 ? this.spawnDaemon(work) : this.hostFor(work);
    proc.works.add(work);
    this.current.set(work, proc);
    if (proc.group !== null) proc.child.send({ t: 'start', work } satisfies HostRequest, () => {});
  }

  /**
   * The live host of the work's group with the fewest works and room for one more; a new host
   * while the group has fewer than `hostsPerGroup` or all are full.
   */
  private hostFor(work: string): Proc {
    const group = this.opts.groupOf?.(work) ?? 'works';
    const live = [...this.procs].filter(
      (p) => p.group === group && isAlive(p.child) && p.child.connected && !p.killedBecause,
    );
    const open = live.filter((p) => p.works.size < this.worksPerProcess);
    if (live.length < this.hostsPerGroup || open.length === 0) return this.spawnHost(group);
    return open.reduce((a, b) => (b.works.size < a.works.size ? b : a));
  }

  private spawnDaemon(work: string): Proc {
    const { bundle } = this.opts;
    const entry = bundle
      ? [bundle.cli, 'daemon', bundle.app, '--app-dir', dirname(this.opts.appFile)]
      : [CLI_BIN, 'daemon', this.opts.appFile];
    return this.spawn(
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
      null,
    );
  }

  private spawnHost(group: string): Proc {
    const bundle = this.opts.bundle!;
    return this.spawn(
      [
        bundle.cli,
        'daemon-host',
        bundle.app,
        '--app-dir',
        dirname(this.opts.appFile),
        '--flow',
        this.opts.flowAddress,
        '--drive',
        this.opts.driveUrl,
      ],
      group,
    );
  }

  private spawn(args: string[], group: string | null): Proc {
    const child = spawn(process.execPath, args, {
      env: {
        ...inheritableEnv(),
        LIGHTNING_TOKEN: this.opts.token,
        LIGHTNING_APP_ENV_JSON: JSON.stringify(this.opts.env),
        FORCE_COLOR: '0',
      },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      detached: true,
    });
    const proc: Proc = { child, group, startedAt: Date.now(), works: new Set(), lastAnswer: null };
    this.procs.add(proc);
    // What the process prints itself (a crash trace) concerns every work it serves.
    const forward = (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n'))
        if (line.trim()) for (const w of proc.works) this.opts.onOutput(w, line);
    };
    child.stdout?.on('data', forward);
    child.stderr?.on('data', forward);
    child.on('error', (err) => {
      for (const w of proc.works) this.opts.onOutput(w, `cannot start the daemon: ${err.message}`);
    });
    child.on('message', (m: HostReport) => this.onReport(proc, m));
    child.on('exit', (code, signal) => {
      this.procs.delete(proc);
      if (this.stopping) return;
      const why = proc.killedBecause ?? (signal ? `killed by ${signal}` : `exit code ${code}`);
      const detail =
        proc.group === null
          ? why
          : `its daemon host (pid ${child.pid}, ${proc.works.size} works) ended: ${why}`;
      // A replaced process is history: its exit must not end the call of its successor.
      for (const w of proc.works) if (this.current.get(w) === proc) this.opts.onExit(w, detail);
    });
    this.watchdog ??= setInterval(() => this.checkDaemons(), PING_EVERY_MS);
    this.watchdog.unref();
    return proc;
  }

  private onReport(proc: Proc, m: HostReport): void {
    if (typeof m !== 'object' || m === null) return;
    if (m.t === 'pong') proc.lastAnswer = Date.now();
    else if (m.t === 'out') {
      for (const line of m.text.split('\n')) if (line.trim()) this.opts.onOutput(m.work, line);
    } else if (m.t === 'exited') {
      proc.works.delete(m.work);
      if (this.stopping || this.current.get(m.work) !== proc) return;
      this.opts.onExit(m.work, m.detail ?? `exit code ${m.code}`);
    }
  }

  /** Pings every process over IPC; kills one whose last answer is too old. */
  private checkDaemons(): void {
    const now = Date.now();
    for (const p of this.procs) {
      if (!isAlive(p.child) || p.killedBecause) continue;
      const silentMs = now - (p.lastAnswer ?? p.startedAt);
      const limit =
        p.lastAnswer === null
          ? Math.max(this.unresponsiveAfterMs, STARTUP_ALLOWANCE_MS)
          : this.unresponsiveAfterMs;
      if (silentMs >= limit) {
        p.killedBecause = `did not answer for ${formatSeconds(limit)} (stopped or hung), so it was killed`;
        for (const w of p.works)
          this.opts.onOutput(w, `the daemon ${p.killedBecause}; a retry starts a new one`);
        // SIGKILL reaches a stopped process; its script trees follow by the guard's
        // parent-death signal.
        signalGroup(p.child, 'SIGKILL');
        continue;
      }
      if (p.child.connected) p.child.send({ t: 'ping' } satisfies HostRequest, () => {});
    }
  }

  /** The pid of the process serving `work` now (or last), if one was started. */
  pidOf(work: string): number | undefined {
    return this.current.get(work)?.child.pid;
  }

  /** The pids of the processes serving works, each once. */
  pids(): number[] {
    const pids = new Set<number>();
    for (const p of this.current.values()) if (p.child.pid !== undefined) pids.add(p.child.pid);
    return [...pids];
  }

  /** How many daemon processes are running (tests, benchmarks). */
  get processCount(): number {
    return [...this.procs].filter((p) => isAlive(p.child)).length;
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
    const alive = [...this.procs].map((p) => p.child).filter(isAlive);
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
    const alive = [...this.procs].map((p) => p.child).filter(isAlive);
    for (const c of alive) signalGroup(c, 'SIGUSR2');
    await Promise.race([
      Promise.all(alive.map((c) => new Promise<void>((resolve) => c.once('exit', () => resolve())))),
      new Promise((resolve) => setTimeout(resolve, 500)),
    ]);
    for (const c of alive) signalGroup(c, 'SIGKILL');
  }
}

/**
 * Our environment minus Node's IPC variables. Node removes them from a child's env only when
 * it was itself started with an IPC channel; a stray `NODE_CHANNEL_SERIALIZATION_MODE`
 * (exported in a shell, or left by a tool that starts us) would otherwise win over the value
 * spawn appends, and a daemon in `advanced` mode cannot read our `json` pings: it would never
 * answer them.
 */
function inheritableEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const key of Object.keys(env)) if (key.startsWith('NODE_CHANNEL_')) delete env[key];
  return env;
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
