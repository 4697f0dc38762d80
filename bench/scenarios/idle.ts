/** Scenario 2: what idle works cost the flow (CPU, RSS) and the daemons (RSS per work), beside Lightning. */
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import type { BenchRow } from '../lib/row.ts';
import { lightningAvailable, runLightningIdle } from '../lightning/run-lightning.ts';
import { runOursIdle } from '../runtime/run-ours.ts';
import { type BenchConfig, fmt, medians, spread } from './common.ts';

const _exec = promisify(execFile);
const _ROOT = resolve(import.meta.dirname, '../..');

// ---- Scenario 2: idle cost ----

/** Issue 12: daemon memory per local work. */
const DAEMON_MIB_PER_WORK_TARGET = 15;

export async function scenarioIdle(cfg: BenchConfig, sizes: readonly number[]): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const windowSec = cfg.quick ? 5 : 10;
  const haveLightning = lightningAvailable();
  for (const n of sizes) {
    // Each idle repeat holds a 10 s window twice (ours, Lightning): at most two repeats.
    const repeats = n >= 100 ? 1 : Math.min(cfg.repeats, 2);
    const ours = [];
    const theirs = [];
    // The layout before ADR 0022 (a process per work), same run; 100 of them would take
    // minutes to start on 2 cores and ~6 GB, so only at small N.
    const perProcess = [];
    for (let r = 0; r < repeats; r++) {
      cfg.log(`  idle: ${n} works, repeat ${r + 1}/${repeats}`);
      ours.push(await runOursIdle(n, windowSec));
      if (n <= 10) perProcess.push(await runOursIdle(n, windowSec, { worksPerProcess: 1 }));
      if (haveLightning) theirs.push(await runLightningIdle(n, windowSec));
    }
    const o = medians(ours);
    const t = theirs.length ? medians(theirs) : undefined;
    rows.push({
      scenario: `2 idle flow CPU, ${n} idle works (${windowSec} s window) vs Lightning`,
      ours: o.flowCpuPercentOfCore,
      baseline: t?.flowCpuPercentOfCore ?? Number.NaN,
      oursSpread: spread(ours, 'flowCpuPercentOfCore'),
      baselineSpread: spread(theirs, 'flowCpuPercentOfCore'),
      unit: '% of a core',
      higherIsBetter: false,
      ...(n === 100 ? { target: '< 1 %', met: o.flowCpuPercentOfCore < 1 } : {}),
      note: haveLightning
        ? `flow process only (works excluded; our ${fmt(o.daemonProcesses, 0)} daemon processes together ${fmt(o.daemonsCpuPercentOfCore, 2)} %); Lightning busy-polls its delta queue for the whole 150 ms of every pass`
        : 'Lightning venv missing: run scripts/setup-bench.sh',
    });
    rows.push({
      scenario: `2 idle flow memory (RSS), ${n} idle works vs Lightning`,
      ours: o.flowRssMiB,
      baseline: t?.flowRssMiB ?? Number.NaN,
      oursSpread: spread(ours, 'flowRssMiB'),
      baselineSpread: spread(theirs, 'flowRssMiB'),
      unit: 'MiB',
      higherIsBetter: false,
      ...(n === 100 ? { target: '≤ 80 MiB', met: o.flowRssMiB <= 80 } : {}),
    });
    const pp = perProcess.length ? medians(perProcess) : undefined;
    rows.push({
      scenario: `2 daemon memory per work (RSS of every daemon process ÷ works), ${n} works${pp ? ' vs a process per work' : ''}`,
      ours: o.daemonsRssMiB / n,
      baseline: pp ? pp.daemonsRssMiB / n : Number.NaN,
      unit: 'MiB',
      higherIsBetter: false,
      target: `≤ ${DAEMON_MIB_PER_WORK_TARGET} MiB`,
      met: o.daemonsRssMiB / n <= DAEMON_MIB_PER_WORK_TARGET,
      note: `${fmt(o.daemonProcesses, 0)} daemon hosts for ${n} works (ADR 0022), ${fmt(o.daemonsRssMiB, 0)} MiB together; RSS counts shared library pages in every process${pp ? `; baseline: \`run --works-per-process 1\`, ${fmt(pp.daemonProcesses, 0)} processes` : ''}`,
    });
  }
  return rows;
}
