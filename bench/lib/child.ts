/**
 * Child processes for benchmarks: each runs in its own process group so that a whole tree
 * (an app and its work processes) is ended at once, and every wait has a deadline.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

export interface Spawned {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Resolves with the exit code (or signal name) when the process ends. */
  readonly exited: Promise<number | string>;
  /** Everything the process wrote to stdout and stderr (last 64 KiB). */
  output(): string;
  /** SIGTERM to the process group, SIGKILL after `graceMs`. */
  kill(graceMs?: number): Promise<void>;
}

export function spawnGroup(
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Spawned {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const keep = (chunk: Buffer) => {
    out += chunk.toString('utf8');
    if (out.length > 65536) out = out.slice(-65536);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<number | string>((resolve) => {
    child.on('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
    child.on('error', (err) => {
      out += `\nspawn error: ${err.message}`;
      resolve('spawn-error');
    });
  });
  const pid = child.pid ?? -1;
  let done = false;
  void exited.then(() => {
    done = true;
  });
  const signalGroup = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig);
    } catch {
      // the group is already gone
    }
  };
  return {
    child,
    pid,
    exited,
    output: () => out,
    async kill(graceMs = 3000) {
      signalGroup('SIGTERM');
      if (!done) await Promise.race([exited, sleep(graceMs)]);
      // Stray grandchildren may outlive the leader; end the group either way.
      signalGroup('SIGKILL');
      await Promise.race([exited, sleep(1000)]);
    },
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls until `file` exists or the deadline passes (or `abort` resolves first). */
export async function waitForFile(
  file: string,
  timeoutMs: number,
  abort?: Promise<unknown>,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let aborted = false;
  void abort?.then(() => {
    aborted = true;
  });
  while (Date.now() < deadline && !aborted) {
    if (existsSync(file)) return true;
    await sleep(20);
  }
  return existsSync(file);
}
