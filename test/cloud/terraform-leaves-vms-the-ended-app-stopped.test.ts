import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GcpSim } from '../support/gcp-sim/gcp-sim.ts';
import { processesInNamespaces } from '../support/gcp-sim/sim-network.ts';
import type { TerraformWorkspace } from '../support/terraform/terraform-cli.ts';
import app from './fixtures/lifecycle-app/app.ts';
import { copyFixture } from './support/processes.ts';
import { type SimulatedDeployment, simulatedDeployment } from './support/simulated-deployment.ts';

let sim: GcpSim;
let ws: TerraformWorkspace;
let env: Record<string, string>;

let deployment: SimulatedDeployment | undefined;

beforeAll(async () => {
  deployment = await simulatedDeployment(app, join(copyFixture('lifecycle-app'), 'app.ts'), 'end');
  ({ sim, ws, env } = deployment);
}, 180_000);

afterAll(async () => {
  await deployment?.close();
});

describe('terraform apply of an app that ends', () => {
  it('boots it; the ended app stops its work VM; a second plan leaves it stopped', async () => {
    await ws.run(['apply', '-auto-approve'], { env });
    const flow = sim.vm('lifecycle-flow');
    await flow.until(
      (vm) => vm.output.some((l) => l.includes('This VM stays up')),
      180_000,
      'the app ended and the flow VM idles',
    );
    const out = flow.output.join('\n');
    expect(out).toMatch(/job of version 1 running/);
    expect(out).toMatch(/lightning app ended \(exit 0\): job finished/);
    expect(out).toMatch(/stopped the VM of root\.job \(lifecycle-job\)/);
    expect(sim.vm('lifecycle-job').status).toBe('TERMINATED');
    expect(sim.compute.log.filter((l) => / POST /.test(l))).toEqual([
      'lifecycle-flow@test-project.iam.gserviceaccount.com POST lifecycle-job/stop 200',
    ]);
    // The flow VM keeps running (waiting for a redeploy); the work VM stays stopped.
    expect(flow.status).toBe('RUNNING');

    const plan = await ws.run(['plan', '-detailed-exitcode'], { env, okExitCodes: [0, 2] });
    expect(plan.exitCode, plan.stdout).toBe(0);
    expect(sim.vm('lifecycle-job').status).toBe('TERMINATED');
  }, 300_000);

  it('destroy leaves no VM, namespace or process', async () => {
    // The idle flow VM's boot program included: destroy must take it down too.
    const inodes = [...sim.vms.values()].map((v) => v.ns!.inode);
    await ws.run(['destroy', '-auto-approve'], { env });
    expect(sim.vms.size).toBe(0);
    expect(sim.network.list()).toEqual([]);
    expect(processesInNamespaces(inodes)).toEqual([]);
  }, 120_000);
});
