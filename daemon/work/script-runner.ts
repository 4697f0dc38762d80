/**
 * Runs a ScriptWork's script for one call: resolves the command, starts it under the
 * process-tree guard (tree-guard.ts, ADR 0015) in its own process group, streams its output
 * line by line, sets the work's URL once its port answers, and on stop/timeout ends the whole
 * tree (SIGTERM to every process of it, SIGKILL after the grace period). The exit code decides
 * success; the call ends when the script exits, and what it left running is killed then.
 */
import { accessSync, constants } from 'node:fs';
import { connect } from 'node:net';
import { dirname, extname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import type { JsonObject } from '../../constructs/json.ts';
import { Path } from '../../constructs/path.ts';
import { locateScript, type ScriptWork } from '../../constructs/script-work.ts';
import type { WorkContext } from '../../constructs/work.ts';
import { CallFailure } from './call-failure.ts';
import {
  ATTEMPT_LOCK_FILE,
  GUARD_KILL_NOW,
  GUARD_STOP,
  guardedCommand,
  guardUnavailableReason,
  resolveProgram,
} from './tree-guard.ts';

/** Scripts still running in this process: their group id, and whether a guard owns the tree. */
export const liveScripts = new Map<number, { readonly guarded: boolean }>();

/**
 * Kills every running script's process tree at once. Synchronous: usable in signal handlers.
 * A guard kills its tree itself (a SIGKILL to it would orphan setsid'd helpers).
 */
export function killAllScriptsNow(): void {
  for (const [pid, { guarded }] of liveScripts) {
    if (guarded) signalPid(pid, GUARD_KILL_NOW);
    else signalGroup(pid, 'SIGKILL');
  }
  liveScripts.clear();
}

let guardNoticeShown = false;

/** Directory of lightning_state.py, put on PYTHONPATH for Python scripts. */
export const PYTHON_HELPER_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'python');

export interface ScriptHooks {
  /** One or more complete output lines. */
  onLines(stream: 'stdout' | 'stderr', lines: string[]): void;
  /** The script's port answered at `http://<urlHost>:<port>`. */
  onUrl(url: string): void;
  /**
   * The address other machines reach this work's servers at: the port is probed there and the
   * work's `url` names it. Loopback locally; the VM's internal IP in the cloud.
   */
  readonly urlHost: string;
  /** Grace period between SIGTERM and SIGKILL. */
  readonly graceMs: number;
}

interface Resolved {
  readonly file: string;
  readonly argv: string[];
  readonly display: string;
}

/** Turns the work's props and the call's (fetched) arguments into a command line. */
export function resolveCommand(work: ScriptWork, args: JsonObject, ctx: WorkContext): Resolved {
  const props = work.props;
  const userArgs =
    typeof props.args === 'function'
      ? [...props.args(args as never, ctx)]
      : props.args
        ? [...props.args]
        : argsToFlags(args);
  for (const a of userArgs) {
    if (typeof a !== 'string') {
      throw new CallFailure(
        'spawn_error',
        `${work.name}: the args builder returned a non-string (${typeof a}); return strings only`,
      );
    }
  }
  if (props.command) {
    const [head, ...rest] = props.command;
    const file = head!.includes('/') && !isAbsolute(head!) ? resolve(ctx.appDir, head!) : head!;
    return { file, argv: [...rest, ...userArgs], display: [head, ...rest, ...userArgs].join(' ') };
  }
  const { file: script, found } = locateScript(ctx.appDir, props.script!);
  if (found === 'missing') {
    throw new CallFailure(
      'spawn_error',
      `${work.name}: script ${script} does not exist. \`script\` is resolved against the app file's directory (${ctx.appDir}); fix the path in the ScriptWork.`,
    );
  }
  if (found === 'directory') {
    throw new CallFailure('spawn_error', `${work.name}: script ${script} is a directory, not a file`);
  }
  const ext = extname(script);
  const interpreter =
    ext === '.py'
      ? (props.python ?? ctx.env.LIGHTNING_PYTHON ?? 'python3')
      : ext === '.sh'
        ? 'bash'
        : ext === '.js' || ext === '.mjs' || ext === '.cjs'
          ? process.execPath
          : null;
  if (interpreter) {
    return {
      file: interpreter,
      argv: [script, ...userArgs],
      display: [interpreter, props.script, ...userArgs].join(' '),
    };
  }
  try {
    accessSync(script, constants.X_OK);
  } catch {
    throw new CallFailure(
      'spawn_error',
      `${work.name}: script ${script} is not executable and has no known extension (.py, .sh, .js). Run \`chmod +x ${props.script}\` or rename it.`,
    );
  }
  return { file: script, argv: userArgs, display: [props.script, ...userArgs].join(' ') };
}

/** Default argv when a ScriptWork gives no `args`: `--key value` per argument. */
function argsToFlags(args: JsonObject): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(args)) {
    if (v === null || v === false) continue;
    out.push(`--${k}`);
    if (v === true) continue;
    out.push(typeof v === 'string' ? v : JSON.stringify(v));
  }
  return out;
}

/**
 * Runs the script to completion. Resolves on exit code 0; otherwise throws a CallFailure
 * with the reason. Aborting `ctx.signal` kills the process tree.
 */
export async function runScript(
  work: ScriptWork,
  args: JsonObject,
  ctx: WorkContext,
  hooks: ScriptHooks,
): Promise<void> {
  const cmd = resolveCommand(work, args, ctx);
  const env: Record<string, string> = { ...ctx.env };
  if (
    cmd.file.endsWith('python') ||
    cmd.file.includes('python3') ||
    extname(work.props.script ?? '') === '.py'
  ) {
    env.PYTHONPATH = env.PYTHONPATH ? `${PYTHON_HELPER_DIR}:${env.PYTHONPATH}` : PYTHON_HELPER_DIR;
    env.PYTHONUNBUFFERED ??= '1';
  }
  ctx.log(`$ ${cmd.display}`);
  if (ctx.signal.aborted) throw abortFailure(ctx.signal);
  const program = resolveProgram(cmd.file, env.PATH);
  if (program === 'ENOENT' || program === 'EACCES') {
    throw new CallFailure('spawn_error', spawnMessage(work, cmd, program));
  }
  const guard = guardedCommand(program, cmd.argv, join(ctx.workDir, ATTEMPT_LOCK_FILE));
  if (!guard && !guardNoticeShown) {
    guardNoticeShown = true;
    ctx.log(
      `scripts run without the process-tree guard (${guardUnavailableReason()}): a helper a script starts in a new session can outlive its call, and a killed daemon can leave its script running`,
    );
  }
  const child = execa(guard?.file ?? program, guard?.argv ?? cmd.argv, {
    cwd: ctx.workDir,
    env,
    extendEnv: false,
    detached: true, // own process group: terminal Ctrl-C does not reach it directly
    stdin: 'ignore',
    buffer: false,
    reject: false,
    cleanup: false,
    stripFinalNewline: false,
  });
  const pid = child.pid;
  const guarded = guard !== null;
  if (pid !== undefined) {
    liveScripts.set(pid, { guarded });
    // The call ends when the script's main process exits. The guard kills what the script
    // left running then; without it, what it left in its group (`cmd &`) is reaped here: it
    // would otherwise hold the output pipes open and the call would never finish.
    if (!guarded) child.on('exit', () => signalGroup(pid, 'SIGKILL'));
  }
  const tail: string[] = [];
  const pump = (stream: NodeJS.ReadableStream | null, name: 'stdout' | 'stderr') => {
    if (!stream) return;
    const splitter = new LineSplitter((lines) => {
      if (name === 'stderr') {
        tail.push(...lines);
        if (tail.length > 20) tail.splice(0, tail.length - 20);
      }
      hooks.onLines(name, lines);
    });
    stream.on('data', (chunk: Buffer) => splitter.push(chunk));
    stream.on('end', () => splitter.end());
  };
  pump(child.stdout, 'stdout');
  pump(child.stderr, 'stderr');

  const killTimers: NodeJS.Timeout[] = [];
  const later = (ms: number, fn: () => void) => {
    const t = setTimeout(fn, ms);
    t.unref();
    killTimers.push(t);
  };
  const killTree = () => {
    if (pid === undefined) return;
    if (guarded) {
      // The guard passes SIGTERM to every process of the tree, SIGKILLs it on the second
      // signal, and is itself SIGKILLed (with its group) only if it does not exit by then.
      signalPid(pid, GUARD_STOP);
      later(hooks.graceMs, () => signalPid(pid, GUARD_KILL_NOW));
      later(hooks.graceMs + 2000, () => signalGroup(pid, 'SIGKILL'));
    } else {
      signalGroup(pid, 'SIGTERM');
      later(hooks.graceMs, () => signalGroup(pid, 'SIGKILL'));
    }
  };
  const onAbort = () => killTree();
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  const probe =
    ctx.port !== undefined && pid !== undefined
      ? probePort(hooks.urlHost, ctx.port, hooks, ctx.signal)
      : undefined;

  const result = await child;
  ctx.signal.removeEventListener('abort', onAbort);
  probe?.cancel();
  // Reap what the script left behind in its group (daemonized children, `cmd &`).
  if (pid !== undefined) {
    signalGroup(pid, 'SIGKILL');
    liveScripts.delete(pid);
  }
  for (const t of killTimers) clearTimeout(t);

  if (ctx.signal.aborted) throw abortFailure(ctx.signal);
  const spawnCode = (result as { code?: string }).code;
  if (result.failed && spawnCode && (result.exitCode === undefined || result.exitCode === null)) {
    throw new CallFailure('spawn_error', spawnMessage(work, cmd, spawnCode), { cause: result });
  }
  if (result.exitCode === 0) return;
  const last = tail.length ? `\nlast stderr lines:\n  ${tail.slice(-10).join('\n  ')}` : '';
  if (result.signal) {
    throw new CallFailure('signal', `${cmd.display} was killed by ${result.signal}${last}`, {
      exitCode: null,
    });
  }
  throw new CallFailure('exit_code', `${cmd.display} exited with code ${result.exitCode}${last}`, {
    exitCode: result.exitCode ?? null,
  });
}

function spawnMessage(work: ScriptWork, cmd: Resolved, code: string): string {
  if (code === 'ENOENT') {
    return `${work.name}: cannot start "${cmd.file}": not found. Install it or put it on PATH (for Python, set the ScriptWork \`python\` prop or LIGHTNING_PYTHON).`;
  }
  if (code === 'EACCES') {
    return `${work.name}: cannot start "${cmd.file}": permission denied. Make it executable (chmod +x).`;
  }
  return `${work.name}: cannot start "${cmd.file}" (${code}).`;
}

function abortFailure(signal: AbortSignal): CallFailure {
  const reason = signal.reason instanceof CallFailure ? signal.reason : null;
  return reason ?? new CallFailure('stopped', 'the call was stopped', { stopped: true });
}

function signalGroup(pid: number, sig: NodeJS.Signals): void {
  signalPid(-pid, sig);
}

function signalPid(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Already gone.
  }
}

/**
 * Probes host:port with backoff (50 ms → 1 s) until it accepts a connection: the URL is
 * published only once it answers at the address others will use (a server bound to
 * loopback on a cloud VM never gets a URL, rather than one nobody can reach).
 */
export function probePort(
  host: string,
  port: number,
  hooks: Pick<ScriptHooks, 'onUrl'>,
  signal: AbortSignal,
): { cancel(): void } {
  let cancelled = false;
  let timer: NodeJS.Timeout | undefined;
  let delay = 50;
  const attempt = () => {
    if (cancelled || signal.aborted) return;
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      if (!cancelled) hooks.onUrl(`http://${host.includes(':') ? `[${host}]` : host}:${port}`);
    });
    socket.once('error', () => {
      socket.destroy();
      if (cancelled) return;
      timer = setTimeout(attempt, delay);
      delay = Math.min(1000, delay * 1.5);
    });
  };
  attempt();
  return {
    cancel: () => {
      cancelled = true;
      if (timer) clearTimeout(timer);
    },
  };
}

/** Splits a byte stream into lines on \n, \r\n and \r (progress bars), capping line length. */
export class LineSplitter {
  private partial = '';
  private static readonly MAX_LINE = 64 * 1024;
  constructor(private readonly emit: (lines: string[]) => void) {}
  push(chunk: Buffer | string): void {
    const text = this.partial + chunk.toString();
    const parts = text.split(/\r\n|\n|\r/);
    this.partial = parts.pop() ?? '';
    if (this.partial.length > LineSplitter.MAX_LINE) {
      parts.push(this.partial);
      this.partial = '';
    }
    const lines = parts.filter((l) => l.length > 0);
    if (lines.length > 0) this.emit(lines);
  }
  end(): void {
    if (this.partial.length > 0) this.emit([this.partial]);
    this.partial = '';
  }
}

/** Paths in call arguments, replaced by local file paths once fetched. */
export async function resolvePathArgs(
  args: JsonObject,
  fetch: (p: Path) => Promise<string>,
): Promise<JsonObject> {
  const walk = async (v: unknown): Promise<unknown> => {
    if (Path.isPathJson(v)) return fetch(Path.fromJSON(v));
    if (Array.isArray(v)) return Promise.all(v.map(walk));
    if (typeof v === 'object' && v !== null) {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) out[k] = await walk(x);
      return out;
    }
    return v;
  };
  return (await walk(args)) as JsonObject;
}
