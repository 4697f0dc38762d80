/**
 * Where a key lives on disk in the local Drive, beyond `join(root, key)`:
 * - a put must not leave the root through a symlinked directory planted inside it (by a
 *   script, another tool, a tar archive): `assertInsideRoot` resolves the deepest existing
 *   directory of the destination and refuses if it is not under the root's real path. It
 *   checks before anything is created, so not even a directory appears outside. (A symlink
 *   swapped in between the check and the write is not covered: Node has no openat/O_NOFOLLOW
 *   walk; the Drive root is the app's own directory, not a shared one.)
 * - keys are NFC, but another tool (macOS file copies, some archivers) may write NFD names:
 *   `denormalizedPath` finds the file whose name normalizes to the key, so read/get/stat/
 *   delete find what list() shows.
 */
import { lstat, readdir, realpath } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import { DriveError } from '../../constructs/errors.ts';

/** Refuses when the existing part of `dir` resolves outside the root's real path. */
export async function assertInsideRoot(
  root: string,
  realRoot: string,
  key: string,
  dir: string,
): Promise<void> {
  let probe = dir;
  for (;;) {
    let real: string;
    try {
      real = await realpath(probe);
    } catch (err) {
      const c = (err as NodeJS.ErrnoException).code;
      if ((c === 'ENOENT' || c === 'ENOTDIR') && probe !== root && probe.startsWith(root + sep)) {
        probe = dirname(probe);
        continue;
      }
      if (c === 'ENOENT' || c === 'ENOTDIR') return; // the root itself is missing: mkdir creates it
      throw err;
    }
    if (real === realRoot || real.startsWith(realRoot + sep)) return;
    throw new DriveError(
      'INVALID_KEY',
      key,
      `Cannot put "${key}": ${probe} is a symbolic link that leads outside the Drive root (to ${real}). ` +
        'A put never writes outside the Drive root; remove the link or put the file under another key.',
      { rule: 'symlink-escape' },
    );
  }
}

/** True when the key has only ASCII characters (then NFC and NFD are the same). */
export function isAscii(key: string): boolean {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the whole ASCII range
  return /^[\u0000-\u007f]*$/.test(key);
}

/**
 * The on-disk path of a file whose name is `key` in another Unicode normalization form
 * (segment by segment), or null if there is none.
 */
export async function denormalizedPath(root: string, key: string): Promise<string | null> {
  let cur = root;
  for (const segment of key.split('/')) {
    const direct = join(cur, segment);
    if (
      await lstat(direct).then(
        () => true,
        () => false,
      )
    ) {
      cur = direct;
      continue;
    }
    const names = await readdir(cur).catch(() => [] as string[]);
    const match = names.find((n) => n.normalize('NFC') === segment);
    if (match === undefined) return null;
    cur = join(cur, match);
  }
  return cur;
}
