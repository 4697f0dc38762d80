import type { Spread } from './stats.ts';

/** One line of the benchmark table. Scenario modules (e.g. bench/drive.bench.ts) return these. */
export interface BenchRow {
  scenario: string;
  ours: number;
  /** NaN when a scenario has no baseline. */
  baseline: number;
  unit: string;
  higherIsBetter: boolean;
  note?: string;
  /** The target for this row, in words, e.g. "≥ 50,000/s". */
  target?: string;
  /** Whether the target was met (absent when the row has no target). */
  met?: boolean;
  /** `ours` over the repeats (ours is its median). */
  oursSpread?: Spread;
  /** `baseline` over the repeats. */
  baselineSpread?: Spread;
}

/**
 * How many times better ours is: ours/baseline when higher is better, baseline/ours when
 * lower is better (so "≥ 100× lower latency" reads as gain ≥ 100).
 */
export function gain(row: BenchRow): number {
  if (!Number.isFinite(row.ours) || !Number.isFinite(row.baseline)) return Number.NaN;
  return row.higherIsBetter ? row.ours / row.baseline : row.baseline / row.ours;
}
