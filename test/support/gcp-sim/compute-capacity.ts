/**
 * Capacity in the simulated Compute Engine: regional GPU quotas (what `regions.get` reports and
 * `instances.insert` enforces) and injected faults: a zone out of a machine type's resources
 * (`ZONE_RESOURCE_POOL_EXHAUSTED`, as GCE reports a GPU stockout), or every insert refused with
 * a quota error. GPU counts of a VM come from its template: the `guest_accelerator` block, else
 * the GPUs an A2/A3/G2 machine type carries (catalog.ts: what GCE attaches by machine type).
 */
import { fixedGpuOf, GPUS, type GpuTypeId } from '../../../constructs/cloud/catalog.ts';

/** The GPUs one VM of a template holds against the regional quota. */
export interface GpuUse {
  readonly metric: string;
  readonly count: number;
}

type Obj = Record<string, unknown>;

/** GPU quota a VM made from `template` (instance template properties) takes, if any. */
export function gpuUseOf(template: Obj): GpuUse | undefined {
  const acc = (template.guest_accelerator as Obj[] | undefined)?.[0];
  let gpu = acc?.type as GpuTypeId | undefined;
  let count = Number(acc?.count ?? 0);
  if (!gpu) {
    const fixed = fixedGpuOf(String(template.machine_type ?? ''));
    gpu = fixed?.gpu;
    count = fixed?.count ?? 0;
  }
  if (!gpu || count === 0) return undefined;
  const scheduling = (template.scheduling as Obj[] | undefined)?.[0];
  const spot = scheduling?.provisioning_model === 'SPOT' || scheduling?.preemptible === true;
  const metric = GPUS[gpu]?.quotaMetric ?? `${gpu.toUpperCase()}_GPUS`;
  return { metric: spot ? `PREEMPTIBLE_${metric}` : metric, count };
}

/** Why an insert fails, as GCE's operation error reports it. */
export interface CapacityError {
  readonly code: 'ZONE_RESOURCE_POOL_EXHAUSTED' | 'QUOTA_EXCEEDED';
  readonly message: string;
}

export class ComputeCapacity {
  /** zone → machine types out of stock there ('*' = every machine type). */
  private readonly stockouts = new Map<string, Set<string>>();
  /** region → metric → limit. Metrics not set: {@link defaultGpuLimit}. */
  private readonly limits = new Map<string, Map<string, number>>();
  /** The limit of a GPU metric nobody set (a project with some GPU quota granted). */
  defaultGpuLimit = 16;

  /** Injects a stockout: inserts of `machineType` (default: any) in `zone` fail until cleared. */
  stockout(zone: string, machineType = '*'): void {
    const set = this.stockouts.get(zone) ?? new Set<string>();
    set.add(machineType);
    this.stockouts.set(zone, set);
  }

  clearStockouts(): void {
    this.stockouts.clear();
  }

  /** Sets a regional quota limit, e.g. `setQuota('us-central1', 'NVIDIA_L4_GPUS', 0)`. */
  setQuota(region: string, metric: string, limit: number): void {
    const m = this.limits.get(region) ?? new Map<string, number>();
    m.set(metric, limit);
    this.limits.set(region, m);
  }

  limitOf(region: string, metric: string): number {
    return this.limits.get(region)?.get(metric) ?? this.defaultGpuLimit;
  }

  /** The quotas `regions.get` reports: every metric set or in use, with its usage. */
  quotas(
    region: string,
    usage: ReadonlyMap<string, number>,
  ): { metric: string; limit: number; usage: number }[] {
    const metrics = new Set([...(this.limits.get(region)?.keys() ?? []), ...usage.keys()]);
    return [...metrics].sort().map((metric) => ({
      metric,
      limit: this.limitOf(region, metric),
      usage: usage.get(metric) ?? 0,
    }));
  }

  /** Why inserting a VM of `template` in `zone` fails now, or undefined. Quota first, as GCE checks it first. */
  refusal(zone: string, template: Obj, usage: ReadonlyMap<string, number>): CapacityError | undefined {
    const region = zone.replace(/-[a-z]$/, '');
    const gpu = gpuUseOf(template);
    if (gpu) {
      const limit = this.limitOf(region, gpu.metric);
      const used = usage.get(gpu.metric) ?? 0;
      if (used + gpu.count > limit) {
        return {
          code: 'QUOTA_EXCEEDED',
          message: `Quota '${gpu.metric}' exceeded.  Limit: ${limit.toFixed(1)} in region ${region}.`,
        };
      }
    }
    const out = this.stockouts.get(zone);
    if (out && (out.has('*') || out.has(String(template.machine_type)))) {
      return {
        code: 'ZONE_RESOURCE_POOL_EXHAUSTED',
        message: `The zone 'projects/-/zones/${zone}' does not have enough resources available to fulfill the request.  Try a different zone, or try again later.`,
      };
    }
    return undefined;
  }
}
