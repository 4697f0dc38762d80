import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GcpSim } from '../support/gcp-sim/gcp-sim.ts';
import { processesInNamespaces } from '../support/gcp-sim/sim-network.ts';
import type { TerraformWorkspace } from '../support/terraform/terraform-cli.ts';
import app from './fixtures/sweep-app/app.ts';
import { copyFixture } from './support/processes.ts';
import { type SimulatedDeployment, simulatedDeployment } from './support/simulated-deployment.ts';

let sim: GcpSim;
let ws: TerraformWorkspace;
let env: Record<string, string>;
const FLOW_SA = 'sweep-flow@test-project.iam.gserviceaccount.com';
const runTimeVms = () => [...sim.vms.keys()].filter((n) => n.startsWith('sweep-rt-'));

let deployment: SimulatedDeployment | undefined;

beforeAll(async () => {
  deployment = await simulatedDeployment(app, join(copyFixture('sweep-app'), 'app.ts'), 'sweep');
  ({ sim, ws, env } = deployment);
}, 180_000);

afterAll(async () => {
  await deployment?.close();
});

describe('a WorkMap of 4 members in the simulated GCP', () => {
  it('runs each member on a VM created from the template, unseen by terraform plan, and deletes all 4 at the end', async () => {
    await ws.run(['apply', '-auto-approve'], { env });
    // Terraform created the flow VM only: members have no VM until the flow creates them.
    expect(sim.vmEvents.filter((e) => e.by === 'terraform').map((e) => e.name)).toEqual(['sweep-flow']);
    const flow = sim.vm('sweep-flow');
    // While the 4 member VMs run (each trial sleeps 20 s), Terraform sees no change: they are
    // not in its state.
    await flow.until(
      (vm) => vm.output.filter((l) => / trial t\d on /.test(l)).length === 4,
      240_000,
      'all 4 trials running',
    );
    expect(runTimeVms()).toHaveLength(4);
    const during = await ws.run(['plan', '-detailed-exitcode'], { env, okExitCodes: [0, 2] });
    expect(during.exitCode, during.stdout).toBe(0);
    await flow.until(
      // Either the app ended, or it is stuck (a member failed): fail fast with the output.
      (vm) => vm.output.some((l) => l.includes('This VM stays up') || l.includes('No work is running')),
      240_000,
      'the app ended and the flow VM idles',
    );
    const out = flow.output.join('\n');
    expect(out).toMatch(/lightning app ended \(exit 0\): 4 trials finished/);
    const names = ['t0', 't1', 't2', 't3'].map((k) => `sweep-rt-trials-${k}`);
    for (const [i, name] of names.entries()) {
      expect(out).toContain(`trial t${i} done`);
      expect(out).toContain(`deleted run-time VM ${name} of root.trials.t${i} in us-central1-a`);
    }
    expect(out).toMatch(/run-time VMs: 4 deleted, 0 left/);

    const inserts = sim.compute.events.filter((e) => e.verb === 'insert');
    expect(inserts.map((e) => `${e.name} ${e.zone} ${e.outcome}`).sort()).toEqual(
      names.map((n) => `${n} us-central1-a ok`),
    );
    expect(
      sim.compute.events
        .filter((e) => e.verb === 'delete')
        .map((e) => e.name)
        .sort(),
    ).toEqual(names);
    // Every call came from the flow's own identity.
    expect(
      sim.compute.log.filter((l) => / POST .*insert| DELETE /.test(l)).every((l) => l.startsWith(FLOW_SA)),
    ).toBe(true);
    // 0 left: only the flow VM exists.
    expect([...sim.vms.keys()]).toEqual(['sweep-flow']);
    expect(sim.vmEvents.filter((e) => e.by === 'compute-api').map((e) => e.event)).toEqual([
      ...Array(4).fill('created'),
      ...Array(4).fill('deleted'),
    ]);

    // The synthesized grant reaches run-time names only: not the flow VM, not another app's.
    const may = (name: string) =>
      sim.compute.iam.allowed(
        FLOW_SA,
        'test-project',
        `projects/test-project/zones/us-central1-b/instances/${name}`,
        'compute.instances.delete',
      );
    expect([may('sweep-rt-trials-t9'), may('sweep-flow'), may('other-rt-x')]).toEqual([true, false, false]);

    const plan = await ws.run(['plan', '-detailed-exitcode'], { env, okExitCodes: [0, 2] });
    expect(plan.exitCode, plan.stdout).toBe(0);
  }, 420_000);

  it('destroy leaves no VM, template, namespace or process', async () => {
    const inodes = [...sim.vms.values()].map((v) => v.ns!.inode);
    await ws.run(['destroy', '-auto-approve'], { env });
    expect(sim.vms.size).toBe(0);
    expect(sim.compute.templates.size).toBe(0);
    expect(sim.network.list()).toEqual([]);
    expect(processesInNamespaces(inodes)).toEqual([]);
  }, 120_000);
});
