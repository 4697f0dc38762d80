/** Scenario 3: Lightning Apps 2.3.2 side by side with our stream figures (scenario 1's runs). */
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import type { BenchRow } from '../lib/row.ts';
import { lightningAvailable, runLightningStream } from '../lightning/run-lightning.ts';
import { type BenchConfig, fmt, medians, spread } from './common.ts';

const _exec = promisify(execFile);
const _ROOT = resolve(import.meta.dirname, '../..');

import { LIGHTNING_PACE_PER_WORK, type StreamFigures } from './streams.ts';

// ---- Scenario 3: Lightning Apps side by side ----

export async function scenarioLightning(cfg: BenchConfig, ours: StreamFigures): Promise<BenchRow[]> {
  if (!lightningAvailable()) {
    return [
      {
        scenario: '3 Lightning Apps side by side',
        ours: Number.NaN,
        baseline: Number.NaN,
        unit: '',
        higherIsBetter: true,
        note: 'not measured: .bench/lightning-venv is missing (run scripts/setup-bench.sh)',
      },
    ];
  }
  const rows: BenchRow[] = [];
  const seconds = 3;
  for (const n of [1, 10, 100]) {
    const mineRuns = ours.tight.get(n);
    if (!mineRuns) continue;
    const mine = medians(mineRuns);
    const runs = [];
    // 100 Lightning works take a minute to start on 2 cores: one repeat.
    const repeats = n >= 100 ? 1 : cfg.repeats;
    for (let r = 0; r < repeats; r++) {
      cfg.log(`  Lightning: ${n} works tight, repeat ${r + 1}/${repeats}`);
      runs.push(await runLightningStream({ works: n, mode: 'tight', seconds }));
    }
    const t = medians(runs);
    rows.push({
      scenario: `3 changes applied/s, ${n} work${n > 1 ? 's' : ''} (tight loop) vs Lightning 2.3.2`,
      ours: mine.appliedPerSec,
      baseline: t.appliedPerSec,
      oursSpread: spread(mineRuns, 'appliedPerSec'),
      baselineSpread: spread(runs, 'appliedPerSec'),
      unit: 'changes/s',
      higherIsBetter: true,
      target: '≥ 50×',
      met: mine.appliedPerSec >= 50 * t.appliedPerSec,
      note: `Lightning: each setattr deep-copies + DeepDiffs the work state (produced ${fmt(t.producedPerSec, 0)}/s), one delta per queue get, pass interval ${fmt(t.passIntervalMs, 0)} ms`,
    });
  }
  const mineRuns = ours.pacedLightningLoad;
  if (mineRuns) {
    const mine = medians(mineRuns);
    const runs = [];
    for (let r = 0; r < cfg.repeats; r++) {
      cfg.log(`  Lightning: 10 works paced, repeat ${r + 1}/${cfg.repeats}`);
      runs.push(
        await runLightningStream({ works: 10, mode: 'paced', seconds, ratePerWork: LIGHTNING_PACE_PER_WORK }),
      );
    }
    const t = medians(runs);
    for (const [label, field] of [
      ['p50', 'latencyP50Ms'],
      ['p99', 'latencyP99Ms'],
    ] as const) {
      const o = mine[field];
      const b = t[field];
      rows.push({
        scenario: `3 latency ${label}, 10 works at ${LIGHTNING_PACE_PER_WORK}/s each vs Lightning 2.3.2`,
        ours: o,
        baseline: b,
        oursSpread: spread(mineRuns, field),
        baselineSpread: spread(runs, field),
        unit: 'ms',
        higherIsBetter: false,
        target: '≥ 100× lower',
        met: b / o >= 100,
        note: 'Lightning waits the full 150 ms STATE_ACCUMULATE_WAIT every pass, then runs root.run() once',
      });
    }
  }
  return rows;
}
