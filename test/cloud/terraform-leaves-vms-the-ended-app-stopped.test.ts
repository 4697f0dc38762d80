/**
 * The end of an app through the tool users run: `terraform apply` (Terraform 1.11, the
 * stand-in provider forwarding to the simulated GCP) boots the lifecycle fixture, whose flow
 * ends the app once its job succeeded; the flow then stops the work VM through the Compute API.
 * A second `terraform plan` must show no changes: nothing Terraform manages drifts because the
 * ended app stopped a VM. (The simulator reports the stopped VM as `current_status` only; if
 * the real provider also reports `desired_status`, the synthesized `ignore_changes =
 * [desired_status]` on every work VM keeps the plan clean, which this does not prove.)
 * `destroy` leaves nothing, the idle flow VM included. Needs root, iproute2 and nftables.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { synthesizeApp } from '../../constructs/cloud/synth.ts';
import { type GcpSim, startGcpSim } from '../support/gcp-sim/gcp-sim.ts';
import { processesInNamespaces } from '../support/gcp-sim/sim-network.ts';
import { TerraformWorkspace } from '../support/terraform/terraform-cli.ts';
import app from './fixtures/lifecycle-app/app.ts';
import { copyFixture } from './support/processes.ts';

let sim: GcpSim;
let ws: TerraformWorkspace;
let env: Record<string, string>;

beforeAll(async () => {
  const dir = copyFixture('lifecycle-app');
  const outdir = mkdtempSync(join(tmpdir(), 'lightning-tf-end-'));
  const { stackFile } = await synthesizeApp(app, { appFile: join(dir, 'app.ts'), outdir });
  ws = await TerraformWorkspace.create(dirname(stackFile));
  sim = await startGcpSim({ sourceRoot: ws.dir });
  env = { LIGHTNING_GCP_SIM_URL: sim.url };
  await ws.run(['init']);
}, 180_000);

afterAll(async () => {
  await sim?.close();
  ws?.dispose();
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
