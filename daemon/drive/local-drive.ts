/**
 * The local Drive backend: a directory tree (`.lightning/drive/<name>/`) where the object
 * with key `a/b.txt` is the file `<root>/a/b.txt`, so people can browse it.
 *
 * Invariants:
 * - Writes are atomic: bytes go to a temp file in the object's own directory (same
 *   filesystem), which is then renamed over the key (or hard-linked, for create-only puts).
 *   A reader sees the old object or the new one, never a partial one; a failed write leaves
 *   no file under the key.
 * - Temp and lock files start with the reserved segment prefix, which drive-key.ts forbids
 *   in keys, so they never show up in listings and can never be overwritten through a key.
 * - Objects are never modified in place (always replaced by rename), and are stored
 *   read-only, so a hard-linked fetch cannot change under its reader and a (non-root)
 *   reader cannot corrupt the Drive through its link. A put with `linkSource` makes the
 *   caller's file itself the object (local-adopt.ts): the caller promises not to modify it
 *   in place (the work daemon's releaseOutputs gives a Work a copy before it runs again).
 * - Generations: `<inode>.<mtime ns>.<size>`. The temp file gets a randomised sub-millisecond
 *   mtime so that a recycled inode with the same size still yields a new generation.
 * - Directory transfers (local-bulk.ts) keep all of the above per object.
 */
import { createHash } from 'node:crypto';
import { constants, createWriteStream } from 'node:fs';
import {
  chmod,
  copyFile,
  link,
  mkdir,
  open,
  readFile,
  realpath,
  rename,
  rmdir,
  stat,
  unlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import type {
  Drive,
  DriveStat,
  GetOptions,
  PutOptions,
  PutSource,
  TransferProgress,
} from '../../constructs/drive.ts';
import { RESERVED_SEGMENT_PREFIX, validateKey, validatePrefix } from '../../constructs/drive-key.ts';
import { DriveError } from '../../constructs/errors.ts';
import {
  compareKeys,
  getDirectoryWith,
  mapLimit,
  putDirectoryWith,
  tempName,
  walkFiles,
} from './drive-util.ts';
import { adoptSync } from './local-adopt.ts';
import { type BulkHost, copySmallFileSync, getTree, putTree } from './local-bulk.ts';
import { asKey, code, generationOf, mapFsError, statOf } from './local-objects.ts';
import { assertInsideRoot, denormalizedPath, isAscii } from './local-paths.ts';

export interface LocalDriveProps {
  /** Drive name, as in `Path.drive`. @default 'default' */
  readonly name?: string;
  /**
   * How get() places an object: 'link' hard-links it (no bytes copied; falls back to a
   * copy-on-write clone or a copy across filesystems), 'copy' always clones or copies.
   * @default 'link'
   */
  readonly fetchMode?: 'link' | 'copy';
  /**
   * fsync each object before it becomes visible, so a power loss cannot leave an empty file
   * under a key. Costs throughput; rename atomicity (no torn objects) holds either way.
   * @default false
   */
  readonly durable?: boolean;
  /** Files transferred at once by putDirectory/getDirectory. @default 16 */
  readonly concurrency?: number;
}

/** How long a conditional writer waits for the per-key lock before giving up. */
const LOCK_TIMEOUT_MS = 30_000;
/**
 * copyFile flags for a fresh temp file: a copy-on-write clone where the filesystem can, else
 * copy_file_range. EXCL (the name is new anyway) also keeps libuv from ftruncate()ing the new
 * file, which on ext4 makes close() wait for the whole file to be written back (auto_da_alloc):
 * measured here, 1 GiB took 0.75 s with the truncate and 0.38 s (as fast as cp) without.
 */
const COPY_NEW_FILE = constants.COPYFILE_FICLONE | constants.COPYFILE_EXCL;

/** Progress for a file copy is polled at this interval (copyFile itself reports nothing). */
const COPY_POLL_MS = 250;

export class LocalDrive implements Drive {
  readonly name: string;
  readonly url: string;
  readonly root: string;
  private readonly fetchMode: 'link' | 'copy';
  private readonly durable: boolean;
  private readonly concurrency: number;
  private readonly knownDirs = new Set<string>();
  /** Destination directories get() created (outside the Drive; a miss just costs a mkdir). */
  private readonly knownDestDirs = new Set<string>();
  /** The root with symlinks resolved (a put's directory must resolve under it). */
  private realRoot: string | undefined;

  constructor(root: string, props: LocalDriveProps = {}) {
    this.root = resolve(root);
    this.name = props.name ?? 'default';
    this.url = pathToFileURL(this.root).href;
    this.fetchMode = props.fetchMode ?? 'link';
    this.durable = props.durable ?? false;
    this.concurrency = props.concurrency ?? 16;
  }

  /** Creates the root directory if it does not exist. */
  async init(): Promise<this> {
    await mkdir(this.root, { recursive: true });
    return this;
  }

  private pathOf(key: string): string {
    const abs = join(this.root, key);
    // Defence in depth: validateKey already forbids every way out of the root.
    if (!abs.startsWith(this.root + sep)) {
      throw new DriveError(
        'INVALID_KEY',
        key,
        `Drive key "${key}" resolves outside the Drive root ${this.root}.`,
      );
    }
    return abs;
  }

  async put(key: string, source: PutSource, options: PutOptions = {}): Promise<DriveStat> {
    const k = validateKey(key);
    try {
      return await this.putOnce(k, source, options);
    } catch (err) {
      // A concurrent delete may have pruned a directory we remembered as existing.
      const dir = dirname(this.pathOf(k));
      if (code(err) === 'ENOENT' && this.knownDirs.delete(dir) && !(source instanceof Readable)) {
        return this.putOnce(k, source, options).catch((e: unknown) => {
          throw mapFsError(e, k, 'write');
        });
      }
      throw mapFsError(err, k, 'write');
    }
  }

  private async putOnce(k: string, source: PutSource, options: PutOptions): Promise<DriveStat> {
    const dest = this.pathOf(k);
    const dir = dirname(dest);
    this.realRoot ??= await realpath(this.root).catch(() => this.root);
    await assertInsideRoot(this.root, this.realRoot, k, dir);
    // A stream cannot be replayed if a remembered directory vanished: always mkdir for it.
    await this.ensureDir(k, dir, !(source instanceof Readable));
    const tmp = join(dir, tempName('tmp'));
    try {
      const adopted = options.linkSource && typeof source === 'string' ? adoptSync(k, source, tmp) : -1;
      const small =
        adopted < 0 && typeof source === 'string' && !this.durable
          ? copySmallFileSync(k, source, tmp)
          : undefined;
      if (adopted >= 0) {
        if (this.durable) await fsyncFile(tmp);
        options.onProgress?.({ key: k, bytes: adopted, totalBytes: adopted });
      } else if (small) {
        const size = Number(small.size);
        options.onProgress?.({ key: k, bytes: size, totalBytes: size });
      } else {
        await this.writeTemp(k, tmp, source, options.onProgress);
        // A unique mtime makes the generation change even when the inode number is recycled.
        const now = Date.now() / 1000;
        await utimes(tmp, now, now + Math.random() / 1000);
        if (typeof source === 'string') await chmod(tmp, 0o444); // bytes and streams are created 0o444
      }
      if (options.ifGeneration === '0') {
        // link() fails with EEXIST if the key exists: create-only, race-free across processes.
        try {
          await link(tmp, dest);
        } catch (err) {
          if (code(err) === 'EEXIST') throw conflict(k, '0', await this.generationOrNone(dest));
          throw err;
        }
        await unlink(tmp);
      } else if (options.ifGeneration !== undefined) {
        const expected = options.ifGeneration;
        await this.withKeyLock(k, dir, async () => {
          const current = await this.generationOrNone(dest);
          if (current !== expected) throw conflict(k, expected, current);
          await rename(tmp, dest);
        });
      } else {
        await rename(tmp, dest);
      }
      return statOf(k, await stat(dest, { bigint: true }));
    } catch (err) {
      await unlink(tmp).catch(() => {});
      throw err;
    }
  }

  private async writeTemp(
    key: string,
    tmp: string,
    source: PutSource,
    onProgress: ((p: TransferProgress) => void) | undefined,
  ): Promise<void> {
    if (typeof source === 'string' && !onProgress) {
      try {
        // FICLONE: a copy-on-write clone on btrfs/xfs, copy_file_range elsewhere.
        await copyFile(source, tmp, COPY_NEW_FILE);
      } catch (err) {
        if (code(err) === 'ENOENT' && !(await stat(source).catch(() => undefined))) {
          throw new DriveError(
            'NOT_FOUND',
            key,
            `Cannot put "${key}": source file ${source} does not exist.`,
            {
              cause: err,
            },
          );
        }
        throw err;
      }
      if (this.durable) await fsyncFile(tmp);
      return;
    }
    if (typeof source === 'string') {
      const size = (
        await stat(source).catch((err: unknown) => {
          throw new DriveError(
            'NOT_FOUND',
            key,
            `Cannot put "${key}": source file ${source} is not readable (${code(err)}).`,
            {
              cause: err,
            },
          );
        })
      ).size;
      onProgress?.({ key, bytes: 0, totalBytes: size });
      const poll = onProgress
        ? setInterval(() => {
            stat(tmp).then(
              (s) => onProgress({ key, bytes: s.size, totalBytes: size }),
              () => {},
            );
          }, COPY_POLL_MS)
        : undefined;
      try {
        // FICLONE: a copy-on-write clone on btrfs/xfs, copy_file_range elsewhere.
        await copyFile(source, tmp, COPY_NEW_FILE);
      } finally {
        if (poll) clearInterval(poll);
      }
      if (this.durable) await fsyncFile(tmp);
      onProgress?.({ key, bytes: size, totalBytes: size });
      return;
    }
    if (source instanceof Uint8Array) {
      await writeFile(tmp, source, { flag: 'wx', mode: 0o444, flush: this.durable });
      onProgress?.({ key, bytes: source.byteLength, totalBytes: source.byteLength });
      return;
    }
    if (source instanceof Readable) {
      let bytes = 0;
      const counter = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          bytes += chunk.length;
          onProgress?.({ key, bytes, totalBytes: null });
          cb(null, chunk);
        },
      });
      await pipeline(
        source,
        counter,
        createWriteStream(tmp, { flags: 'wx', mode: 0o444, flush: this.durable }),
      );
      return;
    }
    throw new DriveError(
      'IO',
      key,
      `Cannot put "${key}": the source must be a file path, bytes or a Readable stream.`,
    );
  }

  async get(key: string, destPath: string, options: GetOptions = {}): Promise<DriveStat> {
    const k = validateKey(key);
    try {
      return await this.getOnce(k, destPath, options);
    } catch (err) {
      // The destination directory we remembered was removed meanwhile: create it again.
      const cause = err instanceof DriveError ? err.cause : err;
      if (code(cause) === 'ENOENT' && this.knownDestDirs.delete(dirname(resolve(destPath)))) {
        return this.getOnce(k, destPath, options);
      }
      throw err;
    }
  }

  private async getOnce(k: string, destPath: string, options: GetOptions): Promise<DriveStat> {
    const st = await this.stat(k);
    const src = isAscii(k) ? this.pathOf(k) : await this.existingPath(k);
    const destDir = dirname(resolve(destPath));
    if (!this.knownDestDirs.has(destDir)) {
      await mkdir(destDir, { recursive: true });
      if (this.knownDestDirs.size > 10_000) this.knownDestDirs.clear();
      this.knownDestDirs.add(destDir);
    }
    const tmp = join(destDir, tempName('get'));
    try {
      options.onProgress?.({ key: k, bytes: 0, totalBytes: st.size });
      let linked = false;
      if (this.fetchMode === 'link') {
        try {
          await link(src, tmp);
          linked = true;
        } catch (err) {
          // EXDEV: another filesystem; EPERM/EMLINK: links not allowed or too many: copy instead.
          if (!['EXDEV', 'EPERM', 'EMLINK', 'ENOTSUP'].includes(code(err) ?? '')) throw err;
        }
      }
      if (!linked) await copyFile(src, tmp, COPY_NEW_FILE);
      await rename(tmp, resolve(destPath));
      options.onProgress?.({ key: k, bytes: st.size, totalBytes: st.size });
      return st;
    } catch (err) {
      await unlink(tmp).catch(() => {});
      throw mapFsError(err, k, 'read');
    }
  }

  async read(key: string): Promise<Buffer> {
    const k = validateKey(key);
    try {
      return await this.onDisk(k, (abs) => readFile(abs));
    } catch (err) {
      throw mapFsError(err, k, 'read');
    }
  }

  async list(prefix = ''): Promise<DriveStat[]> {
    const p = validatePrefix(prefix);
    // Walk only the deepest directory the prefix pins down.
    const slash = p.lastIndexOf('/');
    const base = slash < 0 ? '' : p.slice(0, slash);
    const baseAbs = base === '' ? this.root : this.pathOf(base);
    let files: Awaited<ReturnType<typeof walkFiles>>;
    try {
      files = await this.onDisk(
        base,
        () => walkFiles(baseAbs),
        (alt) => walkFiles(alt),
      );
    } catch (err) {
      if (['ENOENT', 'ENOTDIR'].includes(code(err) ?? '')) return [];
      throw mapFsError(err, p, 'list');
    }
    // Keys as read() takes them: NFC (another tool may have written NFD names), and only
    // names that are valid keys at all (a file named with a newline is not an object).
    const matching = files
      .map((f) => ({ key: asKey(base === '' ? f.relative : `${base}/${f.relative}`), abs: f.absolute }))
      .filter((f): f is { key: string; abs: string } => f.key?.startsWith(p) === true);
    const stats = await mapLimit(matching, 64, async (f) => {
      try {
        return statOf(f.key, await stat(f.abs, { bigint: true }));
      } catch {
        return undefined; // deleted while listing: not part of the answer
      }
    });
    return stats.filter((s): s is DriveStat => s !== undefined).sort((a, b) => compareKeys(a.key, b.key));
  }

  async stat(key: string): Promise<DriveStat> {
    const k = validateKey(key);
    try {
      const st = await this.onDisk(k, (abs) => stat(abs, { bigint: true }));
      if (!st.isFile()) throw Object.assign(new Error('not a file'), { code: 'ENOENT' });
      return statOf(k, st);
    } catch (err) {
      throw mapFsError(err, k, 'read');
    }
  }

  async exists(key: string): Promise<boolean> {
    const k = validateKey(key);
    try {
      return (await this.onDisk(k, (abs) => stat(abs))).isFile();
    } catch {
      return false;
    }
  }

  async delete(key: string): Promise<void> {
    const k = validateKey(key);
    let abs = this.pathOf(k);
    try {
      await this.onDisk(k, (path) => {
        abs = path;
        return unlink(path);
      });
    } catch (err) {
      // A missing key, or a "key" that is only a prefix (a directory), is not an object.
      if (['ENOENT', 'EISDIR', 'EPERM', 'ENOTDIR'].includes(code(err) ?? '')) return;
      throw mapFsError(err, k, 'delete');
    }
    await this.pruneEmptyDirs(dirname(abs));
  }

  /**
   * Every file under `dir` to `prefix`, each as atomic as a put(), in bulk (local-bulk.ts):
   * small files with synchronous calls, one symlink check and mkdir per directory.
   */
  async putDirectory(dir: string, prefix: string, options: PutOptions = {}): Promise<DriveStat[]> {
    // A precondition is per object (checked under the key's lock); an fsync must not block
    // the event loop: both take the one-object path.
    if (options.ifGeneration !== undefined || this.durable)
      return putDirectoryWith(this, dir, prefix, options, this.concurrency);
    return putTree(this.bulkHost(), dir, prefix, options);
  }

  /** Every object under `prefix` into `dir`, in bulk: one link() (or small copy) per object. */
  async getDirectory(prefix: string, dir: string, options: GetOptions = {}): Promise<DriveStat[]> {
    // A prefix another tool may have written in NFD is found by the one-object path's lookup.
    if (!isAscii(prefix)) return getDirectoryWith(this, prefix, dir, options, this.concurrency);
    return getTree(this.bulkHost(), prefix, dir, options);
  }

  private bulkHost(): BulkHost {
    return {
      root: this.root,
      fetchMode: this.fetchMode,
      concurrency: this.concurrency,
      prepareDir: async (key, dir) => {
        this.realRoot ??= await realpath(this.root).catch(() => this.root);
        await assertInsideRoot(this.root, this.realRoot, key, dir);
        await this.ensureDir(key, dir, true);
      },
      put: (key, source, options) => this.put(key, source, options),
      get: (key, destPath, options) => this.get(key, destPath, options),
    };
  }

  /**
   * Runs `fn` on the key's path; if that is missing and the key is not ASCII, on the file whose
   * name is the key in another normalization form (NFD from another tool), if there is one.
   */
  private async onDisk<T>(
    k: string,
    fn: (abs: string) => Promise<T>,
    onAlt: (abs: string) => Promise<T> = fn,
  ): Promise<T> {
    try {
      return await fn(k === '' ? this.root : this.pathOf(k));
    } catch (err) {
      if (code(err) !== 'ENOENT' || isAscii(k)) throw err;
      const alt = await denormalizedPath(this.root, k);
      if (alt === null) throw err;
      return onAlt(alt);
    }
  }

  private async existingPath(k: string): Promise<string> {
    return this.onDisk(
      k,
      async (abs) => {
        await stat(abs);
        return abs;
      },
      async (alt) => alt,
    );
  }

  private async ensureDir(key: string, dir: string, useCache: boolean): Promise<void> {
    if (useCache && this.knownDirs.has(dir)) return;
    for (let attempt = 0; ; attempt++) {
      try {
        await mkdir(dir, { recursive: true });
        this.rememberDir(dir);
        return;
      } catch (err) {
        const c = code(err);
        if (c === 'EEXIST' || c === 'ENOTDIR') {
          throw new DriveError(
            'CONFLICT',
            key,
            `Cannot put "${key}": a parent of it is already an object in the local Drive ${this.root}. ` +
              'A local Drive is a directory tree, so "a" and "a/b" cannot both be objects; choose another key or delete the object.',
            { cause: err },
          );
        }
        // A concurrent delete pruned a directory we were creating: try again.
        if (c === 'ENOENT' && attempt < 3) continue;
        throw mapFsError(err, key, 'write');
      }
    }
  }

  /** Directories known to exist save a mkdir per put; bounded so huge trees cannot grow it forever. */
  private rememberDir(dir: string): void {
    if (this.knownDirs.size > 10_000) this.knownDirs.clear();
    this.knownDirs.add(dir);
  }

  private async generationOrNone(abs: string): Promise<string | null> {
    try {
      const st = await stat(abs, { bigint: true });
      return st.isFile() ? generationOf(st) : null;
    } catch (err) {
      if (code(err) === 'ENOENT') return null;
      throw err;
    }
  }

  /**
   * Serialises conditional writers of one key across processes with an O_EXCL lock file in
   * the key's directory. The lock is held only for a stat and a rename; a lock left by a
   * process that died is broken once its pid is gone.
   */
  private async withKeyLock<T>(key: string, dir: string, fn: () => Promise<T>): Promise<T> {
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

  /** Removes directories emptied by a delete, up to (not including) the root, like GCS prefixes. */
  private async pruneEmptyDirs(dir: string): Promise<void> {
    let d = dir;
    while (d.startsWith(this.root + sep)) {
      try {
        await rmdir(d);
        this.knownDirs.delete(d);
      } catch {
        return; // not empty (or already gone): stop
      }
      d = dirname(d);
    }
  }
}

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

async function fsyncFile(path: string): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
