/**
 * Upload without copying (PutOptions.linkSource): the local Drive takes a Work's output file
 * as the object itself, a hard link, so a 200 MB model passed along a chain of Works is
 * stored once instead of once per upload. (On ext4 there is no copy-on-write clone; a link
 * is the only copy-free way.)
 *
 * The object must still never change (local-drive.ts): the file is made read-only when it is
 * taken over, and `releaseOutputs` (path-transfer.ts) gives a Work a private writable copy of
 * each such output before the Work runs again, so a script that rewrites `model.pt` in place
 * writes its copy, not the Drive's object (and, as root, permission bits would not stop it).
 */
import { chmodSync, linkSync, lstatSync, utimesSync } from 'node:fs';
import { DriveError } from '../../constructs/errors.ts';
import { code } from './local-objects.ts';

/** link() errors after which a copy does instead: another filesystem, links not allowed or too many. */
export const LINK_UNSUPPORTED = new Set(['EXDEV', 'EPERM', 'EMLINK', 'ENOTSUP']);

/**
 * Links the regular file `source` to the new name `tmp` (in the key's directory) and makes
 * the shared inode read-only. Returns its size, or -1 (nothing done) when `source` is not a
 * regular file or cannot be linked there: the caller copies instead.
 *
 * A file that still has write bits is taken over for the first time: its mode loses them
 * (keeping read and execute) and its mtime moves by a random fraction of a millisecond, so
 * the generation is new even for a recycled inode number, as for copied objects. A file that
 * is already read-only (an object fetched from this Drive, passed on) is left as it is, so
 * the objects already sharing it keep their generation.
 */
export function adoptSync(key: string, source: string, tmp: string): number {
  let st: ReturnType<typeof lstatSync>;
  try {
    st = lstatSync(source);
  } catch (err) {
    if (code(err) !== 'ENOENT') throw err;
    throw new DriveError('NOT_FOUND', key, `Cannot put "${key}": source file ${source} does not exist.`, {
      cause: err,
    });
  }
  if (!st.isFile()) return -1;
  try {
    linkSync(source, tmp);
  } catch (err) {
    if (LINK_UNSUPPORTED.has(code(err) ?? '')) return -1;
    throw err;
  }
  if ((st.mode & 0o222) !== 0) {
    chmodSync(tmp, st.mode & 0o7555);
    utimesSync(tmp, st.atimeMs / 1000, st.mtimeMs / 1000 + Math.random() / 1000);
  }
  return st.size;
}
