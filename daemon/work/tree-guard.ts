/**
 * The process-tree guard between a work daemon and its script (ADR 0015): a small Python
 * program (`daemon/python/lightning_tree_guard.py`) that is a child subreaper with a parent-
 * death signal and holds the work's attempt lock. With it, a script and everything it starts
 * (setsid'd helpers included) dies with its daemon, ends with its call, and never overlaps
 * the next attempt. Linux with python3 only; elsewhere scripts run as before, in their own
 * process group, and `guardUnavailableReason()` says why.
 */
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { delimiter, dirname, isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The guard program (shipped beside lightning_state.py, also in cloud bundles). */
export const TREE_GUARD_PY = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  'python',
  'lightning_tree_guard.py',
);

/** Signals the daemon sends the guard: stop gracefully, and kill the whole tree now. */
export const GUARD_STOP: NodeJS.Signals = 'SIGTERM';
export const GUARD_KILL_NOW: NodeJS.Signals = 'SIGUSR1';

/** Name of the per-work lock file (in the work's directory) that serializes attempts. */
export const ATTEMPT_LOCK_FILE = '.lightning-attempt.lock';

let cachedPython: string | null | undefined;

/** The Python that runs the guard: the system's (no pyenv shim, no venv), else python3 on PATH. */
export function guardPython(): string | null {
  if (cachedPython !== undefined) return cachedPython;
  cachedPython = null;
  if (process.platform === 'linux' && process.env.LIGHTNING_TREE_GUARD !== 'off') {
    cachedPython =
      ['/usr/bin/python3', '/usr/local/bin/python3'].find(isExecutable) ??
      findOnPath('python3', process.env.PATH);
  }
  return cachedPython;
}

/** Why scripts run without the guard on this machine, or null when they run with it. */
export function guardUnavailableReason(): string | null {
  if (guardPython()) return null;
  if (process.env.LIGHTNING_TREE_GUARD === 'off') return 'LIGHTNING_TREE_GUARD=off';
  if (process.platform !== 'linux')
    return `${process.platform} has no child subreapers or parent-death signals`;
  return 'python3 was not found';
}

/** The command line that runs `file argv` under the guard, or null without one. */
export function guardedCommand(
  file: string,
  argv: readonly string[],
  lockFile: string,
): { file: string; argv: string[] } | null {
  const python = guardPython();
  if (!python) return null;
  return {
    file: python,
    argv: [
      '-I',
      '-S',
      TREE_GUARD_PY,
      '--parent',
      String(process.pid),
      '--lock',
      lockFile,
      '--',
      file,
      ...argv,
    ],
  };
}

/**
 * Resolves a program name as execvp would (PATH of the script's environment), so a missing
 * or non-executable program is reported by us, not by the guard after it started.
 * Returns the absolute path, or an errno-style code.
 */
export function resolveProgram(file: string, pathVar: string | undefined): string | 'ENOENT' | 'EACCES' {
  if (file.includes('/')) {
    if (!existsSync(file)) return 'ENOENT';
    return isExecutable(file) ? file : 'EACCES';
  }
  const found = findOnPath(file, pathVar);
  if (found) return found;
  const anyMatch = (pathVar ?? '').split(delimiter).some((d) => d && existsSync(join(d, file)));
  return anyMatch ? 'EACCES' : 'ENOENT';
}

function findOnPath(name: string, pathVar: string | undefined): string | null {
  for (const dir of (pathVar ?? '').split(delimiter)) {
    if (!dir || !isAbsolute(dir)) continue;
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return null;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
