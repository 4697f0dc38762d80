/**
 * What a local Drive object is on disk, shared by single-object calls (local-drive.ts) and
 * whole-directory transfers (local-bulk.ts): its DriveStat and generation, and how a
 * filesystem error reads as a DriveError.
 */
import type { BigIntStats } from 'node:fs';
import type { DriveStat } from '../../constructs/drive.ts';
import { validateKey } from '../../constructs/drive-key.ts';
import { DriveError } from '../../constructs/errors.ts';

/** A file's DriveStat under `key`. */
export function statOf(key: string, st: BigIntStats): DriveStat {
  return { key, size: Number(st.size), mtimeMs: Number(st.mtimeMs), generation: generationOf(st) };
}

/**
 * `<inode>.<mtime ns>.<size>`: objects are replaced, never modified in place, so a new
 * object is a new inode or (a recycled inode) a new randomised mtime.
 */
export function generationOf(st: BigIntStats): string {
  return `${st.ino}.${st.mtimeNs}.${st.size}`;
}

/** The `code` of a Node system error (ENOENT...), if any. */
export function code(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err
    ? String((err as { code: unknown }).code)
    : undefined;
}

/** Turns a filesystem error into a DriveError (DriveErrors pass through). */
export function mapFsError(err: unknown, key: string, op: 'read' | 'write' | 'list' | 'delete'): DriveError {
  if (err instanceof DriveError) return err;
  const c = code(err);
  if (op === 'write' && (c === 'EISDIR' || c === 'ENOTEMPTY')) {
    return new DriveError(
      'CONFLICT',
      key,
      `Cannot put "${key}": other objects live under "${key}/" in the local Drive, and a local Drive is a directory ` +
        'tree, so "a" and "a/b" cannot both be objects. Choose another key or delete the objects under it.',
      { cause: err },
    );
  }
  if (c === 'ENOENT' || c === 'EISDIR' || (c === 'ENOTDIR' && op !== 'write')) {
    return new DriveError(
      'NOT_FOUND',
      key,
      `No object "${key}" in the Drive. Check the key with \`lightning-local drive ls\`.`,
      {
        cause: err,
      },
    );
  }
  if (c === 'ENOSPC' || c === 'EDQUOT') {
    return new DriveError(
      'IO',
      key,
      `Cannot ${op} "${key}": the disk is full (${c}). Free space and retry.`,
      { cause: err },
    );
  }
  const message = err instanceof Error ? err.message : String(err);
  return new DriveError('IO', key, `Cannot ${op} "${key}" in the local Drive: ${message}`, { cause: err });
}

/** A file's relative path as a key (NFC), or null when it is no valid key. */
export function asKey(relative: string): string | null {
  try {
    return validateKey(relative);
  } catch {
    return null;
  }
}
