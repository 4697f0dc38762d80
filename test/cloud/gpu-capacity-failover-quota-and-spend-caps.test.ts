/**
 * Issue 14 items 2 and 4 in the simulated GCP, through `terraform apply`: the flow creates GPU
 * VMs for WorkMap members while the Compute API stand-in injects faults.
 * - Stockout: us-central1-a answers ZONE_RESOURCE_POOL_EXHAUSTED; the L4 member's VM is created
 *   in us-central1-b, and both attempts are in the work's log.
 * - Quota 0: the T4 member fails before any insert, its status naming NVIDIA_T4_GPUS.
 * - maxHourlySpend: the A100 member is refused, its status naming the cap.
 * - maxTotalSpend: once reached, the running L4 work is stopped, its status naming the cap,
 *   and its VM deleted; the T4 work whose VM Terraform created is stopped too.
 * Needs root, iproute2 and nftables.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GcpSim } from '../support/gcp-sim/gcp-sim.ts';
import type { TerraformWorkspace } from '../support/terraform/terraform-cli.ts';
import app from './fixtures/capacity-app/app.ts';
import { copyFixture } from './support/processes.ts';
import { type SimulatedDeployment, simulatedDeployment } from './support/simulated-deployment.ts';

let sim: GcpSim;
let ws: TerraformWorkspace;
let env: Record<string, string>;

let deployment: SimulatedDeployment | undefined;

beforeAll(async () => {
  deployment = await simulatedDeployment(app, join(copyFixture('capacity-app'), 'app.ts'), 'capacity');
  ({ sim, ws, env } = deployment);
}, 180_000);

afterAll(async () => {
  await deployment?.close();
});

/** The work's log on the flow VM (its lines and status changes, as `lightning logs` shows them). */
function workLog(work: string): string {
  const bundles = join(sim.vm('capacity-flow').opts.diskDir, 'opt-lightning', 'bundles');
  for (const b of readdirSync(bundles)) {
    const logs = join(bundles, b, '.lightning', 'logs', 'latest', `${work}.log`);
    if (existsSync(logs)) return readFileSync(logs, 'utf8');
  }
  return `(no log of ${work})`;
}

/** Every status the flow journaled (its state record), as text: what the UI and API showed. */
function journalText(): string {
  const bundles = join(sim.vm('capacity-flow').opts.diskDir, 'opt-lightning', 'bundles');
  let text = '';
  for (const b of readdirSync(bundles)) {
    const dir = join(bundles, b, '.lightning', 'journal');
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir)) text += readFileSync(join(dir, f), 'utf8');
  }
  return text;
}

/** The reason and message of the work's failed status, from its log. */
function failure(work: string): string {
  return /status \S+ -> failed (.*)/.exec(workLog(work))?.[1] ?? `(${work} did not fail)`;
}

describe('GPU capacity in the simulated GCP', () => {
  it('fails over a stockout, fails early on quota 0, and keeps both spend caps', async () => {
    sim.compute.capacity.stockout('us-central1-a');
    sim.compute.capacity.setQuota('us-central1', 'NVIDIA_T4_GPUS', 0);
    await ws.run(['apply', '-auto-approve'], { env });
    const flow = sim.vm('capacity-flow');
    await flow.until(
      (vm) => vm.output.some((l) => l.includes('This VM stays up') || l.includes('No work is running')),
      300_000,
      'the app ended',
    );
    const out = flow.output.map((l) => l.replace(/^\[boot \d+\] /, '')).join('\n');
    expect(out).toMatch(/lightning app ended \(exit 0\): capacity checks done/);

    // Stockout in zone a → VM in zone b, both attempts reported in the work's log.
    const inserts = sim.compute.events.filter((e) => e.verb === 'insert');
    expect(inserts.map((e) => `${e.name} ${e.zone} ${e.outcome}`)).toEqual([
      'capacity-rt-l4s-a us-central1-a ZONE_RESOURCE_POOL_EXHAUSTED',
      'capacity-rt-l4s-a us-central1-b ok',
    ]);
    // Each attempt is in the work's log, and the status showed them while the call waited.
    expect(workLog('root.l4s.a')).toMatch(/VM attempt: g2-standard-4 in us-central1-a: stockout/);
    expect(journalText()).toContain('creating its VM: g2-standard-4 in us-central1-a: stockout');
    expect(out).toMatch(
      /root\.l4s\.a +│ VM attempt: g2-standard-4 in us-central1-a: stockout \(ZONE_RESOURCE_POOL_EXHAUSTED/,
    );
    expect(out).toMatch(
      /root\.l4s\.a +│ VM created: capacity-rt-l4s-a \(g2-standard-4, g2-standard-4\) in us-central1-b after 2 attempt/,
    );

    // Quota 0: no insert was tried; the status names the quota and what to do.
    expect(failure('root.t4s.a')).toMatch(
      /^quota no VM for root.t4s.a: no VM created: quota NVIDIA_T4_GPUS in us-central1: limit 0, in use 0, needs 1.*Request more NVIDIA_T4_GPUS/,
    );

    // Hourly cap: the A100 would take the app over 2 USD/h.
    expect(failure('root.a100s.a')).toMatch(
      /a2-highgpu-1g, 3.67339 USD\/h\) would take the app to .* USD\/h, over maxHourlySpend 3 USD\/h/,
    );

    // Total cap: the running L4 work is stopped and its VM deleted.
    expect(failure('root.l4s.a')).toMatch(/^spend_cap maxTotalSpend 0.01 USD reached/);
    // … and the GPU work whose VM Terraform created. The cap's stop of its VM and the app's end
    // (the flow's run() ends once its works failed) race; either way the VM ends stopped.
    expect(failure('root.trainer')).toMatch(/^spend_cap maxTotalSpend 0.01 USD reached/);
    expect(out).toMatch(
      /the VM of root\.trainer \(capacity-trainer\) was already stopped|stopped the VM of root\.trainer \(capacity-trainer\)/,
    );
    expect(sim.compute.events.filter((e) => e.verb === 'delete').map((e) => `${e.name} ${e.zone}`)).toEqual([
      'capacity-rt-l4s-a us-central1-b',
    ]);
    expect([...sim.vms.keys()].sort()).toEqual(['capacity-flow', 'capacity-trainer']); // no run-time VM left
    expect(sim.vm('capacity-trainer').status).toBe('TERMINATED');
    expect(sim.summary()).toMatch(
      /zones tried by inserts: us-central1-a \(ZONE_RESOURCE_POOL_EXHAUSTED\); us-central1-b \(ok\)/,
    );
  }, 420_000);
});
