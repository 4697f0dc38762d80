/**
 * The VMs the flow creates at run time (ADR 0025): one per WorkMap member, from an instance
 * template per WorkMap and VM shape. This module plans them (pure data, no cdktf imports): the
 * candidates the flow tries in order when GCE has no capacity, and the configuration the
 * synthesis writes into the flow VM's metadata (`lightning-run-time-vms`), which
 * daemon/cloud/run-time-vms.ts reads.
 *
 * Candidate order, as SkyPilot's failover walks zones before other choices: for each
 * provisioning model (Spot first when the compute is Spot, then on-demand when
 * `onDemandFallback` allows it), for each compute (the map's, then its `fallback` list), every
 * zone of the app's region that offers the machine type, the app's zone first, then catalog
 * order. Only the app's region: the VMs must reach the flow through the app's subnet.
 */
import type { CloudCompute, ResolvedCompute } from '../cloud-compute.ts';
import type { ProblemCollector } from '../errors.ts';
import { GPUS } from './catalog.ts';
import { fitName, shortHash, slug } from './gce-names.ts';
import { priceOf } from './price-table.ts';
import { zonesOf } from './zones.ts';

/** One shape the flow may create a member's VM as, and where. */
export interface RunTimeCandidate {
  /** Instance template name (one per map, compute and provisioning model). */
  readonly template: string;
  /** For status and logs: `gpu-l4 spot` style, the compute's label and its provisioning model. */
  readonly label: string;
  readonly machineType: string;
  readonly gpuType: string | null;
  readonly gpuCount: number;
  readonly spot: boolean;
  /** Regional quota metric its GPUs count against (PREEMPTIBLE_ twin for Spot), or null without GPU. */
  readonly quotaMetric: string | null;
  /** Zones to try, in order. */
  readonly zones: readonly string[];
  /** Hourly list price (price-table.ts), or null when the table has none. */
  readonly hourlyUsd: number | null;
}

/** The run-time VMs of one WorkMap. */
export interface RunTimeMapConfig {
  readonly candidates: readonly RunTimeCandidate[];
  /** Delete a member's VM after its work has been idle this long (the next call creates one again); null: keep it until the app ends. */
  readonly idleTimeoutSeconds: number | null;
  /** The key is one work's path (not a WorkMap's): its VM is created at the app's start when set. @default a WorkMap */
  readonly single?: { readonly startWithFlow: boolean };
}

/** What the flow VM's metadata `lightning-run-time-vms` holds. */
export interface RunTimeVmsConfig {
  readonly project: string;
  readonly region: string;
  readonly app: string;
  /** Every run-time VM's name starts with it; the flow's IAM grant is limited to such names. */
  readonly namePrefix: string;
  /** By WorkMap construct path (`root.trials`), or by a work's (`root.train`) for a work with fallbacks. */
  readonly maps: Readonly<Record<string, RunTimeMapConfig>>;
  /** Spend caps (USD), or null. */
  readonly maxHourlySpend: number | null;
  readonly maxTotalSpend: number | null;
  /** Hourly price of the VMs Terraform runs (flow and works), counted against the caps; null if unknown. */
  readonly baseHourlyUsd: number | null;
  /** Works with a GPU whose VMs Terraform created: the total cap stops them too. */
  readonly staticGpuWorks: readonly { readonly work: string; readonly hourlyUsd: number | null }[];
}

/** A WorkMap's template(s) for the synthesis: the candidate and the compute it is made of. */
export interface RunTimeTemplatePlan {
  readonly candidate: RunTimeCandidate;
  readonly compute: ResolvedCompute;
  /** Terraform id (stable across synths). */
  readonly id: string;
}

export interface RunTimeMapPlan {
  /** WorkMap construct path, or the work's for a `single`. */
  readonly component: string;
  /**
   * Set for one work (not a WorkMap) whose compute declares `fallback`/`onDemandFallback`:
   * the flow places its VM like a member's, at the app's start when it starts with the flow.
   */
  readonly single?: { readonly startWithFlow: boolean; readonly ports: readonly (number | 'auto')[] };
  readonly templates: readonly RunTimeTemplatePlan[];
  readonly idleTimeoutSeconds: number | null;
}

/** `<app>-rt-`: run-time VM names, distinct from Terraform's (`<app>-<work>`, `<app>-flow`). */
export function runTimeNamePrefix(app: string): string {
  return `${app.slice(0, 40).replace(/-+$/, '')}-rt-`;
}

/** The VM name of a member (`root.trials.lr-0_1` → `<prefix>trials-lr-0-1`, hashed when too long). */
export function runTimeVmName(prefix: string, member: string): string {
  const name = `${prefix}${slug(member) || 'work'}`;
  if (name.length <= 63) return name;
  const h = shortHash(member);
  return `${name.slice(0, 63 - h.length - 1).replace(/-+$/, '')}-${h}`;
}

/** Zones of `region` offering `compute`'s GPU (all zones without one), `first` leading. */
function zonesFor(region: string, first: string, compute: ResolvedCompute): string[] {
  const all = zonesOf(region)?.zones ?? [first];
  const offered = compute.gpuType
    ? GPUS[compute.gpuType].zones.filter((z) => z.startsWith(`${region}-`))
    : all;
  return [...new Set([first, ...offered])].filter((z) => offered.includes(z));
}

/**
 * Plans one WorkMap's templates. `computes` are the map's compute and its fallbacks, each with
 * a short label (`gpu-l4`, `fallback-1`).
 */
export function planRunTimeMap(
  app: string,
  region: string,
  zone: string,
  component: string,
  computes: readonly { readonly label: string; readonly compute: CloudCompute }[],
  onDemandFallback: boolean,
): RunTimeMapPlan {
  const templates: RunTimeTemplatePlan[] = [];
  const anySpot = computes.some((c) => c.compute.resolve().spot);
  const models: boolean[] = anySpot ? (onDemandFallback ? [true, false] : [true]) : [false];
  for (const spot of models) {
    computes.forEach(({ label, compute }, i) => {
      const base = compute.resolve();
      // A compute that is on-demand stays so; Spot ones get an on-demand twin when allowed.
      if (spot && !base.spot) return;
      if (!spot && base.spot && !onDemandFallback) return;
      const r: ResolvedCompute = { ...base, spot };
      const price = priceOf(r.machineType, r.gpuType, r.gpuCount);
      const metric = r.gpuType ? GPUS[r.gpuType].quotaMetric : null;
      const suffix = `${slug(component) || 'map'}-${i}${spot ? '-spot' : ''}`;
      templates.push({
        id: `rt-template-${suffix}`,
        compute: r,
        candidate: {
          template: fitName(`${app}-rt`, suffix),
          label: `${label}${spot ? ' spot' : ''}`,
          machineType: r.machineType,
          gpuType: r.gpuType ?? null,
          gpuCount: r.gpuCount,
          spot,
          quotaMetric: metric ? (spot ? `PREEMPTIBLE_${metric}` : metric) : null,
          zones: zonesFor(region, zone, r),
          hourlyUsd: 'price' in price ? (spot ? price.price.spot : price.price.onDemand) : null,
        },
      });
    });
  }
  return {
    component,
    templates,
    idleTimeoutSeconds: computes[0]?.compute.resolve().idleTimeoutSeconds ?? null,
  };
}

/** Templates for VMs the flow places (a WorkMap's members, or one work with fallbacks). */
export function placedByFlow(
  appName: string,
  region: string,
  zone: string,
  path: string,
  compute: CloudCompute,
  problems: ProblemCollector,
): RunTimeMapPlan {
  const computes = [{ label: compute.props.machineType ?? 'compute', compute }, ...compute.fallbacks()];
  const planned = planRunTimeMap(
    appName,
    region,
    zone,
    path,
    computes,
    compute.props.onDemandFallback ?? false,
  );
  for (const t of planned.templates) {
    if (t.candidate.zones.length === 0) {
      problems.add(
        path,
        `no zone of ${region} offers ${t.candidate.gpuType} (${t.candidate.label})`,
        'use a GPU the region has (see the GPU table in docs/deploy-gcp.md), or another region',
      );
    }
  }
  return planned;
}
