/** What every scenario module shares: the run's configuration and how repeats are summarised. */
import { median, type Spread, spreadOf } from '../lib/stats.ts';

export interface BenchConfig {
  readonly quick: boolean;
  readonly repeats: number;
  /** Prints progress lines. */
  readonly log: (line: string) => void;
}

export const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');

/** Medians of every numeric field over repeated results. */
export function medians<T extends object>(results: readonly T[]): T {
  const first = results[0] as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(first)) {
    const values = results.map((r) => (r as Record<string, unknown>)[key]);
    out[key] = typeof values[0] === 'number' ? median(values as number[]) : values[0];
  }
  return out as T;
}

/** min / median / max of one numeric field over repeated results. */
export function spread<T>(results: readonly T[], key: keyof T): Spread {
  return spreadOf(results.map((r) => r[key] as number));
}
