/**
 * What GCE would refuse at apply time is caught (or avoided) at synth time: the default zone
 * exists and offers the app's GPUs, a named zone must exist, boot disk types fit the machine
 * series, the H100 preset is sold as it is configured (Spot), and the local SSDs that come
 * with A2 Ultra / A3 are declared so a second plan does not recreate the VM.
 */
import type { Construct } from 'constructs';
import { describe, expect, it } from 'vitest';
import type { GcpCloudProps } from '../../constructs/cloud/cloud-props.ts';
import { planApp } from '../../constructs/cloud/plan.ts';
import { CloudCompute, type CloudComputeProps } from '../../constructs/cloud-compute.ts';
import { ValidationError } from '../../constructs/errors.ts';
import { Flow, LightningApp, ScriptWork } from '../../constructs/index.ts';
import { synthFixture } from './support/synth-fixture.ts';

function appWith(cloud: Partial<GcpCloudProps>, computes: Record<string, CloudCompute> = {}): LightningApp {
  const app = new LightningApp({ name: 'shapes', cloud: { project: 'my-project', ...cloud } });
  class Root extends Flow {
    constructor(scope: Construct) {
      super(scope, 'root');
      for (const [id, compute] of Object.entries(computes))
        new ScriptWork(this, id, { script: 'x.sh', compute });
    }
    override run(): void {}
  }
  new Root(app);
  return app;
}

function problems(app: LightningApp): string[] {
  try {
    planApp(app);
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return (err as ValidationError).problems.map((p) => `${p.path}: ${p.message} | fix: ${p.fix}`);
  }
  return [];
}

const gpu = (props: CloudComputeProps) => new CloudCompute(props);

describe('the zone', () => {
  it.each([
    ['us-east1', {}, 'us-east1-b'], // no us-east1-a
    ['europe-west1', {}, 'europe-west1-b'], // no europe-west1-a
    ['us-central1', {}, 'us-central1-a'],
    ['us-east4', { train: CloudCompute.named('gpu-a100-80gb') }, 'us-east4-c'], // A100 80GB only in -c
    [
      'europe-west4',
      { a: CloudCompute.named('gpu-h100'), b: CloudCompute.named('gpu-l4') },
      'europe-west4-b',
    ],
    ['us-east1', { train: CloudCompute.named('gpu-t4') }, 'us-east1-c'], // T4: us-east1-c/d
  ] as const)('defaults in %s to a zone that exists and has the GPUs: %j → %s', (region, computes, zone) => {
    expect(planApp(appWith({ region }, computes)).zone).toBe(zone);
  });

  it('rejects a named zone that does not exist, listing the zones of the region', () => {
    expect(problems(appWith({ region: 'us-east1', zone: 'us-east1-a' }))).toEqual([
      'shapes.cloud: zone us-east1-a does not exist; the zones of us-east1 are us-east1-b, us-east1-c, us-east1-d | fix: use one of them in cloud.zone, or leave zone unset',
    ]);
  });

  it('says so when no zone of the region offers every GPU of the app', () => {
    const [only, ...rest] = problems(
      appWith({ region: 'us-east1' }, { a: CloudCompute.named('gpu-h100'), b: CloudCompute.named('gpu-l4') }),
    );
    expect(rest).toEqual([]);
    expect(only).toMatch(/no zone of us-east1 offers every GPU the app uses \(H100: none; L4: us-east1-b/);
    expect(only).toMatch(/fix: use a region that has them all, e.g. /);
  });

  it('asks for a zone in a region the table does not know, and takes a named one there', () => {
    expect(problems(appWith({ region: 'africa-south1' }))[0]).toMatch(
      /region africa-south1 is not in the zone table .* fix: set cloud.zone/,
    );
    expect(planApp(appWith({ region: 'africa-south1', zone: 'africa-south1-a' })).zone).toBe(
      'africa-south1-a',
    );
  });
});

describe('boot disk types per machine series', () => {
  it.each([
    ['g2-standard-4', 'pd-standard'],
    ['a3-highgpu-8g', 'pd-standard'],
    ['c3-standard-4', 'pd-standard'],
    ['n4-standard-4', 'pd-balanced'],
  ] as const)('rejects %s with %s, naming the types it takes', (machineType, diskType) => {
    const [p] = problems(appWith({}, { w: gpu({ machineType, diskType }) }));
    expect(p).toMatch(new RegExp(`^root\\.w: ${machineType} does not take a ${diskType} boot disk`));
  });

  it('accepts pd-standard where the series takes it, and defaults N4 to hyperdisk-balanced', () => {
    const plan = planApp(
      appWith(
        {},
        {
          e2: gpu({ machineType: 'e2-standard-4', diskType: 'pd-standard' }),
          n1: gpu({ machineType: 'n1-standard-8', gpuType: 'T4', diskType: 'pd-standard' }),
          n4: gpu({ machineType: 'n4-standard-4' }),
          g2: CloudCompute.named('gpu-l4'),
        },
      ),
    );
    const disk = Object.fromEntries(plan.works.map((w) => [w.component, w.compute.diskType]));
    expect(disk).toEqual({
      'root.e2': 'pd-standard',
      'root.n1': 'pd-standard',
      'root.n4': 'hyperdisk-balanced',
      'root.g2': 'pd-balanced',
    });
  });
});

describe('H100 (a3-highgpu-1g/2g/4g are sold as Spot or Flex-start only)', () => {
  it('the gpu-h100 preset is Spot, and valid', () => {
    const plan = planApp(appWith({}, { train: CloudCompute.named('gpu-h100') }));
    expect(plan.works[0]!.compute).toMatchObject({ machineType: 'a3-highgpu-1g', spot: true });
  });

  it('an on-demand a3-highgpu-1g..4g is an error with the fix; a3-highgpu-8g on demand is fine', () => {
    const found = problems(
      appWith(
        {},
        {
          one: CloudCompute.named('gpu-h100', { spot: false }),
          four: gpu({ machineType: 'a3-highgpu-4g' }),
          eight: gpu({ machineType: 'a3-highgpu-8g' }),
        },
      ),
    );
    expect(found).toEqual([
      expect.stringMatching(
        /^root\.one: a3-highgpu-1g is sold only as Spot or Flex-start VMs.*fix: set spot: true/,
      ),
      expect.stringMatching(/^root\.four: a3-highgpu-4g is sold only as Spot/),
    ]);
  });
});

describe('local SSDs bundled with A2 Ultra and A3', () => {
  it('declares one scratch_disk per bundled local SSD, NVMe, 375 GB; none elsewhere', async () => {
    const s = await synthFixture(
      appWith(
        { zone: 'us-central1-a' },
        {
          ultra: CloudCompute.named('gpu-a100-80gb'),
          h100: CloudCompute.named('gpu-h100'),
          big: gpu({ machineType: 'a3-highgpu-8g' }),
          l4: CloudCompute.named('gpu-l4'),
        },
      ),
    );
    const vms = s.byName('google_compute_instance');
    const scratch = (name: string) =>
      vms[name]?.scratch_disk as { interface: string; size: number }[] | undefined;
    expect(scratch('shapes-ultra')).toEqual([{ interface: 'NVME', size: 375 }]);
    expect(scratch('shapes-h100')).toHaveLength(2);
    expect(scratch('shapes-big')).toHaveLength(16);
    expect(scratch('shapes-big')!.every((d) => d.interface === 'NVME' && d.size === 375)).toBe(true);
    expect(scratch('shapes-l4')).toBeUndefined();
    expect(scratch('shapes-flow')).toBeUndefined();
  });
});
