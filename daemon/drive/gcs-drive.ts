/**
 * The GCS Drive backend (`gs://bucket/prefix`), on @google-cloud/storage v7. The app's
 * bucket in the cloud; an emulator or a real bucket locally.
 *
 * Invariants:
 * - Keys are validated by drive-key.ts before any request, exactly as locally; the object
 *   name is `<prefix>/<key>`.
 * - Every put is one object write (multipart for small data, one resumable session for
 *   large files and streams): GCS makes the object visible only when the write completes,
 *   so an interrupted upload leaves nothing under the key. Uploads carry a CRC32C that GCS
 *   checks; downloads are checked against the object's CRC32C/MD5 and land in a temp file
 *   renamed into place only when the check passed.
 * - `ifGeneration` maps to `ifGenerationMatch` (GCS's own compare-and-swap); a 412 is CONFLICT.
 * - Transient failures (5xx, 429, refused/reset connections) are retried here with capped
 *   exponential backoff (the client's own retries are off, so attempts are counted and the
 *   final error names the endpoint and the attempts). A stream source cannot be replayed,
 *   so its put is tried once.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { stat as fsStat, mkdir, rename, unlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Bucket, File, FileMetadata } from '@google-cloud/storage';
import { Storage } from '@google-cloud/storage';
import type {
  Drive,
  DriveStat,
  GetOptions,
  PutOptions,
  PutSource,
  TransferProgress,
} from '../../constructs/drive.ts';
import { validateKey, validatePrefix } from '../../constructs/drive-key.ts';
import { DriveError } from '../../constructs/errors.ts';
import type { OpenDriveOptions } from './drive-options.ts';
import { compareKeys, getDirectoryWith, putDirectoryWith, tempName } from './drive-util.ts';
import { errCode, gcsDriveError, httpStatus, isTransient } from './gcs-errors.ts';

const GCS_ENDPOINT = 'https://storage.googleapis.com';

export class GcsDrive implements Drive {
  readonly name: string;
  readonly url: string;
  readonly bucketName: string;
  /** Object-name prefix ('' or ending in '/'). */
  readonly prefix: string;
  /** The JSON API endpoint requests go to (named in errors). */
  readonly endpoint: string;
  private readonly bucket: Bucket;
  private readonly maxRetries: number;
  private readonly retryDelayMs: number;
  private readonly resumableThreshold: number;
  private readonly concurrency: number;

  private constructor(url: string, bucketName: string, prefix: string, options: OpenDriveOptions) {
    this.url = url;
    this.bucketName = bucketName;
    this.prefix = prefix;
    this.name = options.name ?? 'default';
    const emulator = process.env.STORAGE_EMULATOR_HOST;
    const apiEndpoint = options.apiEndpoint
      ? withScheme(options.apiEndpoint)
      : emulator
        ? withScheme(emulator)
        : undefined;
    this.endpoint = apiEndpoint ?? GCS_ENDPOINT;
    // The client takes STORAGE_EMULATOR_HOST as its base URL verbatim, without the
    // `/storage/v1` path the JSON API (and fake-gcs-server) expects. We resolve the endpoint
    // ourselves and hide the variable while the (synchronous) constructor reads it.
    const saved = process.env.STORAGE_EMULATOR_HOST;
    delete process.env.STORAGE_EMULATOR_HOST;
    let storage: Storage;
    try {
      storage = new Storage({
        ...(apiEndpoint ? { apiEndpoint } : {}),
        ...(options.projectId
          ? { projectId: options.projectId }
          : apiEndpoint
            ? { projectId: 'emulator' }
            : {}),
        retryOptions: { autoRetry: false },
      });
    } finally {
      if (saved !== undefined) process.env.STORAGE_EMULATOR_HOST = saved;
    }
    this.bucket = storage.bucket(bucketName);
    this.maxRetries = options.maxRetries ?? 5;
    this.retryDelayMs = options.retryDelayMs ?? 250;
    this.resumableThreshold = options.resumableThresholdBytes ?? 16 * 1024 * 1024;
    this.concurrency = options.concurrency ?? 32;
  }

  /** Parses `gs://bucket[/prefix]`, and creates the bucket when `options.create` (emulators, tests). */
  static async open(url: string, options: OpenDriveOptions = {}): Promise<GcsDrive> {
    const m = /^gs:\/\/([a-z0-9][a-z0-9._-]{1,221}[a-z0-9])(?:\/(.*))?$/.exec(url);
    if (!m) {
      throw new DriveError(
        'INVALID_KEY',
        '',
        `Drive URL "${url}" is not a GCS URL: use gs://bucket or gs://bucket/prefix (bucket names are 3-222 ` +
          'lowercase letters, digits, ".", "_" and "-").',
      );
    }
    const rawPrefix = (m[2] ?? '').replace(/\/+$/, '');
    const prefix = rawPrefix === '' ? '' : `${validateKey(rawPrefix)}/`;
    const drive = new GcsDrive(url.replace(/\/+$/, ''), m[1] as string, prefix, options);
    if (options.create) await drive.createBucketIfMissing();
    return drive;
  }

  private async createBucketIfMissing(): Promise<void> {
    await this.retry('', 'create bucket', true, async () => {
      const [exists] = await this.bucket.exists();
      if (!exists) {
        try {
          await this.bucket.create();
        } catch (err) {
          if (httpStatus(err) !== 409) throw err; // created meanwhile by someone else
        }
      }
    });
  }

  private objectName(key: string): string {
    return this.prefix + key;
  }

  private file(key: string): File {
    return this.bucket.file(this.objectName(key));
  }

  async put(key: string, source: PutSource, options: PutOptions = {}): Promise<DriveStat> {
    const k = validateKey(key);
    const replayable = typeof source === 'string' || source instanceof Uint8Array;
    if (!replayable && !(source instanceof Readable)) {
      throw new DriveError(
        'IO',
        k,
        `Cannot put "${k}": the source must be a file path, bytes or a Readable stream.`,
      );
    }
    let size: number | null = null;
    if (typeof source === 'string') {
      size = await fsStat(source).then(
        (s) => s.size,
        (err: unknown) => {
          throw new DriveError(
            'NOT_FOUND',
            k,
            `Cannot put "${k}": source file ${source} is not readable (${errCode(err)}).`,
            {
              cause: err,
            },
          );
        },
      );
    } else if (source instanceof Uint8Array) {
      size = source.byteLength;
    }
    const onProgress = options.onProgress;
    return this.retry(k, 'upload', replayable, async () => {
      const file = this.file(k);
      const input =
        typeof source === 'string'
          ? createReadStream(source, { highWaterMark: 1024 * 1024 })
          : source instanceof Uint8Array
            ? Readable.from([Buffer.from(source.buffer, source.byteOffset, source.byteLength)])
            : source;
      onProgress?.({ key: k, bytes: 0, totalBytes: size });
      const gen = options.ifGeneration;
      const out = file.createWriteStream({
        resumable: size === null || size >= this.resumableThreshold,
        validation: 'crc32c',
        contentType: options.contentType ?? 'application/octet-stream',
        ...(gen !== undefined ? { preconditionOpts: { ifGenerationMatch: Number(gen) } } : {}),
      });
      await pipeline(input, progressCounter(k, size, onProgress), out);
      return this.statOf(k, file.metadata);
    });
  }

  async get(key: string, destPath: string, options: GetOptions = {}): Promise<DriveStat> {
    const k = validateKey(key);
    const dest = resolve(destPath);
    return this.retry(k, 'download', true, async () => {
      const file = this.file(k);
      // Metadata first: a missing key fails before any local file is created, and the
      // generation pins the download to the object we stat'ed.
      const [meta] = await file.getMetadata();
      const st = this.statOf(k, meta);
      await mkdir(dirname(dest), { recursive: true });
      const tmp = join(dirname(dest), tempName('get'));
      try {
        options.onProgress?.({ key: k, bytes: 0, totalBytes: st.size });
        const pinned = this.bucket.file(this.objectName(k), { generation: Number(st.generation) });
        await pipeline(
          pinned.createReadStream({ validation: 'crc32c' }),
          progressCounter(k, st.size, options.onProgress),
          createWriteStream(tmp, { highWaterMark: 1024 * 1024 }),
        );
        await rename(tmp, dest);
      } catch (err) {
        await unlink(tmp).catch(() => {});
        throw err;
      }
      return st;
    });
  }

  async read(key: string): Promise<Buffer> {
    const k = validateKey(key);
    return this.retry(k, 'download', true, async () => {
      const [buf] = await this.file(k).download({ validation: 'crc32c' });
      return buf;
    });
  }

  async list(prefix = ''): Promise<DriveStat[]> {
    const p = validatePrefix(prefix);
    const files = await this.retry(p, 'list', true, async () => {
      const [fs] = await this.bucket.getFiles({ prefix: this.objectName(p), autoPaginate: true });
      return fs;
    });
    const out: DriveStat[] = [];
    for (const f of files) {
      const key = f.name.slice(this.prefix.length);
      // Objects written by other tools under names our keys cannot express are not ours.
      if (!isValidKey(key)) continue;
      out.push(this.statOf(key, f.metadata));
    }
    return out.sort((a, b) => compareKeys(a.key, b.key));
  }

  async stat(key: string): Promise<DriveStat> {
    const k = validateKey(key);
    return this.retry(k, 'stat', true, async () => {
      const [meta] = await this.file(k).getMetadata();
      return this.statOf(k, meta);
    });
  }

  async exists(key: string): Promise<boolean> {
    const k = validateKey(key);
    return this.retry(k, 'stat', true, async () => {
      const [exists] = await this.file(k).exists();
      return exists;
    });
  }

  async delete(key: string): Promise<void> {
    const k = validateKey(key);
    await this.retry(k, 'delete', true, async () => {
      await this.file(k).delete({ ignoreNotFound: true });
    });
  }

  async putDirectory(dir: string, prefix: string, options: PutOptions = {}): Promise<DriveStat[]> {
    return putDirectoryWith(this, dir, prefix, options, this.concurrency);
  }

  async getDirectory(prefix: string, dir: string, options: GetOptions = {}): Promise<DriveStat[]> {
    return getDirectoryWith(this, prefix, dir, options, this.concurrency);
  }

  private statOf(key: string, meta: FileMetadata): DriveStat {
    const updated = meta.updated ? Date.parse(meta.updated) : Number.NaN;
    return {
      key,
      size: Number(meta.size ?? 0),
      mtimeMs: Number.isFinite(updated) ? updated : Date.now(),
      generation: String(meta.generation ?? ''),
      ...(meta.md5Hash ? { md5: meta.md5Hash } : {}),
      ...(meta.crc32c ? { crc32c: meta.crc32c } : {}),
    };
  }

  /** Where a request for `key` went, as its errors name it. */
  private where(key: string): { object: string; bucket: string; endpoint: string } {
    return {
      object: `gs://${this.bucketName}/${this.objectName(key)}`,
      bucket: this.bucketName,
      endpoint: this.endpoint,
    };
  }

  /**
   * Runs `fn`, retrying transient failures with exponential backoff (jittered, capped at
   * 10 s) when the operation can be replayed; maps the final error to a DriveError.
   */
  private async retry<T>(key: string, op: string, replayable: boolean, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        const transient = isTransient(err);
        if (!transient || !replayable || attempt > this.maxRetries) {
          throw gcsDriveError(err, { key, op, attempts: attempt, ...this.where(key) });
        }
        const delay = Math.min(10_000, this.retryDelayMs * 2 ** (attempt - 1));
        await new Promise((r) => setTimeout(r, delay / 2 + Math.random() * (delay / 2)));
      }
    }
  }
}

function progressCounter(
  key: string,
  totalBytes: number | null,
  onProgress: ((p: TransferProgress) => void) | undefined,
): Transform {
  let bytes = 0;
  return new Transform({
    highWaterMark: 1024 * 1024,
    transform(chunk: Buffer, _enc, cb) {
      bytes += chunk.length;
      onProgress?.({ key, bytes, totalBytes });
      cb(null, chunk);
    },
  });
}

function isValidKey(key: string): boolean {
  try {
    return validateKey(key) === key;
  } catch {
    return false;
  }
}

/** `host:port`, `http://host:port/` or `http://host:port/storage/v1` → `http://host:port`. */
function withScheme(hostOrUrl: string): string {
  const url = /^https?:\/\//.test(hostOrUrl) ? hostOrUrl : `http://${hostOrUrl}`;
  return url.replace(/\/+$/, '').replace(/\/storage\/v1$/, '');
}
