/**
 * How the GCS Drive reads a failure of @google-cloud/storage (or of the HTTP layer below it):
 * whether it is worth retrying, and the DriveError it ends in, with what and where and how to
 * fix it.
 */
import { DriveError } from '../../constructs/errors.ts';

/** What a failed request was: the key, the operation, how often it was tried, and where it went. */
export interface GcsFailure {
  readonly key: string;
  /** 'put', 'get', 'list', ... as the message names it. */
  readonly op: string;
  readonly attempts: number;
  /** `gs://bucket/object`. */
  readonly object: string;
  readonly bucket: string;
  /** The JSON API endpoint. */
  readonly endpoint: string;
}

/**
 * The DriveError a GCS failure ends in: NOT_FOUND (object or bucket), CONFLICT (412),
 * INTEGRITY (checksum), IO (permissions, anything else) or UNAVAILABLE (transient, retries
 * spent), each naming the object, the endpoint and the fix.
 */
export function gcsDriveError(err: unknown, f: GcsFailure): DriveError {
  const { key, op, attempts, object: where } = f;
  if (err instanceof DriveError) return err;
  const status = httpStatus(err);
  const code = errCode(err);
  if (status === 404) {
    if (/bucket/i.test(errMessage(err)) && !/object/i.test(errMessage(err))) {
      return new DriveError(
        'NOT_FOUND',
        key,
        `Bucket "${f.bucket}" does not exist at ${f.endpoint}. Create it (Terraform creates the app's bucket; ` +
          'for an emulator pass create: true), or fix the Drive URL.',
        { cause: err },
      );
    }
    return new DriveError(
      'NOT_FOUND',
      key,
      `No object "${key}" in the Drive (${where}). Check the key with \`lightning-local drive ls\`.`,
      { cause: err },
    );
  }
  if (status === 412) {
    return new DriveError(
      'CONFLICT',
      key,
      `Precondition failed for "${key}" (${where}): its generation is not the expected one (another writer got ` +
        'there first). Nothing was written; re-read the object and retry with its current generation.',
      { cause: err },
    );
  }
  if (code === 'CONTENT_DOWNLOAD_MISMATCH' || code === 'FILE_NO_UPLOAD' || code === 'FILE_NO_UPLOAD_DELETE') {
    return new DriveError(
      'INTEGRITY',
      key,
      `Integrity check failed for "${key}" (${where}) during ${op}: the bytes do not match the object's checksum. ` +
        'Nothing was kept; retry, and if it persists the object or the network path is corrupt.',
      { cause: err },
    );
  }
  if (status === 401 || status === 403) {
    return new DriveError(
      'IO',
      key,
      `Permission denied for ${op} of ${where} at ${f.endpoint} (HTTP ${status}). Check the credentials ` +
        '(gcloud auth application-default login, or the VM service account) and its roles on the bucket.',
      { cause: err },
    );
  }
  if (isTransient(err)) {
    return new DriveError(
      'UNAVAILABLE',
      key,
      `GCS at ${f.endpoint} is unavailable for ${op} of "${key}" (${code ?? `HTTP ${status}`}) after ` +
        `${attempts} attempt${attempts === 1 ? '' : 's'} with backoff. Nothing was written. Check that the endpoint ` +
        'is reachable (for an emulator: is it running? STORAGE_EMULATOR_HOST / apiEndpoint) and retry.',
      { cause: err },
    );
  }
  return new DriveError('IO', key, `GCS ${op} of ${where} failed at ${f.endpoint}: ${errMessage(err)}`, {
    cause: err,
  });
}

/** Connection-level failures a retry can outlive. */
const TRANSIENT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_SOCKET',
]);

export function isTransient(err: unknown): boolean {
  const status = httpStatus(err);
  if (status !== undefined && [408, 429, 500, 502, 503, 504].includes(status)) return true;
  const code = errCode(err);
  if (code && TRANSIENT_CODES.has(code)) return true;
  return /ECONNREFUSED|ECONNRESET|socket hang up|other side closed/i.test(errMessage(err));
}

export function httpStatus(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const c = (err as { code?: unknown }).code;
  if (typeof c === 'number') return c;
  if (typeof c === 'string' && /^\d{3}$/.test(c)) return Number(c);
  const s = (err as { response?: { status?: unknown } }).response?.status;
  return typeof s === 'number' ? s : undefined;
}

export function errCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const c = (err as { code?: unknown }).code;
  if (typeof c === 'string' && !/^\d{3}$/.test(c)) return c;
  const cause = (err as { cause?: unknown }).cause;
  return cause && cause !== err ? errCode(cause) : undefined;
}

function errMessage(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause instanceof Error ? ` (${err.cause.message})` : '';
  return `${err.message}${cause}`;
}
