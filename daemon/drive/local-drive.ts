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
 *
 * This file is the Drive API over the directory tree; the bytes of one write are in
 * local-write.ts, putting it under its key (create-only, conditional, plain) in local-commit.ts.
 */
import { copyFile, link, mkdir, readFile, realpath, rename, rmdir, stat, unlink } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import type { Drive, DriveStat, GetOptions, PutOptions, PutSource } from '../../constructs/drive.ts';
import { validateKey, validatePrefix } from '../../constructs/drive-key.ts';
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
import { commitTemp } from './local-commit.ts';
import { asKey, code, mapFsError, statOf } from './local-objects.ts';
import { assertInsideRoot, denormalizedPath, isAscii } from './local-paths.ts';
import { COPY_NEW_FILE, fsyncFile, writeTemp } from './local-write.ts';

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
        await writeTemp(k, tmp, source, options.onProgress, this.durable);
      }
      await commitTemp(k, tmp, dest, options.ifGeneration);
      return statOf(k, await stat(dest, { bigint: true }));
    } catch (err) {
      await unlink(tmp).catch(() => {});
      throw err;
    }
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
