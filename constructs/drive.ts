/**
 * The Drive API (**contract**, DESIGN.md §4): shared storage among Works. A directory
 * locally (`.lightning/drive/<name>/`), a GCS bucket in the cloud; both validate keys with
 * the same rules (drive-key.ts) and give the same answers.
 */
import type { Readable } from 'node:stream';

export interface DriveStat {
  readonly key: string;
  readonly size: number;
  readonly mtimeMs: number;
  /** Object generation (GCS) or a content version (local); used with `ifGeneration`. */
  readonly generation: string;
  /** Base64 MD5 when the backend knows it. */
  readonly md5?: string;
  /** Base64 CRC32C when the backend knows it. */
  readonly crc32c?: string;
}

export interface TransferProgress {
  readonly key: string;
  readonly bytes: number;
  readonly totalBytes: number | null;
}

export interface PutOptions {
  /**
   * Write only if the object's current generation is this one; "0" means "only if absent".
   * A mismatch fails with DriveError code CONFLICT and writes nothing.
   * @default no precondition (last writer wins)
   */
  readonly ifGeneration?: string;
  /** @default 'application/octet-stream' */
  readonly contentType?: string;
  readonly onProgress?: (p: TransferProgress) => void;
  /**
   * The caller hands a file source over to the Drive: a local Drive stores the object as a
   * hard link to that very file (no bytes copied) and makes the file read-only, so the
   * caller must never modify it in place afterwards (replace it, or copy it first; the work
   * daemon does so with `releaseOutputs` before a Work runs again). Falls back to a copy where
   * links cannot be made (another filesystem); ignored for bytes, streams and on GCS.
   * @default false: the Drive copies the file, which stays the caller's
   */
  readonly linkSource?: boolean;
}

export interface GetOptions {
  readonly onProgress?: (p: TransferProgress) => void;
}

/** The source of a put: a local file path, bytes, or a stream. */
export type PutSource = string | Uint8Array | Readable;

export interface Drive {
  /** Drive name (a Drive per app is named "default"). */
  readonly name: string;
  /** Where it lives, e.g. `file:///abs/.lightning/drive/default` or `gs://bucket/prefix`. */
  readonly url: string;
  /** Atomic write: readers see the old object or the new one, never a partial one. */
  put(key: string, source: PutSource, options?: PutOptions): Promise<DriveStat>;
  /** Writes the object to `destPath` (hard link or copy locally). Creates parent dirs. */
  get(key: string, destPath: string, options?: GetOptions): Promise<DriveStat>;
  read(key: string): Promise<Buffer>;
  /** Objects whose key starts with `prefix`, sorted by key. */
  list(prefix?: string): Promise<DriveStat[]>;
  stat(key: string): Promise<DriveStat>;
  exists(key: string): Promise<boolean>;
  /** Deletes the object; deleting a missing key is not an error. */
  delete(key: string): Promise<void>;
  /** Uploads every file under `dir` to `prefix` (a key ending in `/`). */
  putDirectory(dir: string, prefix: string, options?: PutOptions): Promise<DriveStat[]>;
  /** Downloads every object under `prefix` into `dir`. */
  getDirectory(prefix: string, dir: string, options?: GetOptions): Promise<DriveStat[]>;
}
