/**
 * `lightning-local drive ls|cp|rm`: inspect and move Drive contents from a terminal, in the
 * app's local Drive or in a bucket.
 *
 * Locations:
 * - `drive:KEY`          KEY in the Drive given by `--drive` (default: the app's local Drive,
 *                        `.lightning/drive/default` in the current directory)
 * - `gs://bucket/KEY`    KEY in a bucket (emulator: --endpoint or STORAGE_EMULATOR_HOST)
 * - anything else        in `cp`: a local file or directory; in `ls`/`rm`: a key in `--drive`
 *
 * @example
 * lightning-local drive ls works/root.train/
 * lightning-local drive cp drive:works/root.train/model.pt ./model.pt
 * lightning-local drive cp ./data/ gs://my-bucket/datasets/v1/
 * lightning-local drive rm -r works/root.train/lightning_logs/
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import type { Command } from 'commander';
import type { Drive, DriveStat, TransferProgress } from '../constructs/drive.ts';
import { DriveError } from '../constructs/errors.ts';
import { localDriveDir, type OpenDriveOptions, openDrive } from '../daemon/drive/open-drive.ts';
import { formatBytes, stderrProgress } from '../daemon/drive/transfer-progress.ts';

interface DriveCliOptions {
  readonly drive?: string;
  readonly endpoint?: string;
}

/** A resolved command-line location: a key in a Drive, or a local path. */
type Location =
  | { readonly kind: 'drive'; readonly drive: Drive; readonly key: string }
  | { readonly kind: 'local'; readonly path: string; readonly intoDir: boolean };

export function registerDriveCommand(program: Command): void {
  const drive = program
    .command('drive')
    .description("Inspect and move Drive contents (the app's local Drive, or a GCS bucket)")
    .option(
      '--drive <url>',
      'Drive for drive:KEY and bare keys: a directory, file:///dir or gs://bucket/prefix',
    )
    .option(
      '--endpoint <url>',
      'GCS JSON API endpoint, e.g. an emulator (default: $STORAGE_EMULATOR_HOST or GCS)',
    )
    .addHelpText(
      'after',
      '\nLocations: drive:KEY (in --drive, default .lightning/drive/default), gs://bucket/KEY, or a local path (cp).',
    );

  drive
    .command('ls')
    .description('List objects under a prefix (sizes, times, generations with -l)')
    .argument('[prefix]', 'drive:PREFIX, gs://bucket/PREFIX, or a bare prefix in --drive', '')
    .option('-l, --long', 'show size, modification time and generation')
    .option('--json', 'print one JSON object per line')
    .action(async (prefix: string, opts: { long?: boolean; json?: boolean }, cmd: Command) => {
      const loc = await resolveLocation(prefix, globalOptions(cmd), 'key');
      if (loc.kind !== 'drive') throw new Error('unreachable');
      const objects = await loc.drive.list(loc.key);
      for (const o of objects) {
        if (opts.json) process.stdout.write(`${JSON.stringify(o)}\n`);
        else if (opts.long) {
          process.stdout.write(
            `${formatBytes(o.size).padStart(10)}  ${new Date(o.mtimeMs).toISOString()}  ${o.generation.padEnd(20)}  ${o.key}\n`,
          );
        } else process.stdout.write(`${o.key}\n`);
      }
      if (!opts.json) {
        const total = objects.reduce((n, o) => n + o.size, 0);
        process.stderr.write(
          `${objects.length} object${objects.length === 1 ? '' : 's'}, ${formatBytes(total)} in ${loc.drive.url}\n`,
        );
      }
    });

  drive
    .command('cp')
    .description('Copy a file or directory between the local disk and a Drive, or between Drives')
    .argument('<src>', 'drive:KEY, gs://bucket/KEY or a local path (a directory is copied whole)')
    .argument('<dst>', 'drive:KEY, gs://bucket/KEY or a local path (ending in "/": into that directory)')
    .action(async (src: string, dst: string, _opts: unknown, cmd: Command) => {
      const g = globalOptions(cmd);
      const from = await resolveLocation(src, g, 'path');
      const to = await resolveLocation(dst, g, 'path');
      const progress = stderrProgress();
      try {
        const n = await copy(from, to, progress.onProgress);
        progress.finish();
        process.stderr.write(`copied ${n.count} file${n.count === 1 ? '' : 's'}, ${formatBytes(n.bytes)}\n`);
      } catch (err) {
        progress.finish();
        throw err;
      }
    });

  drive
    .command('rm')
    .description('Delete objects (a missing key is not an error)')
    .argument('<keys...>', 'drive:KEY, gs://bucket/KEY or a bare key in --drive')
    .option('-r, --recursive', 'delete every object under each key taken as a prefix (KEY/)')
    .action(async (keys: string[], opts: { recursive?: boolean }, cmd: Command) => {
      const g = globalOptions(cmd);
      let deleted = 0;
      for (const k of keys) {
        const loc = await resolveLocation(k, g, 'key');
        if (loc.kind !== 'drive') throw new Error('unreachable');
        if (opts.recursive) {
          const prefix = loc.key.endsWith('/') ? loc.key : `${loc.key}/`;
          for (const o of await loc.drive.list(prefix)) {
            await loc.drive.delete(o.key);
            deleted++;
          }
        } else {
          if (loc.key.endsWith('/')) {
            throw new DriveError('INVALID_KEY', loc.key, `"${k}" names a directory.`, {
              fix: `use \`drive rm -r ${k}\` to delete everything under it`,
            });
          }
          if (await loc.drive.exists(loc.key)) deleted++;
          await loc.drive.delete(loc.key);
        }
      }
      process.stderr.write(`deleted ${deleted} object${deleted === 1 ? '' : 's'}\n`);
    });
}

function globalOptions(cmd: Command): DriveCliOptions {
  return (cmd.parent?.opts() ?? {}) as DriveCliOptions;
}

async function resolveLocation(arg: string, g: DriveCliOptions, bare: 'key' | 'path'): Promise<Location> {
  const open: OpenDriveOptions = g.endpoint ? { apiEndpoint: g.endpoint } : {};
  if (arg.startsWith('gs://')) {
    const m = /^gs:\/\/([^/]+)\/?(.*)$/.exec(arg);
    return { kind: 'drive', drive: await openDrive(`gs://${m?.[1] ?? ''}`, open), key: m?.[2] ?? '' };
  }
  if (arg.startsWith('drive:') || bare === 'key') {
    const key = arg.startsWith('drive:') ? arg.slice('drive:'.length) : arg;
    const url = g.drive ?? localDriveDir(process.cwd());
    if (!g.drive) {
      const exists = await stat(url).then(
        (s) => s.isDirectory(),
        () => false,
      );
      if (!exists) {
        throw new DriveError('NOT_FOUND', key, `No local Drive at ${url}.`, {
          fix: "run this in the app's directory (where .lightning/ is), or pass --drive <dir|gs://bucket/prefix>",
        });
      }
    }
    return { kind: 'drive', drive: await openDrive(url, { ...open, create: false }), key };
  }
  return { kind: 'local', path: resolve(arg), intoDir: arg.endsWith('/') };
}

interface CopyCount {
  count: number;
  bytes: number;
}

async function copy(
  from: Location,
  to: Location,
  onProgress: (p: TransferProgress) => void,
): Promise<CopyCount> {
  if (from.kind === 'local' && to.kind === 'local') {
    throw new DriveError('INVALID_KEY', '', 'Both sides of `drive cp` are local paths.', {
      fix: 'make one side drive:KEY or gs://bucket/KEY',
    });
  }
  const count = (stats: DriveStat[]): CopyCount => ({
    count: stats.length,
    bytes: stats.reduce((n, s) => n + s.size, 0),
  });

  if (from.kind === 'local' && to.kind === 'drive') {
    const st = await stat(from.path).catch(() => undefined);
    if (!st) {
      throw new DriveError('NOT_FOUND', to.key, `Local source ${from.path} does not exist.`, {
        fix: 'check the path (it is resolved against the current directory)',
      });
    }
    if (st.isDirectory())
      return count(await to.drive.putDirectory(from.path, to.key || basename(from.path), { onProgress }));
    const key = to.key === '' || to.key.endsWith('/') ? `${to.key}${basename(from.path)}` : to.key;
    return count([await to.drive.put(key, from.path, { onProgress })]);
  }

  if (from.kind === 'drive' && to.kind === 'local') {
    const dir = await isDirectorySource(from.drive, from.key);
    // '' (the whole Drive) is a directory source too.
    if (dir !== undefined) return count(await from.drive.getDirectory(dir, to.path, { onProgress }));
    const intoDir =
      to.intoDir ||
      (await stat(to.path).then(
        (s) => s.isDirectory(),
        () => false,
      ));
    const dest = intoDir ? join(to.path, basename(from.key)) : to.path;
    return count([await from.drive.get(from.key, dest, { onProgress })]);
  }

  if (from.kind === 'drive' && to.kind === 'drive') {
    // Between Drives (e.g. local → bucket): through a temp directory, one object at a time.
    const tmp = await mkdtemp(join(tmpdir(), 'drive-cp-'));
    try {
      const dir = await isDirectorySource(from.drive, from.key);
      const objects = dir !== undefined ? await from.drive.list(dir) : [await from.drive.stat(from.key)];
      const out: DriveStat[] = [];
      for (const o of objects) {
        const file = join(tmp, 'object');
        await from.drive.get(o.key, file, { onProgress });
        const rel = dir !== undefined ? o.key.slice(dir.length) : basename(o.key);
        const key =
          dir !== undefined || to.key === '' || to.key.endsWith('/') ? `${withSlash(to.key)}${rel}` : to.key;
        out.push(await to.drive.put(key, file, { onProgress }));
        await rm(file, { force: true });
      }
      return count(out);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }
  throw new Error('unreachable');
}

/** The prefix to copy if `key` names a directory (ends in "/" or only has objects under it). */
async function isDirectorySource(drive: Drive, key: string): Promise<string | undefined> {
  if (key === '' || key.endsWith('/')) return key;
  if (await drive.exists(key)) return undefined;
  const prefix = `${key}/`;
  if ((await drive.list(prefix)).length > 0) return prefix;
  return undefined; // let get() report NOT_FOUND for the key
}

function withSlash(key: string): string {
  return key === '' || key.endsWith('/') ? key : `${key}/`;
}
