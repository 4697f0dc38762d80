/**
 * Finding capacity for one VM (ADR 0025): try the candidates in order (constructs/cloud/
 * run-time-plan.ts: zones of the region, then the fallback computes, then on-demand after
 * Spot), skipping what this run already learned is unavailable, as SkyPilot's failover does
 * with its per-launch blocklist:
 * - a zone that answered `ZONE_RESOURCE_POOL_EXHAUSTED` for a machine type (Spot or on-demand)
 *   is skipped for it for the rest of the run (capacity comes back, but not within one sweep);
 * - before the first insert of a GPU candidate, the region's quota is read: a metric without
 *   room (`limit - usage < gpuCount`) skips the candidate without an insert, and an insert
 *   answering `QUOTA_EXCEEDED` skips its other zones (quotas are regional);
 * - a candidate that would take the app over `maxHourlySpend` is refused.
 * Any other error (permission, missing template) ends the search at once: no zone fixes it.
 * Every attempt is recorded, in order, for the work's status and the flow's log.
 *
 * No cdktf imports: the flow role loads this.
 */
import type { RunTimeCandidate } from '../../constructs/cloud/run-time-plan.ts';
import { LightningError } from '../../constructs/errors.ts';
import { ComputeApiError, type RegionQuota } from './compute-api.ts';

export type AttemptOutcome = 'created' | 'stockout' | 'quota' | 'over-hourly-cap' | 'blocklisted' | 'error';

/** One try (or one skip) of a candidate in a zone. */
export interface Attempt {
  readonly candidate: string;
  readonly zone: string | null;
  readonly outcome: AttemptOutcome;
  readonly detail: string;
}

/** What the search needs from the outside: GCE, and what the app spends now. */
export interface CapacityPort {
  readonly region: string;
  insert(candidate: RunTimeCandidate, zone: string): Promise<void>;
  quotas(): Promise<readonly RegionQuota[]>;
  /** Why `candidate` may not start now (a spend cap), or undefined. */
  spendRefusal(candidate: RunTimeCandidate): string | undefined;
}

export class CapacityError extends LightningError {
  constructor(
    message: string,
    /** Machine-readable: 'no_capacity', 'quota', 'spend_cap' or 'compute_api'. */
    readonly reason: string,
    readonly attempts: readonly Attempt[],
  ) {
    super('CLOUD_CAPACITY', message);
  }
}

export const STOCKOUT = /^ZONE_RESOURCE_POOL_EXHAUSTED/;

/** Per-run memory of stocked-out zones; one instance per flow run. */
export class CapacitySearch {
  /**
   * "zone|machineType|model" that stocked out in this run. Spot and on-demand capacity are
   * separate pools, so a Spot stockout does not block the on-demand twin.
   */
  private readonly blocked = new Set<string>();

  /**
   * Capacity learned outside an insert (GCE refused to start a stopped VM for lack of it):
   * `zone` is skipped for `c`'s shape for the rest of the run, as after a stocked-out insert.
   */
  block(zone: string, c: RunTimeCandidate): void {
    this.blocked.add(`${zone}|${c.machineType}|${c.spot ? 'spot' : 'standard'}`);
  }

  /**
   * Places one VM: resolves with the candidate and zone it was created in and every attempt
   * before it; throws a CapacityError (with the attempts) when no candidate worked.
   * `onAttempt` sees each attempt as it happens.
   */
  async place(
    candidates: readonly RunTimeCandidate[],
    port: CapacityPort,
    onAttempt: (a: Attempt) => void = () => {},
  ): Promise<{ candidate: RunTimeCandidate; zone: string; attempts: Attempt[] }> {
    const attempts: Attempt[] = [];
    const record = (a: Attempt) => {
      attempts.push(a);
      onAttempt(a);
    };
    let quotas: readonly RegionQuota[] | undefined;
    for (const c of candidates) {
      const spend = port.spendRefusal(c);
      if (spend) {
        record({ candidate: c.label, zone: null, outcome: 'over-hourly-cap', detail: spend });
        continue;
      }
      if (c.quotaMetric) {
        quotas ??= await port.quotas();
        const q = quotas.find((x) => x.metric === c.quotaMetric);
        if (q && q.limit - q.usage < c.gpuCount) {
          record({
            candidate: c.label,
            zone: null,
            outcome: 'quota',
            detail: `quota ${q.metric} in ${port.region}: limit ${q.limit}, in use ${q.usage}, needs ${c.gpuCount}`,
          });
          continue;
        }
      }
      for (const zone of c.zones) {
        const key = `${zone}|${c.machineType}|${c.spot ? 'spot' : 'standard'}`;
        if (this.blocked.has(key)) {
          record({
            candidate: c.label,
            zone,
            outcome: 'blocklisted',
            detail: `${c.spot ? 'Spot ' : ''}${c.machineType} was out of capacity in ${zone} earlier in this run`,
          });
          continue;
        }
        try {
          await port.insert(c, zone);
          record({ candidate: c.label, zone, outcome: 'created', detail: `${c.machineType} in ${zone}` });
          return { candidate: c, zone, attempts };
        } catch (err) {
          if (!(err instanceof ComputeApiError)) throw err;
          if (STOCKOUT.test(err.gceCode)) {
            this.blocked.add(key);
            record({
              candidate: c.label,
              zone,
              outcome: 'stockout',
              detail: `${err.gceCode}: ${err.message}`,
            });
            continue;
          }
          if (err.gceCode === 'QUOTA_EXCEEDED') {
            record({ candidate: c.label, zone, outcome: 'quota', detail: err.message });
            quotas = undefined; // usage changed under us: read it again for the next candidate
            break;
          }
          record({ candidate: c.label, zone, outcome: 'error', detail: err.message });
          throw new CapacityError(`the Compute API refused: ${err.message}`, 'compute_api', attempts);
        }
      }
    }
    throw noCapacity(attempts, port.region);
  }
}

/** The error when every candidate failed, naming what to change (the quota, the cap, zones). */
function noCapacity(attempts: readonly Attempt[], region: string): CapacityError {
  const summary = attempts
    .map((a) => `${a.candidate}${a.zone ? ` in ${a.zone}` : ''}: ${a.outcome}`)
    .join('; ');
  const quota = attempts.find((a) => a.outcome === 'quota');
  if (attempts.every((a) => a.outcome === 'quota' || a.outcome === 'over-hourly-cap') && quota) {
    const metric = /quota '?([A-Z0-9_]+)'?/i.exec(quota.detail)?.[1] ?? 'the GPU quota';
    return new CapacityError(
      `no VM created: ${quota.detail}. Request more ${metric} in ${region} (console: IAM & Admin > Quotas, or gcloud compute regions describe ${region}), or declare a fallback compute the project has quota for. Attempts: ${summary}`,
      'quota',
      attempts,
    );
  }
  const cap = attempts.find((a) => a.outcome === 'over-hourly-cap');
  if (cap && attempts.every((a) => a.outcome === 'over-hourly-cap')) {
    return new CapacityError(`no VM created: ${cap.detail}`, 'spend_cap', attempts);
  }
  return new CapacityError(
    `no VM created: no zone of ${region} had capacity for any declared compute. Attempts: ${summary}. Try again later, add a fallback (CloudCompute.named('gpu-l4', { fallback: ['gpu-t4'] })) or allow onDemandFallback.`,
    'no_capacity',
    attempts,
  );
}
