/**
 * Drive throughput, each number beside a baseline measured in the same run on the same
 * machine and files:
 *
 * - local Drive vs `cp` (one large file, many small files, both directions);
 * - GCS Drive vs direct @google-cloud/storage calls with the same parallelism, both
 *   against the same fake-gcs-server emulator;
 * - a Path handoff between two Works locally (uploadOutputs + fetchPath) vs `cp -r`.
 *
 * Run alone: `npx tsx bench/drive.bench.ts [--quick] [--repeats N] [--local-only]` (local rows:
 * medians of N repeats, 3 by default, 1 with --quick, measured as in bench/drive/local-vs-cp.ts).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, mkdtemp, open, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { Storage } from '@google-cloud/storage';
import { Path } from '../constructs/path.ts';
import { mapLimit } from '../daemon/drive/drive-util.ts';
import { LocalDrive } from '../daemon/drive/local-drive.ts';
import { openDrive } from '../daemon/drive/open-drive.ts';
import { fetchPath, uploadOutputs } from '../daemon/drive/path-transfer.ts';
import { startGcsEmulator } from '../test/support/gcs-emulator.ts';
import { benchLocalDrive } from './drive/local-vs-cp.ts';

import type { BenchRow } from './lib/row.ts';

const exec = promisify(execFile);

const MiB = 1024 * 1024;
/** Parallel transfers for many small files, for ours and the direct-client baseline alike. */
const GCS_CONCURRENCY = 32;

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return (performance.now() - t) / 1000;
}

async function makeLargeFile(path: string, bytes: number): Promise<void> {
  const fh = await open(path, 'w');
  try {
    const chunk = randomBytes(8 * MiB);
    for (let written = 0; written < bytes; written += chunk.length) {
      await fh.write(chunk, 0, Math.min(chunk.length, bytes - written));
    }
  } finally {
    await fh.close();
  }
}

async function makeSmallFiles(dir: string, count: number, size: number): Promise<string[]> {
  const rels = Array.from({ length: count }, (_, i) => `d${String(i % 100).padStart(2, '0')}/f${i}.bin`);
  await mapLimit(
    Array.from({ length: 100 }, (_, i) => i),
    16,
    (i) => mkdir(join(dir, `d${String(i).padStart(2, '0')}`), { recursive: true }),
  );
  await mapLimit(rels, 64, (rel) => writeFile(join(dir, rel), randomBytes(size)));
  return rels;
}

export async function benchDrive(
  opts: { quick?: boolean; repeats?: number; localOnly?: boolean } = {},
): Promise<BenchRow[]> {
  const repeats = opts.repeats ?? 1;
  const largeBytes = opts.quick ? 64 * MiB : 1024 * MiB;
  const smallCount = opts.quick ? 1000 : 10_000;
  const smallSize = 4096;
  const largeLabel = opts.quick ? '64 MiB' : '1 GiB';
  const rows: BenchRow[] = [];
  const base = await mkdtemp(join(tmpdir(), 'drive-bench-'));
  const emu = await startGcsEmulator();
  try {
    const src = join(base, 'large.bin');
    await makeLargeFile(src, largeBytes);
    const smallDir = join(base, 'small');
    const rels = await makeSmallFiles(smallDir, smallCount, smallSize);
    const mibps = (seconds: number) => largeBytes / MiB / seconds;
    const filesps = (seconds: number) => smallCount / seconds;

    // ---- local Drive vs cp: pairs under the same conditions (bench/drive/local-vs-cp.ts)
    rows.push(
      ...(await benchLocalDrive(
        { base, largeFile: src, largeLabel, largeMiB: largeBytes / MiB, smallDir, smallCount },
        repeats,
      )),
    );
    if (opts.localOnly) return rows;

    // ---- GCS Drive vs direct @google-cloud/storage, same emulator
    const storage = new Storage({ apiEndpoint: emu.endpoint, projectId: 'bench' });
    const [direct] = await storage.createBucket('bench-direct');
    const gcs = await openDrive('gs://bench-ours/app', {
      apiEndpoint: emu.endpoint,
      create: true,
      concurrency: GCS_CONCURRENCY,
    });
    const dUp = await timed(() => direct.upload(src, { destination: 'large.bin', resumable: true }));
    const oUp = await timed(() => gcs.put('large.bin', src));
    rows.push({
      scenario: `gcs put ${largeLabel} file`,
      ours: mibps(oUp),
      baseline: mibps(dUp),
      unit: 'MiB/s',
      higherIsBetter: true,
      note: 'baseline: bucket.upload (resumable), same emulator',
    });
    const dDown = await timed(() =>
      direct.file('large.bin').download({ destination: join(base, 'direct-down.bin') }),
    );
    const oDown = await timed(() => gcs.get('large.bin', join(base, 'ours-down.bin')));
    rows.push({
      scenario: `gcs get ${largeLabel} file`,
      ours: mibps(oDown),
      baseline: mibps(dDown),
      unit: 'MiB/s',
      higherIsBetter: true,
      note: 'baseline: file.download, same emulator; both check CRC32C',
    });
    await rm(join(base, 'direct-down.bin'), { force: true });
    await rm(join(base, 'ours-down.bin'), { force: true });

    const dUpSmall = await timed(() =>
      mapLimit(rels, GCS_CONCURRENCY, (rel) =>
        direct.upload(join(smallDir, rel), { destination: `small/${rel}`, resumable: false }),
      ),
    );
    const oUpSmall = await timed(() => gcs.putDirectory(smallDir, 'small/'));
    rows.push({
      scenario: `gcs put ${smallCount} x 4 KiB files`,
      ours: filesps(oUpSmall),
      baseline: filesps(dUpSmall),
      unit: 'files/s',
      higherIsBetter: true,
      note: `baseline: bucket.upload x${GCS_CONCURRENCY} parallel`,
    });
    const dDownSmall = await timed(async () => {
      const [files] = await direct.getFiles({ prefix: 'small/' });
      await mapLimit(files, GCS_CONCURRENCY, (f) =>
        f.download({ destination: join(base, 'direct-small', f.name) }).catch(async () => {
          await mkdir(join(base, 'direct-small', f.name, '..'), { recursive: true });
          return f.download({ destination: join(base, 'direct-small', f.name) });
        }),
      );
    });
    const oDownSmall = await timed(() => gcs.getDirectory('small/', join(base, 'ours-small')));
    rows.push({
      scenario: `gcs get ${smallCount} x 4 KiB files`,
      ours: filesps(oDownSmall),
      baseline: filesps(dDownSmall),
      unit: 'files/s',
      higherIsBetter: true,
      note: `baseline: list + file.download x${GCS_CONCURRENCY} parallel`,
    });

    // ---- Path handoff between two Works, locally
    const trainDir = join(base, 'works', 'root.train');
    const serveDir = join(base, 'works', 'root.serve');
    await mkdir(join(trainDir, 'lightning_logs'), { recursive: true });
    await mkdir(serveDir, { recursive: true });
    await exec('cp', [src, join(trainDir, 'model.pt')]);
    await exec('cp', ['-r', join(smallDir, 'd00'), join(trainDir, 'lightning_logs', 'version_0')]);
    const appDrive = await new LocalDrive(join(base, 'app-drive')).init();
    const handoff = await timed(async () => {
      const [model, logs] = await uploadOutputs(appDrive, 'root.train', trainDir, [
        'model.pt',
        'lightning_logs/',
      ]);
      await fetchPath(appDrive, model as Path, join(serveDir, 'model.pt'));
      await fetchPath(appDrive, logs as Path, join(serveDir, 'lightning_logs'));
    });
    const cpHandoff = await timed(() => exec('cp', ['-r', trainDir, join(base, 'works', 'cp-serve')]));
    rows.push({
      scenario: `local Path handoff train→serve (${largeLabel} model + logs dir)`,
      ours: handoff,
      baseline: cpHandoff,
      unit: 's',
      higherIsBetter: false,
      note: 'ours: upload into the Drive (the file is handed over, a hard link) + fetch (hard link); baseline: one cp -r between the work dirs',
    });
    rows.push(await chainDiskRow(base, src, largeBytes, largeLabel));
    return rows;
  } finally {
    await emu.stop();
    await rm(base, { recursive: true, force: true });
  }
}

/** Bytes of disk under `dirs`, each inode counted once (hard links share their blocks). */
async function diskUsage(dirs: readonly string[]): Promise<number> {
  const seen = new Set<number>();
  let bytes = 0;
  for (const dir of dirs) {
    for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
      if (!e.isFile()) continue;
      const st = await lstat(join(e.parentPath, e.name));
      if (!seen.has(st.ino)) bytes += st.blocks * 512;
      seen.add(st.ino);
    }
  }
  return bytes;
}

/**
 * A file passed through three Works (a's output is b's input and output, b's is c's): disk
 * used by the work dirs and the Drive together. Ours: uploadOutputs/fetchPath as the work
 * daemon calls them. Baseline: the same chain with uploads that copy (drive.put of the file,
 * what uploads did before PutOptions.linkSource), fetches still hard links.
 */
async function chainDiskRow(base: string, src: string, bytes: number, label: string): Promise<BenchRow> {
  const chain = async (
    name: string,
    upload: (drive: LocalDrive, work: string, dir: string) => Promise<Path>,
  ) => {
    const root = join(base, name);
    const drive = await new LocalDrive(join(root, 'drive')).init();
    const dirOf = (w: string) => join(root, 'works', w);
    await mkdir(dirOf('a'), { recursive: true });
    await exec('cp', [src, join(dirOf('a'), 'model.pt')]);
    let path = await upload(drive, 'a', dirOf('a'));
    for (const w of ['b', 'c']) {
      await fetchPath(drive, path, join(dirOf(w), 'model.pt'));
      path = await upload(drive, w, dirOf(w));
    }
    const used = await diskUsage([join(root, 'works'), join(root, 'drive')]);
    await rm(root, { recursive: true, force: true });
    return used / MiB;
  };
  const ours = await chain('chain-ours', async (drive, w, dir) => {
    const [p] = await uploadOutputs(drive, w, dir, ['model.pt']);
    return p as Path;
  });
  const copying = await chain('chain-copying', async (drive, w, dir) => {
    await drive.put(`works/${w}/model.pt`, join(dir, 'model.pt'));
    return new Path(drive.name, `works/${w}/model.pt`, w);
  });
  return {
    scenario: `local disk used by a ${label} Path passed through 3 works`,
    ours,
    baseline: copying,
    unit: 'MiB',
    higherIsBetter: false,
    target: `~${(bytes / MiB).toFixed(0)} MiB (one copy)`,
    met: ours < (bytes / MiB) * 1.05,
    note: 'work dirs + Drive, each inode once; baseline: the same chain with uploads that copy the file',
  };
}

function printRows(rows: BenchRow[]): void {
  const w = Math.max(...rows.map((r) => r.scenario.length));
  const range = (x: BenchRow['oursSpread']) =>
    x && x.n > 1 ? `(${x.min.toFixed(1)}–${x.max.toFixed(1)})` : '';
  for (const r of rows) {
    const ratio = r.higherIsBetter ? r.ours / r.baseline : r.baseline / r.ours;
    console.log(
      `${r.scenario.padEnd(w)}  ours ${r.ours.toFixed(1).padStart(9)} ${range(r.oursSpread).padEnd(17)} ${r.unit.padEnd(7)} baseline ${r.baseline.toFixed(1).padStart(9)} ${range(r.baselineSpread).padEnd(17)} ${r.unit.padEnd(7)} ${ratio.toFixed(2)}x  ${r.note ?? ''}`,
    );
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const quick = process.argv.includes('--quick');
  const i = process.argv.indexOf('--repeats');
  const repeats = i >= 0 ? Number(process.argv[i + 1]) : quick ? 1 : 3;
  printRows(await benchDrive({ quick, repeats, localOnly: process.argv.includes('--local-only') }));
}
