/** Scenarios 4 and 8: start-up until every work runs, and how start-up, memory and idle CPU grow with N. */
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { BenchRow } from '../lib/row.ts';
import { median, spreadOf } from '../lib/stats.ts';
import { lightningAvailable, runLightningIdle } from '../lightning/run-lightning.ts';
import { runOursIdle } from '../runtime/run-ours.ts';
import { type BenchConfig, fmt } from './common.ts';

const _exec = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');

// ---- Scenario 4: start-up ----

/** Issue 12's start-up targets, by N: [seconds, times faster than Lightning]. */
const STARTUP_TARGETS: Record<number, { readonly sec: number; readonly vsLightning?: number }> = {
  3: { sec: 1.5 },
  20: { sec: 1.0, vsLightning: 1.5 },
  100: { sec: 3 },
};

/** Drops the bench app's daemon bundle, so the next launch bundles anew (a first run after an edit). */
function dropBundleCache(): void {
  rmSync(join(ROOT, 'bench/apps/.lightning/bundle/inputs.json'), { force: true });
}

export async function scenarioStartup(cfg: BenchConfig): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const haveLightning = lightningAvailable();
  for (const n of [3, 20, 100]) {
    // 100 Lightning works take a minute to start on 2 cores: one repeat.
    const repeats = n >= 100 ? 1 : cfg.repeats;
    const ours = [];
    const theirs = [];
    const cold = [];
    const perProcess = [];
    for (let r = 0; r < repeats; r++) {
      cfg.log(`  start-up: ${n} works, repeat ${r + 1}/${repeats}`);
      ours.push((await runOursIdle(n, 0)).startupSec);
      if (n === 20) {
        dropBundleCache();
        cold.push((await runOursIdle(n, 0)).startupSec);
        perProcess.push((await runOursIdle(n, 0, { worksPerProcess: 1 })).startupSec);
      }
      if (haveLightning) theirs.push((await runLightningIdle(n, 0)).startupSec);
    }
    const mine = median(ours);
    const lightning = theirs.length ? median(theirs) : Number.NaN;
    const t = STARTUP_TARGETS[n]!;
    const met = mine <= t.sec && (t.vsLightning === undefined || lightning / mine >= t.vsLightning);
    rows.push({
      scenario: `4 start-up until every work runs, ${n} works vs Lightning 2.3.2`,
      ours: mine,
      baseline: lightning,
      oursSpread: spreadOf(ours),
      baselineSpread: spreadOf(theirs),
      unit: 's',
      higherIsBetter: false,
      target: `≤ ${t.sec} s${t.vsLightning ? ` and ≥ ${t.vsLightning}× faster` : ''}`,
      met,
      note: `\`lightning-local run\` launch → flow.run() sees all works running (daemon bundle reused); Lightning: \`lightning_app run app\` → same${repeats === 1 ? '; one repeat' : ''}`,
    });
    if (cold.length) {
      rows.push({
        scenario: `4 start-up, ${n} works, daemon bundle rebuilt (first run after an edit) vs Lightning 2.3.2`,
        ours: median(cold),
        baseline: lightning,
        unit: 's',
        higherIsBetter: false,
        note: 'as above with .lightning/bundle stale, so esbuild bundles app + runtime first',
      });
    }
    if (perProcess.length) {
      rows.push({
        scenario: `4 start-up, ${n} works: daemon hosts vs a process per work (the layout before ADR 0022)`,
        ours: mine,
        baseline: median(perProcess),
        unit: 's',
        higherIsBetter: false,
        note: 'baseline: `run --works-per-process 1`, same run',
      });
    }
  }
  return rows;
}

// ---- Scenario 8: scaling ----

/**
 * How our costs grow with the number of works (issue 12): start-up, memory and idle CPU at
 * 1 → 10 → 100 → 300 works, one launch each. No baseline: the growth is the figure.
 */
export async function scenarioScaling(cfg: BenchConfig): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const windowSec = cfg.quick ? 3 : 5;
  for (const n of cfg.quick ? [1, 10, 100] : [1, 10, 100, 300]) {
    cfg.log(`  scaling: ${n} works`);
    const r = await runOursIdle(n, windowSec);
    const row = (what: string, ours: number, unit: string, note?: string): BenchRow => ({
      scenario: `8 scaling, ${n} work${n > 1 ? 's' : ''}: ${what}`,
      ours,
      baseline: Number.NaN,
      unit,
      higherIsBetter: false,
      ...(note ? { note } : {}),
    });
    rows.push(row('start-up until every work runs', r.startupSec, 's'));
    rows.push(row('flow RSS', r.flowRssMiB, 'MiB'));
    rows.push(
      row(
        'daemon RSS per work',
        r.daemonsRssMiB / n,
        'MiB',
        `${fmt(r.daemonProcesses, 0)} daemon processes, ${fmt(r.daemonsRssMiB, 0)} MiB together`,
      ),
    );
    rows.push(
      row(
        `idle CPU, flow + daemons (${windowSec} s window)`,
        r.flowCpuPercentOfCore + r.daemonsCpuPercentOfCore,
        '% of a core',
        `flow ${fmt(r.flowCpuPercentOfCore, 2)} %, daemons ${fmt(r.daemonsCpuPercentOfCore, 2)} %`,
      ),
    );
  }
  return rows;
}
