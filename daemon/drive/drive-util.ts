/**
 * Helpers shared by the Drive backends: key ordering, bounded parallelism, directory walks.
 * Both backends use the same helpers so that they give the same answers (same order, same
 * directory semantics) for the same calls.
 */
import { randomBytes } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Drive, DriveStat, GetOptions, PutOptions, TransferProgress } from '../../constructs/drive.ts';
import { RESERVED_SEGMENT_PREFIX, validateKey } from '../../constructs/drive-key.ts';
import { DriveError } from '../../constructs/errors.ts';

/** Orders keys by their UTF-8 bytes, as GCS lists objects. (JS `<` compares UTF-16 units.) */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * Validates a directory prefix (a key ending in `/`; a missing trailing `/` is added).
 * The empty prefix is the whole Drive.
 */
export function directoryPrefix(prefix: string): string {
  if (prefix === '') return '';
  const withSlash = prefix.endsWith('/') ? prefix : `${prefix}/`;
  return validateKey(withSlash, { allowDirectory: true });
}

/** A name for a temporary file; starts with the reserved prefix so no key can collide with it. */
export function tempName(kind: 'tmp' | 'get' | 'lock'): string {
  return `${RESERVED_SEGMENT_PREFIX}${kind}-${randomBytes(8).toString('hex')}`;
}

/** Runs `fn` over `items` with at most `limit` in flight; results keep the input order. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  async function worker(): Promise<void> {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i] as T, i);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  }
  const workers = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker);
  const settled = await Promise.allSettled(workers);
  const rejected = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (rejected) throw rejected.reason;
  return results;
}

export interface WalkedFile {
  /** `/`-separated path relative to the walked directory. */
  readonly relative: string;
  readonly absolute: string;
  readonly size: number;
}

/**
 * Every regular file under `dir` (following symlinks to files, not to directories, so a
 * link cycle cannot loop), skipping the Drive's reserved temp files. Sorted by key order.
 */
export async function walkFiles(dir: string): Promise<WalkedFile[]> {
  const out: WalkedFile[] = [];
  async function visit(abs: string, rel: string): Promise<void> {
    const entries = await readdir(abs, { withFileTypes: true });
    await mapLimit(entries, 32, async (entry) => {
      if (entry.name.startsWith(RESERVED_SEGMENT_PREFIX)) return;
      const childAbs = join(abs, entry.name);
      const childRel = rel === '' ? entry.name : `${rel}/${entry.name}`;
      if (entry.isDirectory()) return visit(childAbs, childRel);
      if (entry.isFile() || entry.isSymbolicLink()) {
        const st = await stat(childAbs).catch(() => undefined);
        if (st?.isFile()) out.push({ relative: childRel, absolute: childAbs, size: st.size });
      }
    });
  }
  await visit(dir, '');
  return out.sort((a, b) => compareKeys(a.relative, b.relative));
}

/**
 * Sums per-file progress of a multi-file transfer into one stream of events for the whole
 * transfer (`key` is the directory prefix).
 */
export class AggregateProgress {
  private readonly done = new Map<string, number>();
  private total = 0;
  constructor(
    private readonly key: string,
    private readonly totalBytes: number | null,
    private readonly onProgress: ((p: TransferProgress) => void) | undefined,
  ) {}
  update(p: TransferProgress): void {
    const before = this.done.get(p.key) ?? 0;
    this.done.set(p.key, p.bytes);
    this.total += p.bytes - before;
    this.onProgress?.({ key: this.key, bytes: this.total, totalBytes: this.totalBytes });
  }
  get callback(): ((p: TransferProgress) => void) | undefined {
    return this.onProgress ? (p) => this.update(p) : undefined;
  }
}

/** The local directory of a putDirectory cannot be walked (missing, unreadable). */
export function cannotUpload(dir: string, prefix: string, err: unknown): DriveError {
  const why = (err as NodeJS.ErrnoException)?.code ?? String(err);
  return new DriveError('NOT_FOUND', prefix, `Cannot upload directory ${dir} to "${prefix}": ${why}.`, {
    cause: err,
  });
}

/**
 * `putDirectory` for any backend: every file under `dir` to `prefix`, `concurrency` at a
 * time, with one aggregate progress for the whole directory.
 */
export async function putDirectoryWith(
  drive: Drive,
  dir: string,
  prefix: string,
  options: PutOptions,
  concurrency: number,
): Promise<DriveStat[]> {
  const p = directoryPrefix(prefix);
  const files = await walkFiles(resolve(dir)).catch((err: unknown) => {
    throw cannotUpload(dir, p, err);
  });
  const total = files.reduce((n, f) => n + f.size, 0);
  const agg = new AggregateProgress(p, total, options.onProgress);
  const { onProgress: _ignored, ...rest } = options;
  return mapLimit(files, concurrency, (f) =>
    drive.put(`${p}${f.relative}`, f.absolute, {
      ...rest,
      ...(agg.callback ? { onProgress: agg.callback } : {}),
    }),
  );
}

/** `getDirectory` for any backend: every object under `prefix` into `dir`. */
export async function getDirectoryWith(
  drive: Drive,
  prefix: string,
  dir: string,
  options: GetOptions,
  concurrency: number,
): Promise<DriveStat[]> {
  const p = directoryPrefix(prefix);
  const objects = await drive.list(p);
  const total = objects.reduce((n, o) => n + o.size, 0);
  const agg = new AggregateProgress(p, total, options.onProgress);
  return mapLimit(objects, concurrency, (o) =>
    drive.get(
      o.key,
      join(resolve(dir), o.key.slice(p.length)),
      agg.callback ? { onProgress: agg.callback } : {},
    ),
  );
}
