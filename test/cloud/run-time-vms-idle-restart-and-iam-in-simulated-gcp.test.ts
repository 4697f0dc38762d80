/**
 * The flow's run-time VM controller (daemon/cloud/run-time-vms.ts) against the simulated GCP's
 * Compute API, metadata server and VMs, without Terraform (the end-to-end path is in
 * workmap-members-run-on-vms-the-flow-creates): the template and grants are applied through the
 * simulator's own /v1/apply, as the stand-in provider would, and this test process plays the
 * flow VM (its address is registered with the metadata server, so it gets the flow's tokens).
 * Proven: a member's VM carries the template's metadata plus its own `lightning-work`; an idle
 * member's VM is deleted and a later call creates it again; a restarted flow adopts a VM that
 * exists and deletes one it never recorded; a name outside the granted prefix is refused (403).
 * Needs root, iproute2 and nftables.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunTimeVmsConfig } from '../../constructs/cloud/run-time-plan.ts';
import { RUN_TIME_VM_PERMISSIONS, runTimeCondition } from '../../constructs/cloud/run-time-templates.ts';
import { CapacityError } from '../../daemon/cloud/capacity-search.ts';
import { type RunTimeVmEvent, RunTimeVms } from '../../daemon/cloud/run-time-vms.ts';
import { type GcpSim, startGcpSim } from '../support/gcp-sim/gcp-sim.ts';

const P = 'sim-project';
const FLOW = `demo-flow@${P}.iam.gserviceaccount.com`;
const WORK = `demo-work@${P}.iam.gserviceaccount.com`;
let sim: GcpSim;

async function apply(type: string, planned: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${sim.url}/v1/apply`, {
    method: 'POST',
    body: JSON.stringify({ type, prior: null, planned, config: planned }),
  });
  if (!res.ok) throw new Error(`${type}: ${await res.text()}`);
}

const config = (namePrefix = 'demo-rt-'): RunTimeVmsConfig => ({
  project: P,
  region: 'us-central1',
  app: 'demo',
  namePrefix,
  maps: {
    'root.trials': {
      idleTimeoutSeconds: 1,
      candidates: [
        {
          template: 'demo-rt-trials-0',
          label: 'cpu',
          machineType: 'e2-standard-2',
          gpuType: null,
          gpuCount: 0,
          spot: false,
          quotaMetric: null,
          zones: ['us-central1-a'],
          hourlyUsd: 0.06701,
        },
      ],
    },
  },
  maxHourlySpend: null,
  maxTotalSpend: null,
  baseHourlyUsd: 0.06701,
  staticGpuWorks: [],
});

function controller(events: RunTimeVmEvent[], namePrefix?: string): RunTimeVms {
  const host = sim.network.hostIp;
  return new RunTimeVms(config(namePrefix), {
    metadataHost: `${host}:${sim.metadata.port}`,
    computeEndpoint: `http://${host}:${sim.compute.port}`,
    pollIntervalMs: 50,
    onEvent: (e) => events.push(e),
  });
}

const runTimeVms = () => [...sim.vms.keys()].filter((n) => n.startsWith('demo-rt-')).sort();

beforeAll(async () => {
  sim = await startGcpSim();
  const role = `projects/${P}/roles/lightningRunTimeVms_demo`;
  await apply('google_project_iam_custom_role', {
    project: P,
    role_id: 'lightningRunTimeVms_demo',
    permissions: RUN_TIME_VM_PERMISSIONS,
  });
  await apply('google_project_iam_member', {
    project: P,
    role,
    member: `serviceAccount:${FLOW}`,
    condition: [runTimeCondition(P, ['us-central1-a'], 'demo-rt-', 'demo')],
  });
  await apply('google_service_account_iam_member', {
    service_account_id: `projects/${P}/serviceAccounts/${WORK}`,
    role: 'roles/iam.serviceAccountUser',
    member: `serviceAccount:${FLOW}`,
  });
  await apply('google_compute_instance_template', {
    project: P,
    name: 'demo-rt-trials-0',
    machine_type: 'e2-standard-2',
    labels: { 'lightning-app': 'demo' },
    // No startup script: the VM idles; what matters here is what it was created with.
    metadata: { 'lightning-role': 'work', 'lightning-bucket': 'demo-drive' },
    service_account: [{ email: WORK, scopes: ['cloud-platform'] }],
    network_interface: [{ subnetwork: `projects/${P}/regions/us-central1/subnetworks/demo-subnet` }],
  });
  sim.metadata.register({
    name: 'demo-flow',
    ip: sim.network.hostIp,
    project: P,
    zone: 'us-central1-a',
    serviceAccountEmail: FLOW,
    attributes: {},
  });
}, 120_000);

afterAll(async () => {
  await sim?.close();
});

describe('run-time VMs in the simulated GCP', () => {
  it('creates a member VM from the template, deletes it when idle and creates it again for the next call', async () => {
    const events: RunTimeVmEvent[] = [];
    const rt = controller(events);
    expect(rt.manages('root.trials.a')).toBe(true);
    expect(rt.manages('root.other')).toBe(false);
    expect(await rt.ensureVm('root.trials.a')).toMatchObject({
      name: 'demo-rt-trials-a',
      zone: 'us-central1-a',
    });
    const vm = sim.vm('demo-rt-trials-a');
    expect(vm.opts.metadata).toEqual({
      'lightning-role': 'work',
      'lightning-bucket': 'demo-drive',
      'lightning-work': 'root.trials.a',
    });
    expect(vm.opts.serviceAccountEmail).toBe(WORK);
    expect(vm.opts.labels).toMatchObject({ 'lightning-app': 'demo', 'lightning-run-time': 'true' });

    rt.workIdle('root.trials.a');
    await new Promise<void>((resolve) => {
      const check = () => (events.some((e) => e.action === 'deleted') ? resolve() : setTimeout(check, 50));
      check();
    });
    expect(sim.vms.has('demo-rt-trials-a')).toBe(false);
    expect(events.map((e) => e.action)).toEqual(['attempt', 'created', 'deleted']);
    expect(events.at(-1)!.detail).toMatch(/idle for 1 s/);
    await rt.ensureVm('root.trials.a');
    expect(runTimeVms()).toEqual(['demo-rt-trials-a']);
    rt.workBusy('root.trials.a'); // busy: no idle deletion pending when the next test takes over
  }, 60_000);

  it('a restarted flow adopts the VM that exists and deletes every run-time VM at the end, recorded or not', async () => {
    // The first flow also created b, then "crashed" (its controller is dropped).
    await controller([]).ensureVm('root.trials.b');
    expect(runTimeVms()).toEqual(['demo-rt-trials-a', 'demo-rt-trials-b']);
    const events: RunTimeVmEvent[] = [];
    const restarted = controller(events);
    const inserts = sim.compute.events.filter((e) => e.verb === 'insert').length;
    await restarted.ensureVm('root.trials.a');
    expect(sim.compute.events.filter((e) => e.verb === 'insert').length).toBe(inserts);
    expect(events.at(-1)!.detail).toMatch(/exists already/);
    const deleted = await restarted.deleteAll();
    expect(deleted.map((d) => `${d.work} ${d.instance} ${d.outcome}`).sort()).toEqual([
      '(unrecorded) demo-rt-trials-b deleted',
      'root.trials.a demo-rt-trials-a deleted',
    ]);
    expect(runTimeVms()).toEqual([]);
    await expect(restarted.ensureVm('root.trials.c')).rejects.toThrow(/the app has ended/);
  }, 60_000);

  it('cannot create a VM whose name is outside the granted prefix', async () => {
    const err = await controller([], 'other-rt-')
      .ensureVm('root.trials.a')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CapacityError);
    expect((err as CapacityError).reason).toBe('compute_api');
    expect((err as Error).message).toMatch(/HTTP 403 Required 'compute.instances.create' permission/);
    expect(sim.vms.has('other-rt-trials-a')).toBe(false);
  }, 60_000);
});
