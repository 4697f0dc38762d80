/**
 * The order the flow tries shapes and zones in for a run-time VM (ADR 0025), and the per-run
 * blocklist: every zone of the region offering the machine type (the app's zone first, then
 * catalog order), then the declared fallbacks, then on-demand after Spot. The "GCE" here is a
 * table of which zone/shape/model has capacity: the Compute API itself is exercised in the
 * simulated GCP (test/cloud/gpu-capacity-failover-quota-and-spend-caps.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { planRunTimeMap, type RunTimeCandidate } from '../../constructs/cloud/run-time-plan.ts';
import { CloudCompute } from '../../constructs/index.ts';
import { CapacityError, type CapacityPort, CapacitySearch } from '../../daemon/cloud/capacity-search.ts';
import { ComputeApiError, type RegionQuota } from '../../daemon/cloud/compute-api.ts';

function candidatesOf(compute: CloudCompute): readonly RunTimeCandidate[] {
  const computes = [{ label: 'primary', compute }, ...compute.fallbacks()];
  const plan = planRunTimeMap(
    'demo',
    'us-central1',
    'us-central1-b',
    'root.trials',
    computes,
    compute.props.onDemandFallback ?? false,
  );
  return plan.templates.map((t) => t.candidate);
}

/** GCE with capacity only where `has` says; records every insert. */
function gce(has: (c: RunTimeCandidate, zone: string) => boolean, quotas: RegionQuota[] = []) {
  const inserts: string[] = [];
  const port: CapacityPort = {
    region: 'us-central1',
    quotas: async () => quotas,
    spendRefusal: () => undefined,
    insert: async (c, zone) => {
      inserts.push(`${c.label}@${zone}`);
      if (!has(c, zone)) throw new ComputeApiError('no capacity', 'ZONE_RESOURCE_POOL_EXHAUSTED');
    },
  };
  return { port, inserts };
}

describe('run-time VM placement', () => {
  const l4 = CloudCompute.named('gpu-l4', { spot: true, fallback: ['gpu-t4'], onDemandFallback: true });

  it('plans zones, then fallbacks, then on-demand after Spot, with the quota metric of each', () => {
    expect(
      candidatesOf(l4).map((c) => [c.label, c.machineType, c.spot, c.quotaMetric, c.zones.join(' ')]),
    ).toEqual([
      [
        'primary spot',
        'g2-standard-4',
        true,
        'PREEMPTIBLE_NVIDIA_L4_GPUS',
        'us-central1-b us-central1-a us-central1-c',
      ],
      [
        'gpu-t4 spot',
        'n1-standard-8',
        true,
        'PREEMPTIBLE_NVIDIA_T4_GPUS',
        'us-central1-b us-central1-a us-central1-c us-central1-f',
      ],
      ['primary', 'g2-standard-4', false, 'NVIDIA_L4_GPUS', 'us-central1-b us-central1-a us-central1-c'],
      [
        'gpu-t4',
        'n1-standard-8',
        false,
        'NVIDIA_T4_GPUS',
        'us-central1-b us-central1-a us-central1-c us-central1-f',
      ],
    ]);
  });

  it('tries every zone of the shape, then the fallback, then on-demand; a stocked-out zone is skipped for the rest of the run', async () => {
    const search = new CapacitySearch();
    // Only on-demand L4 in us-central1-c has room.
    const { port, inserts } = gce((c, z) => c.label === 'primary' && z === 'us-central1-c');
    const placed = await search.place(candidatesOf(l4), port);
    expect(`${placed.candidate.label}@${placed.zone}`).toBe('primary@us-central1-c');
    expect(inserts).toEqual([
      'primary spot@us-central1-b',
      'primary spot@us-central1-a',
      'primary spot@us-central1-c',
      'gpu-t4 spot@us-central1-b',
      'gpu-t4 spot@us-central1-a',
      'gpu-t4 spot@us-central1-c',
      'gpu-t4 spot@us-central1-f',
      'primary@us-central1-b',
      'primary@us-central1-a',
      'primary@us-central1-c',
    ]);
    // The next member: the zones that stocked out (per shape and model) are not asked again.
    const second = gce((c, z) => c.label === 'primary' && z === 'us-central1-c');
    const again = await search.place(candidatesOf(l4), second.port);
    expect(again.zone).toBe('us-central1-c');
    expect(second.inserts.filter((i) => i.startsWith('primary'))).toEqual(['primary@us-central1-c']);
    expect(again.attempts.filter((a) => a.outcome === 'blocklisted')).toHaveLength(9);
  });

  it('skips a shape whose regional quota has no room, without an insert', async () => {
    const { port, inserts } = gce(() => true, [{ metric: 'PREEMPTIBLE_NVIDIA_L4_GPUS', limit: 4, usage: 4 }]);
    const placed = await new CapacitySearch().place(candidatesOf(l4), port);
    expect(placed.candidate.label).toBe('gpu-t4 spot');
    expect(placed.attempts[0]).toMatchObject({
      outcome: 'quota',
      detail: expect.stringContaining('PREEMPTIBLE_NVIDIA_L4_GPUS'),
    });
    expect(inserts).toEqual(['gpu-t4 spot@us-central1-b']);
  });

  it('moves to the next shape when an insert itself answers QUOTA_EXCEEDED (another VM took the room after the check)', async () => {
    const inserts: string[] = [];
    const port: CapacityPort = {
      ...gce(() => true).port,
      insert: async (c, zone) => {
        inserts.push(`${c.label}@${zone}`);
        if (c.label === 'primary spot')
          throw new ComputeApiError(
            "Quota 'PREEMPTIBLE_NVIDIA_L4_GPUS' exceeded.  Limit: 1.0 in region us-central1.",
            'QUOTA_EXCEEDED',
          );
      },
    };
    const placed = await new CapacitySearch().place(candidatesOf(l4), port);
    // Quotas are regional: the other zones of the L4 are not tried.
    expect(inserts).toEqual(['primary spot@us-central1-b', 'gpu-t4 spot@us-central1-b']);
    expect(placed.attempts.map((a) => a.outcome)).toEqual(['quota', 'created']);
  });

  it('stops at once on an error no other zone fixes (a missing permission)', async () => {
    const port: CapacityPort = {
      ...gce(() => true).port,
      insert: async () => {
        throw new ComputeApiError("Required 'compute.instances.create' permission", 'forbidden', 403);
      },
    };
    const err = await new CapacitySearch().place(candidatesOf(l4), port).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CapacityError);
    expect((err as CapacityError).reason).toBe('compute_api');
    expect((err as CapacityError).attempts).toHaveLength(1);
  });
});
