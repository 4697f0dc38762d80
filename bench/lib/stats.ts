/**
 * Statistics shared by every scenario: medians over repeats, percentiles, and the join of
 * "when each change was made" with "when the flow observed which count" into per-change
 * latencies. Times are wall-clock milliseconds (`wallMs()` here, `time.time() * 1000` in the
 * Lightning app) so logs from different processes on one machine compare.
 */

/** Wall-clock milliseconds with sub-millisecond resolution (Date.now() has only 1 ms). */
export function wallMs(): number {
  return performance.timeOrigin + performance.now();
}

export function median(values: readonly number[]): number {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length === 0) return Number.NaN;
  const sorted = [...finite].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** How a figure varied over repeats: the table shows min–max beside the median. */
export interface Spread {
  readonly min: number;
  readonly median: number;
  readonly max: number;
  /** Repeats that gave a finite value. */
  readonly n: number;
}

/** min, median and max of the finite values (NaN for all three when there are none). */
export function spreadOf(values: readonly number[]): Spread {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length === 0) return { min: Number.NaN, median: Number.NaN, max: Number.NaN, n: 0 };
  return { min: Math.min(...finite), median: median(finite), max: Math.max(...finite), n: finite.length };
}

/** Nearest-rank percentile (p in 0..100) of a sorted array. */
export function percentileSorted(sorted: Float64Array | readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/** One observation of a work's counter by the flow (or the bare server): at `timeMs` it had `count`. */
export interface Observation {
  readonly timeMs: number;
  readonly count: number;
}

export interface StreamRunResult {
  /** Changes the producers made. */
  readonly produced: number;
  /** Changes the observer saw (the counter advances it observed). */
  readonly applied: number;
  /** applied / (last observation − first change), per second. */
  readonly appliedPerSec: number;
  /** produced / producing window, per second. */
  readonly producedPerSec: number;
  readonly latencyP50Ms: number;
  readonly latencyP99Ms: number;
  readonly latencyMaxMs: number;
}

/**
 * Joins producer logs with observer logs. `produced[w][i]` is when work w made its change
 * number i+1 (the counter went from i to i+1); `observed[w]` lists what the observer saw, in
 * time order. A change's latency is the first observation with count >= its number minus
 * when it was made. Changes never observed count as produced but not applied.
 */
export function joinStreams(
  produced: readonly Float64Array[],
  observed: readonly (readonly Observation[])[],
): StreamRunResult {
  let totalProduced = 0;
  let totalApplied = 0;
  let firstChange = Number.POSITIVE_INFINITY;
  let lastChange = Number.NEGATIVE_INFINITY;
  let lastObservation = Number.NEGATIVE_INFINITY;
  const latencies: number[] = [];
  for (let w = 0; w < produced.length; w++) {
    const made = produced[w]!;
    totalProduced += made.length;
    if (made.length > 0) {
      firstChange = Math.min(firstChange, made[0]!);
      lastChange = Math.max(lastChange, made[made.length - 1]!);
    }
    let seen = 0;
    for (const o of observed[w] ?? []) {
      const upTo = Math.min(o.count, made.length);
      if (upTo <= seen) continue;
      for (let i = seen; i < upTo; i++) latencies.push(o.timeMs - made[i]!);
      seen = upTo;
      lastObservation = Math.max(lastObservation, o.timeMs);
    }
    totalApplied += seen;
  }
  const sorted = Float64Array.from(latencies).sort();
  const span = lastObservation - firstChange;
  const window = lastChange - firstChange;
  return {
    produced: totalProduced,
    applied: totalApplied,
    appliedPerSec: span > 0 ? (totalApplied / span) * 1000 : Number.NaN,
    producedPerSec: window > 0 ? (totalProduced / window) * 1000 : Number.NaN,
    latencyP50Ms: percentileSorted(sorted, 50),
    latencyP99Ms: percentileSorted(sorted, 99),
    latencyMaxMs: sorted.length > 0 ? sorted[sorted.length - 1]! : Number.NaN,
  };
}

/** A growable Float64Array: producers log a timestamp per change without GC churn. */
export class TimeLog {
  private buf = new Float64Array(1 << 16);
  length = 0;
  push(v: number): void {
    if (this.length === this.buf.length) {
      const next = new Float64Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[this.length++] = v;
  }
  view(): Float64Array {
    return this.buf.subarray(0, this.length);
  }
}
