/**
 * Moving Paths between Works through a Drive: the work daemon calls `fetchPath` for each
 * input before the script starts, `releaseOutputs` right after, and `uploadOutputs` after a
 * successful call.
 *
 * On a local Drive nothing is copied along the way: a fetch is a hard link to the object,
 * an upload hands the Work's file to the Drive as the object (PutOptions.linkSource), so a
 * file passed through a chain of Works is stored once. The objects stay immutable because a
 * handed-over file is read-only and releaseOutputs replaces it with a private copy before
 * the Work that wrote it runs again.
 */
import { constants } from 'node:fs';
import { chmod, copyFile, lstat, readdir, rename, stat, unlink } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import type { Drive, TransferProgress } from '../../constructs/drive.ts';
import { validateKey } from '../../constructs/drive-key.ts';
import { DriveError } from '../../constructs/errors.ts';
import { Path } from '../../constructs/path.ts';
import { AggregateProgress, tempName, walkFiles } from './drive-util.ts';

/**
 * Places the file or directory named by `path` at `destAbs` (a file path, or a directory
 * for a directory Path). Locally this is a hard link (or a copy-on-write clone / copy when
 * linking is impossible); on GCS a download with integrity check. Returns `destAbs`.
 *
 * @example
 * await fetchPath(drive, Path.fromJSON(arg), join(workDir, 'model.pt'));
 */
export async function fetchPath(
  drive: Drive,
  path: Path,
  destAbs: string,
  onProgress?: (p: TransferProgress) => void,
): Promise<string> {
  if (path.drive !== drive.name) {
    throw new DriveError(
      'NOT_FOUND',
      path.key,
      `Path "${path.key}" (from ${path.origin}) is in Drive "${path.drive}", but this daemon has Drive "${drive.name}" ` +
        `(${drive.url}). Pass Paths from the app's own Drive.`,
    );
  }
  const dest = resolve(destAbs);
  const progress = onProgress ? { onProgress } : {};
  if (path.isDirectory) {
    const got = await drive.getDirectory(path.key, dest, progress);
    if (got.length === 0) {
      throw new DriveError(
        'NOT_FOUND',
        path.key,
        `Path "${path.key}" (output of ${path.origin}) has no files in the Drive (${drive.url}). ` +
          `${path.origin} has not succeeded yet, or its output directory was empty: wait for its success ` +
          `(check ${path.origin}.hasSucceeded in the flow) before passing the Path.`,
      );
    }
  } else {
    try {
      await drive.get(path.key, dest, progress);
    } catch (err) {
      if (err instanceof DriveError && err.driveCode === 'NOT_FOUND') {
        throw new DriveError(
          'NOT_FOUND',
          path.key,
          `Path "${path.key}" (output of ${path.origin}) is not in the Drive (${drive.url}). ${path.origin} has not ` +
            `succeeded yet or did not declare it as an output: wait for ${path.origin}.hasSucceeded before passing it.`,
          { cause: err },
        );
      }
      throw err;
    }
  }
  return dest;
}

/**
 * Uploads a Work's declared outputs (files, or directories with a trailing `/`) from
 * `workDir` to the keys `works/<workName>/<output>`, exactly as `Work.output()` names them,
 * and returns their Paths. Every output is checked before anything is uploaded; missing or
 * mis-declared ones fail together in one error naming each file. A directory output
 * replaces the previous call's: objects under its prefix that the new call did not write
 * are deleted after the upload, so consumers never see a mix of two runs.
 *
 * @example
 * const paths = await uploadOutputs(drive, 'root.train', workDir, ['model.pt', 'lightning_logs/']);
 */
export async function uploadOutputs(
  drive: Drive,
  workName: string,
  workDir: string,
  outputs: readonly string[],
  onProgress?: (p: TransferProgress) => void,
): Promise<Path[]> {
  const root = resolve(workDir);
  const problems: string[] = [];
  const plan: { key: string; src: string; dir: boolean; size: number }[] = [];
  for (const out of outputs) {
    const key = validateKey(`works/${workName}/${out}`, { allowDirectory: true });
    const dir = key.endsWith('/');
    const src = resolve(root, out);
    const st = await stat(src).catch(() => undefined);
    if (!st) {
      problems.push(
        `"${out}": ${src} does not exist (the script must write it, relative to its cwd ${root})`,
      );
    } else if (dir && !st.isDirectory()) {
      problems.push(`"${out}": declared as a directory (trailing "/") but ${src} is a file; drop the "/"`);
    } else if (!dir && st.isDirectory()) {
      problems.push(`"${out}": ${src} is a directory; declare it as "${out}/"`);
    } else if (!dir) {
      plan.push({ key, src, dir, size: st.size });
    } else {
      const files = await walkFiles(src);
      plan.push({ key, src, dir, size: files.reduce((n, f) => n + f.size, 0) });
    }
  }
  if (problems.length > 0) {
    const first = outputs.find((o) => problems[0]?.startsWith(`"${o}"`)) ?? '';
    throw new DriveError(
      'NOT_FOUND',
      `works/${workName}/${first}`,
      `${workName} succeeded but ${problems.length === 1 ? 'a declared output is' : 'declared outputs are'} wrong, ` +
        `so nothing was uploaded:\n${problems.map((p) => `  - ${p}`).join('\n')}\n` +
        '  Fix the script or the `outputs` of the ScriptWork.',
    );
  }
  const total = plan.reduce((n, p) => n + p.size, 0);
  const agg = new AggregateProgress(`works/${workName}/`, total, onProgress);
  const paths: Path[] = [];
  for (const item of plan) {
    // The Work's files become the objects (no copy on a local Drive); releaseOutputs undoes
    // the sharing before the Work runs again.
    const progress = { linkSource: true, ...(agg.callback ? { onProgress: agg.callback } : {}) };
    if (item.dir) {
      const written = await drive.putDirectory(item.src, item.key, progress);
      const keep = new Set(written.map((s) => s.key));
      for (const stale of await drive.list(item.key)) {
        if (!keep.has(stale.key)) await drive.delete(stale.key);
      }
    } else {
      await drive.put(item.key, item.src, progress);
    }
    paths.push(new Path(drive.name, item.key, workName));
  }
  return paths;
}

/**
 * Gives a Work private, writable copies of its declared outputs that an earlier upload
 * handed over to the Drive (read-only files sharing their inode with an object), so the
 * Work cannot change an uploaded object by rewriting its file in place. Call it before the
 * Work runs again, after its inputs are fetched; `fetched` (the files just fetched, which are
 * links to objects on purpose) are left alone. Returns the files it copied.
 *
 * The copy is a copy-on-write clone where the filesystem can, else a full copy: the cost of
 * sharing, paid only by a Work that runs again, and only for the outputs it had handed over.
 */
export async function releaseOutputs(
  workDir: string,
  outputs: readonly string[],
  fetched: ReadonlySet<string> = new Set(),
): Promise<string[]> {
  const root = resolve(workDir);
  const released: string[] = [];
  const wasFetched = (file: string) =>
    fetched.has(file) || [...fetched].some((dir) => file.startsWith(dir.endsWith(sep) ? dir : dir + sep));
  const release = async (file: string): Promise<void> => {
    if (wasFetched(file)) return;
    const st = await lstat(file).catch(() => undefined);
    // Handed over: a read-only regular file with another name (the Drive object).
    if (!st?.isFile() || st.nlink < 2 || (st.mode & 0o222) !== 0) return;
    const tmp = join(dirname(file), tempName('tmp'));
    try {
      await copyFile(file, tmp, constants.COPYFILE_FICLONE | constants.COPYFILE_EXCL);
      await chmod(tmp, (st.mode & 0o7777) | 0o200);
      await rename(tmp, file);
    } catch (err) {
      await unlink(tmp).catch(() => {});
      throw err;
    }
    released.push(file);
  };
  for (const out of outputs) {
    const abs = resolve(root, out);
    if (!out.endsWith('/')) {
      await release(abs);
      continue;
    }
    const entries = await readdir(abs, { withFileTypes: true, recursive: true }).catch(() => []);
    for (const e of entries) if (e.isFile()) await release(join(e.parentPath, e.name));
  }
  return released;
}
