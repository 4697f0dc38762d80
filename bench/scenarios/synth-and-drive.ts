/** Scenarios 5 and 6: synthesis time, and the Drive rows (bench/drive.bench.ts). */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { type BenchRow, gain } from '../lib/row.ts';
import { median, spreadOf } from '../lib/stats.ts';
import { type BenchConfig, fmt } from './common.ts';

const exec = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');

// ---- Scenario 5: synthesis ----

export async function scenarioSynth(cfg: BenchConfig): Promise<BenchRow[]> {
  if (!existsSync(join(ROOT, 'constructs/cloud/synth.ts'))) {
    return [
      {
        scenario: '5 synthesis',
        ours: Number.NaN,
        baseline: Number.NaN,
        unit: 's',
        higherIsBetter: false,
        note: 'not available yet',
      },
    ];
  }
  const rows: BenchRow[] = [];
  for (const n of [1, 10, 50]) {
    const wall: number[] = [];
    const rss: number[] = [];
    for (let r = 0; r < cfg.repeats; r++) {
      cfg.log(`  synth: ${n} works, repeat ${r + 1}/${cfg.repeats}`);
      const { stdout } = await exec(
        process.execPath,
        ['--import', 'tsx', join(ROOT, 'bench/synth/synth-once.ts')],
        {
          cwd: ROOT,
          env: { ...process.env, BENCH_WORKS: String(n) },
        },
      );
      const result = JSON.parse(stdout.trim().split('\n').pop()!) as { wallMs: number; peakRssMiB: number };
      wall.push(result.wallMs / 1000);
      rss.push(result.peakRssMiB);
    }
    rows.push({
      scenario: `5 synthesis time, ${n} work${n > 1 ? 's' : ''} (fresh process)`,
      ours: median(wall),
      baseline: Number.NaN,
      oursSpread: spreadOf(wall),
      unit: 's',
      higherIsBetter: false,
      ...(n === 50 ? { target: '< 5 s', met: median(wall) < 5 } : {}),
      note: `peak RSS ${fmt(median(rss), 0)} MiB; no baseline (Lightning had no synthesis)`,
    });
  }
  return rows;
}

// ---- Scenario 6: Drive and Paths ----

export async function scenarioDrive(cfg: BenchConfig): Promise<BenchRow[]> {
  if (!existsSync(join(ROOT, 'bench/drive.bench.ts'))) {
    return [
      {
        scenario: '6 Drive',
        ours: Number.NaN,
        baseline: Number.NaN,
        unit: '',
        higherIsBetter: true,
        note: 'not available yet',
      },
    ];
  }
  const mod = (await import('../drive.bench.ts')) as {
    benchDrive(opts: { quick?: boolean; repeats?: number }): Promise<BenchRow[]>;
  };
  cfg.log('  Drive: bench/drive.bench.ts');
  return (await mod.benchDrive({ quick: cfg.quick, repeats: cfg.repeats })).map((row) => {
    const local = /^local (put|get)\b/.test(row.scenario);
    return {
      ...row,
      scenario: `6 ${row.scenario}`,
      ...(local ? { target: '≥ 0.9× cp', met: gain(row) >= 0.9 } : {}),
    };
  });
}
