/**
 * A Spot VM preempted mid-call: the work daemon sees `instance/preempted` turn TRUE (and the
 * ACPI soft off's SIGTERM), the script writes its checkpoint within the notice window, the
 * daemon saves it to the Drive, GCE (the sim) stops the VM, the flow starts it again through
 * the Compute API, and the call runs again from the checkpoint: its result equals an
 * uninterrupted run's.
 *
 * The app (test/cloud/fixtures/preemptible-app) is deployed by the real `terraform apply`
 * into the simulated GCP (test/support/gcp-sim), which injects the preemption. Needs root,
 * iproute2, nftables and terraform (scripts/setup.sh), as CI has.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GcpSim } from '../support/gcp-sim/gcp-sim.ts';
import type { TerraformWorkspace } from '../support/terraform/terraform-cli.ts';
import app from './fixtures/preemptible-app/app.ts';
import { type SimulatedDeployment, simulatedDeployment } from './support/simulated-deployment.ts';

const FIXTURE = new URL('./fixtures/preemptible-app/app.ts', import.meta.url).pathname;
const TRAIN = new URL('./fixtures/preemptible-app/train.mjs', import.meta.url).pathname;
let sim: GcpSim;
let ws: TerraformWorkspace;
const simEnv = () => ({ LIGHTNING_GCP_SIM_URL: sim.url });

function diagnostics(): string {
  return [...sim.vms.values()].map((v) => `--- ${v.name}\n${v.output.slice(-50).join('\n')}`).join('\n');
}

let deployment: SimulatedDeployment | undefined;

beforeAll(async () => {
  deployment = await simulatedDeployment(app, FIXTURE, 'preempt');
  ({ sim, ws } = deployment);
  await ws.run(['apply', '-auto-approve'], { env: simEnv() });
}, 300_000);

afterAll(async () => {
  await deployment?.close();
});

describe('a preempted work in simulated GCP', () => {
  it('checkpoints within the notice, runs again on the restarted VM from the checkpoint, and ends with the uninterrupted result', async () => {
    const flow = sim.vm('preempt-flow');
    const train = sim.vm('preempt-train');
    const said = (re: RegExp) => flow.output.some((l) => re.test(l));
    await flow
      .until(() => said(/root\.train.*step 8\/40/), 180_000, 'train reached step 8')
      .catch((err: Error) => {
        throw new Error(`${err.message}\n${diagnostics()}`);
      });
    // GCE gives a Spot VM about 30 s; 8 s is plenty for this script and keeps the test short.
    await sim.preempt('preempt-train', { noticeMs: 8000 });
    expect(train.status).toBe('TERMINATED');
    await flow
      .until(() => said(/lightning app ended/), 240_000, 'the app ended')
      .catch((err: Error) => {
        throw new Error(`${err.message}\n${diagnostics()}`);
      });
    const out = flow.output.join('\n');
    expect(out, diagnostics()).toMatch(/lightning app ended \(exit 0\): trained: value \d+/);

    // The notice reached the script and its checkpoint reached the Drive.
    expect(out).toMatch(/root\.train.*preemption notice/);
    // Whichever the script noticed first: $LIGHTNING_PREEMPTED_FILE appearing or the SIGTERM.
    const checkpointAt = Number(/checkpoint at step (\d+) \((SIGTERM|preempted file)\)/.exec(out)?.[1]);
    expect(checkpointAt).toBeGreaterThanOrEqual(8);
    expect(out).toMatch(
      /checkpoint saved to the Drive: works\/root\.train\/checkpoints\/[^/]+\/checkpoints\/last\.json/,
    );
    // The flow saw the preemption (not a failure) and started the VM again.
    expect(out).toMatch(/root\.train.*running → pending[\s\S]*the VM was preempted/);
    expect(train.boots).toBe(2);
    expect(sim.compute.log).toContain(
      'preempt-flow@test-project.iam.gserviceaccount.com POST preempt-train/start 200',
    );
    // The second attempt resumed where the first stopped, not from step 0.
    expect(out).toMatch(new RegExp(`resumed at step ${checkpointAt}\\b`));
    const afterResume = out.slice(out.indexOf(`resumed at step ${checkpointAt}`));
    expect(/step (\d+)\/40/.exec(afterResume)?.[1]).toBe(String(checkpointAt + 1));

    // Same result as training without interruption (the script run directly, no app).
    const plain = mkdtempSync(join(tmpdir(), 'lightning-preempt-plain-'));
    const r = spawnSync(process.execPath, [TRAIN, '--steps', '40'], { cwd: plain, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const uninterrupted = JSON.parse(readFileSync(join(plain, 'result.json'), 'utf8')) as { value: number };
    expect(out).toContain(`trained: value ${uninterrupted.value}`);
    const bucket = sim.resources().find((x) => x.type === 'google_storage_bucket')!.state.name as string;
    const objects = await sim.gcs.list(bucket);
    const result = objects.find((o) => o.endsWith('works/root.train/result.json'));
    expect(result, objects.join('\n')).toBeDefined();
    expect(JSON.parse((await sim.gcs.read(bucket, result!))!.toString('utf8'))).toEqual({
      steps: 40,
      value: uninterrupted.value,
    });
    // A succeeded call's checkpoint is deleted.
    expect(objects.filter((o) => o.includes('/checkpoints/'))).toEqual([]);

    // Node came from the app's bucket (the VMs have no route to the internet), once per disk.
    const trainOut = train.output.join('\n');
    expect(trainOut).toMatch(
      /\[boot 1\] lightning-startup: fetching Node from gs:\/\/[^/]+\/runtime\/node-v20\.20\.2-linux-x64\.tgz/,
    );
    expect(trainOut).toMatch(/\[boot 1\] lightning-startup: Node v20\.20\.2 ready in \d+ ms/);
    expect(trainOut).toMatch(/\[boot 2\] lightning-startup: Node from an earlier boot/);
    const roleStarted = /^lightning-boot: starting:/;
    const nodeReady = (boot: number) =>
      new RegExp(`\\[boot ${boot}\\] lightning-startup: Node v[\\d.]+ ready in (\\d+) ms`).exec(
        trainOut,
      )?.[1];
    console.log(
      `boot script → Node ready / role started: train VM boot 1 ${nodeReady(1)} / ${train.msToLine(1, roleStarted)} ms ` +
        `(Node fetched from the bucket), boot 2 ${nodeReady(2)} / ${train.msToLine(2, roleStarted)} ms (Node on the disk); ` +
        `flow VM role started ${flow.msToLine(1, roleStarted)} ms`,
    );

    // The sim counts it survived: the preempted VM was started again after it was TERMINATED.
    const [p] = sim.preemptions;
    expect(sim.preemptions).toHaveLength(1);
    expect(p!.restartedAtMs).toBeGreaterThan(p!.terminatedAtMs!);
    console.log(
      `simulated GCP: notice at ${p!.atMs} ms, TERMINATED at ${p!.terminatedAtMs} ms, started again at ${p!.restartedAtMs} ms`,
    );
  }, 420_000);

  it('destroy leaves nothing behind', async () => {
    await ws.run(['destroy', '-auto-approve'], { env: simEnv() });
    expect(sim.vms.size).toBe(0);
    expect(sim.resources()).toEqual([]);
  }, 120_000);
});
