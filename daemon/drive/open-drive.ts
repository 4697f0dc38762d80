/**
 * One entry point for every Drive backend, chosen by URL:
 *
 * - `file:///abs/dir` or a plain directory path → {@link LocalDrive}
 * - `gs://bucket` or `gs://bucket/prefix` → GcsDrive (loaded on demand, so local runs never
 *   load the Google client)
 *
 * @example
 * const drive = await openDrive('.lightning/drive/default');
 * const cloud = await openDrive('gs://my-app-drive/apps/demo', { apiEndpoint: 'http://127.0.0.1:4443' });
 */
import { chmod, mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Drive } from '../../constructs/drive.ts';
import { DriveError } from '../../constructs/errors.ts';
import type { OpenDriveOptions } from './drive-options.ts';
import { LocalDrive } from './local-drive.ts';

export type { OpenDriveOptions } from './drive-options.ts';

/**
 * Creates `<appDir>/.lightning` readable by its owner only (0700), or tightens one an earlier
 * version left world-readable: it holds the journal (state, `--set` values), logs, the UI
 * token and the local Drive. Returns its path.
 */
export async function ensureStateDir(appDir: string): Promise<string> {
  const dir = join(resolve(appDir), '.lightning');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // mkdir leaves an existing directory as it is; a directory we do not own stays as it is.
  await chmod(dir, 0o700).catch(() => {});
  return dir;
}

/** The app's local Drive directory: `<appDir>/.lightning/drive/<name>`. */
export function localDriveDir(appDir: string, name = 'default'): string {
  return join(resolve(appDir), '.lightning', 'drive', name);
}

/** Opens the Drive at `url` (see the module comment for the forms accepted). */
export async function openDrive(url: string, options: OpenDriveOptions = {}): Promise<Drive> {
  if (typeof url !== 'string' || url.trim() === '') {
    throw new DriveError('INVALID_KEY', '', 'No Drive URL given.', {
      fix: 'use a directory (".lightning/drive/default"), "file:///abs/dir" or "gs://bucket/prefix"',
    });
  }
  if (url.startsWith('gs://')) {
    const { GcsDrive } = await import('./gcs-drive.ts');
    return GcsDrive.open(url, options);
  }
  let dir: string;
  if (url.startsWith('file:')) {
    try {
      dir = fileURLToPath(url);
    } catch (err) {
      throw new DriveError('INVALID_KEY', '', `Drive URL "${url}" is not a valid file URL.`, {
        cause: err,
        fix: 'use file:///absolute/dir',
      });
    }
  } else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    throw new DriveError('INVALID_KEY', '', `Drive URL "${url}" has an unsupported scheme.`, {
      fix: 'use a directory, "file:///abs/dir" or "gs://bucket/prefix"',
    });
  } else {
    dir = resolve(url);
  }
  const drive = new LocalDrive(dir, {
    ...(options.name !== undefined ? { name: options.name } : {}),
    ...(options.fetchMode !== undefined ? { fetchMode: options.fetchMode } : {}),
    ...(options.durable !== undefined ? { durable: options.durable } : {}),
    ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
  });
  if (options.create ?? true) await drive.init();
  return drive;
}
