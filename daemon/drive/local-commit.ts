/**
 * The last step of a local Drive put: the finished temp file becomes the object under its key,
 * atomically. A plain put renames it over the key; a create-only put (`ifGeneration: '0'`)
 * hard-links it, which fails if the key exists; a conditional put compares the generation and
 * renames under a per-key lock that serialises such writers across processes. A failed
 * precondition is a CONFLICT naming both generations.
 */
import { createHash } from 'node:crypto';
import { link, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { RESERVED_SEGMENT_PREFIX } from '../../constructs/drive-key.ts';
import { DriveError } from '../../constructs/errors.ts';
import { code, generationOf } from './local-objects.ts';

/**
 * Puts the temp file `tmp` under `key` (its file `dest`), honouring `ifGeneration`. The
 * caller removes `tmp` if this throws.
 */
export async function commitTemp(
  key: string,
  tmp: string,
  dest: string,
  ifGeneration: string | undefined,
): Promise<void> {
  if (ifGeneration === '0') {
    // link() fails with EEXIST if the key exists: create-only, race-free across processes.
    try {
      await link(tmp, dest);
    } catch (err) {
      if (code(err) === 'EEXIST') throw conflict(key, '0', await generationOrNone(dest));
      throw err;
    }
    await unlink(tmp);
  } else if (ifGeneration !== undefined) {
    await withKeyLock(key, dirname(dest), async () => {
      const current = await generationOrNone(dest);
      if (current !== ifGeneration) throw conflict(key, ifGeneration, current);
      await rename(tmp, dest);
    });
  } else {
    await rename(tmp, dest);
  }
}

/** How long a conditional writer waits for the per-key lock before giving up. */
const LOCK_TIMEOUT_MS = 30_000;

/**
 * Serialises conditional writers of one key across processes with an O_EXCL lock file in
 * the key's directory `dir`. The lock is held only for a stat and a rename; a lock left by a
 * process that died is broken once its pid is gone.
 */
async function withKeyLock<T>(key: string, dir: string, fn: () => Promise<T>): Promise<T> {
  const base = key.slice(key.lastIndexOf('/') + 1);
  const lockPath = join(
    dir,
    `${RESERVED_SEGMENT_PREFIX}lock-${createHash('sha256').update(base).digest('hex').slice(0, 32)}`,
  );
  const deadline = Date.now() + LOCK_TIMEOUT_MS;
  for (let wait = 1; ; wait = Math.min(wait * 2, 50)) {
    try {
      const fh = await open(lockPath, 'wx');
      try {
        await fh.writeFile(String(process.pid));
      } finally {
        await fh.close();
      }
      break;
    } catch (err) {
      if (code(err) !== 'EEXIST') throw err;
      const holder = Number.parseInt(await readFile(lockPath, 'utf8').catch(() => ''), 10);
      if (Number.isInteger(holder) && holder > 0 && !processAlive(holder)) {
        await unlink(lockPath).catch(() => {});
        continue;
      }
      if (Date.now() > deadline) {
        throw new DriveError(
          'UNAVAILABLE',
          key,
          `Timed out waiting for the write lock of "${key}" (${lockPath}, held by pid ${holder}). ` +
            'If no writer is running, delete that file.',
        );
      }
      await new Promise((r) => setTimeout(r, wait));
    }
  }
  try {
    return await fn();
  } finally {
    await unlink(lockPath).catch(() => {});
  }
}

/** The generation of the object file `abs`, or null when there is none. */
async function generationOrNone(abs: string): Promise<string | null> {
  try {
    const st = await stat(abs, { bigint: true });
    return st.isFile() ? generationOf(st) : null;
  } catch (err) {
    if (code(err) === 'ENOENT') return null;
    throw err;
  }
}

/** A failed precondition: what the writer expected and what it found ('0': absent). */
function conflict(key: string, expected: string, current: string | null): DriveError {
  const want = expected === '0' ? 'absent' : `at generation ${expected}`;
  const have = current === null ? 'absent' : `at generation ${current}`;
  return new DriveError(
    'CONFLICT',
    key,
    `Precondition failed for "${key}": expected it ${want}, but it is ${have} (another writer got there first). ` +
      'Nothing was written; re-read the object and retry with its current generation.',
  );
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return code(err) === 'EPERM';
  }
}
