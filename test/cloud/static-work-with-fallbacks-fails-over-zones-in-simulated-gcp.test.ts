/**
 * A static work (not a WorkMap member) whose compute declares `onDemandFallback` gets the same
 * capacity failover as a member: the flow places its VM from instance templates, and when the
 * app's zone has no capacity, in the next zone. Terraform creates only the flow VM (and the
 * templates), its plan stays clean, and the flow deletes the VM when the app ends.
 * Deployed by the real `terraform apply` into the simulated GCP. Needs root, iproute2,
 * nftables and terraform (scripts/setup.sh), as CI has.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GcpSim } from '../support/gcp-sim/gcp-sim.ts';
import type { TerraformWorkspace } from '../support/terraform/terraform-cli.ts';
import app from './fixtures/failover-app/app.ts';
import { type SimulatedDeployment, simulatedDeployment } from './support/simulated-deployment.ts';

const FIXTURE = new URL('./fixtures/failover-app/app.ts', import.meta.url).pathname;
let sim: GcpSim;
let ws: TerraformWorkspace;
let env: Record<string, string>;
let deployment: SimulatedDeployment | undefined;

beforeAll(async () => {
  deployment = await simulatedDeployment(app, FIXTURE, 'failover');
  ({ sim, ws, env } = deployment);
}, 180_000);

afterAll(async () => {
  await deployment?.close();
});

describe('a static work with fallbacks in the simulated GCP', () => {
  it('runs on a VM the flow placed in the next zone when the first has no capacity', async () => {
    sim.compute.capacity.stockout('us-central1-a');
    await ws.run(['apply', '-auto-approve'], { env });
    // Terraform made the flow VM and the work's templates, not the work's VM.
    expect(sim.vmEvents.filter((e) => e.by === 'terraform').map((e) => e.name)).toEqual(['failover-flow']);
    expect([...sim.compute.templates.keys()].sort()).toEqual([
      'failover-rt-train-0',
      'failover-rt-train-0-spot',
    ]);
    const flow = sim.vm('failover-flow');
    await flow.until(
      (vm) => vm.output.some((l) => l.includes('This VM stays up') || l.includes('No work is running')),
      240_000,
      'the app ended and the flow VM idles',
    );
    const out = flow.output.join('\n');
    expect(out).toMatch(/lightning app ended \(exit 0\): trained/);
    expect(out).toMatch(/root\.train.*VM attempt: e2-standard-2 spot in us-central1-a: stockout/);
    expect(out).toMatch(
      /root\.train.*VM created: failover-rt-train \(e2-standard-2 spot, e2-standard-2\) in us-central1-b/,
    );
    expect(out).toMatch(/root\.train.*trained on 10\./);
    expect(out).toMatch(/run-time VMs: 1 deleted, 0 left/);
    expect(sim.compute.events.map((e) => `${e.verb} ${e.name} ${e.zone} ${e.outcome}`)).toEqual([
      'insert failover-rt-train us-central1-a ZONE_RESOURCE_POOL_EXHAUSTED',
      'insert failover-rt-train us-central1-b ok',
      'delete failover-rt-train us-central1-b ok',
    ]);
    expect([...sim.vms.keys()]).toEqual(['failover-flow']);
    const plan = await ws.run(['plan', '-detailed-exitcode'], { env, okExitCodes: [0, 2] });
    expect(plan.exitCode, plan.stdout).toBe(0);
    console.log(sim.summary());
  }, 420_000);

  it('destroy leaves nothing behind', async () => {
    await ws.run(['destroy', '-auto-approve'], { env });
    expect(sim.vms.size).toBe(0);
    expect(sim.resources()).toEqual([]);
  }, 120_000);
});
