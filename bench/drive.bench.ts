/**
 * Drive throughput, each number beside a baseline measured in the same run on the same
 * machine and files:
 *
 * - local Drive vs `cp` (one large file, many small files, both directions);
 * - GCS Drive vs direct @google-cloud/storage calls with the same parallelism, both
 *   against the same fake-gcs-server emulator;
 * - a Path handoff between two Works locally (uploadOutputs + fetchPath) vs `cp -r`.
 *
 * Run alone: `npx tsx bench/drive.bench.ts [--quick]`.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { Storage } from '@google-cloud/storage';
import type { Path } from '../constructs/path.ts';
import { mapLimit } from '../daemon/drive/drive-util.ts';
import { LocalDrive } from '../daemon/drive/local-drive.ts';
import { openDrive } from '../daemon/drive/open-drive.ts';
import { fetchPath, uploadOutputs } from '../daemon/drive/path-transfer.ts';
import { startGcsEmulator } from '../test/support/gcs-emulator.ts';

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

export async function benchDrive(opts: { quick?: boolean } = {}): Promise<BenchRow[]> {
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

    // ---- local Drive vs cp
    const drive = await new LocalDrive(join(base, 'drive')).init();
    const copyDrive = new LocalDrive(join(base, 'drive'), { fetchMode: 'copy' });
    const cpLarge = await timed(() => exec('cp', [src, join(base, 'cp-large.bin')]));
    const putLarge = await timed(() => drive.put('large.bin', src));
    rows.push({
      scenario: `local put ${largeLabel} file`,
      ours: mibps(putLarge),
      baseline: mibps(cpLarge),
      unit: 'MiB/s',
      higherIsBetter: true,
      note: 'baseline: cp',
    });
    const cpBack = await timed(() =>
      exec('cp', [join(base, 'drive', 'large.bin'), join(base, 'cp-back.bin')]),
    );
    const getCopy = await timed(() => copyDrive.get('large.bin', join(base, 'got-copy.bin')));
    rows.push({
      scenario: `local get ${largeLabel} file (copy mode)`,
      ours: mibps(getCopy),
      baseline: mibps(cpBack),
      unit: 'MiB/s',
      higherIsBetter: true,
      note: 'baseline: cp',
    });
    const getLink = await timed(() => drive.get('large.bin', join(base, 'got-link.bin')));
    rows.push({
      scenario: `local get ${largeLabel} file (hard link, default)`,
      ours: mibps(getLink),
      baseline: mibps(cpBack),
      unit: 'MiB/s',
      higherIsBetter: true,
      note: 'baseline: cp; a link copies no bytes',
    });

    const cpSmall = await timed(() => exec('cp', ['-r', smallDir, join(base, 'cp-small')]));
    const putSmall = await timed(() => drive.putDirectory(smallDir, 'small/'));
    rows.push({
      scenario: `local put ${smallCount} x 4 KiB files`,
      ours: filesps(putSmall),
      baseline: filesps(cpSmall),
      unit: 'files/s',
      higherIsBetter: true,
      note: 'baseline: cp -r',
    });
    const cpSmallBack = await timed(() =>
      exec('cp', ['-r', join(base, 'drive', 'small'), join(base, 'cp-small-back')]),
    );
    const getSmall = await timed(() => drive.getDirectory('small/', join(base, 'got-small')));
    rows.push({
      scenario: `local get ${smallCount} x 4 KiB files`,
      ours: filesps(getSmall),
      baseline: filesps(cpSmallBack),
      unit: 'files/s',
      higherIsBetter: true,
      note: 'baseline: cp -r; ours hard-links',
    });
    await rm(join(base, 'drive'), { recursive: true, force: true });
    for (const d of [
      'cp-large.bin',
      'cp-back.bin',
      'got-copy.bin',
      'got-link.bin',
      'cp-small',
      'cp-small-back',
      'got-small',
    ]) {
      await rm(join(base, d), { recursive: true, force: true });
    }

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
      note: 'ours: upload into the Drive + fetch (hard link); baseline: one cp -r between the work dirs',
    });
    return rows;
  } finally {
    await emu.stop();
    await rm(base, { recursive: true, force: true });
  }
}

function printRows(rows: BenchRow[]): void {
  const w = Math.max(...rows.map((r) => r.scenario.length));
  for (const r of rows) {
    const ratio = r.higherIsBetter ? r.ours / r.baseline : r.baseline / r.ours;
    console.log(
      `${r.scenario.padEnd(w)}  ours ${r.ours.toFixed(1).padStart(9)} ${r.unit.padEnd(7)} baseline ${r.baseline.toFixed(1).padStart(9)} ${r.unit.padEnd(7)} ${ratio.toFixed(2)}x  ${r.note ?? ''}`,
    );
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const quick = process.argv.includes('--quick');
  printRows(await benchDrive({ quick }));
}
