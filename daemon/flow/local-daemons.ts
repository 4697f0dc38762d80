/**
 * Local mode's process host: one daemon process per Work, started on demand, each in its own
 * process group with an IPC channel to us. If this process dies, the channel closes and every
 * daemon stops its script and exits; on an orderly end we wait for them and escalate to
 * SIGTERM/SIGKILL of their process groups after the grace period.
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
}

export class LocalDaemons implements DaemonHost {
  private readonly children = new Map<string, ChildProcess>();
  private stopping = false;

  constructor(private readonly opts: LocalDaemonsOptions) {}

  ensureDaemon(work: string): void {
    if (this.stopping) return;
    const existing = this.children.get(work);
    if (existing && existing.exitCode === null && existing.signalCode === null) return;
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
    const forward = (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n')) if (line.trim()) this.opts.onOutput(work, line);
    };
    child.stdout?.on('data', forward);
    child.stderr?.on('data', forward);
    child.on('error', (err) => this.opts.onOutput(work, `cannot start the daemon: ${err.message}`));
    child.on('exit', (code, signal) => {
      if (this.stopping) return;
      this.opts.onExit(work, signal ? `killed by ${signal}` : `exit code ${code}`);
    });
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
