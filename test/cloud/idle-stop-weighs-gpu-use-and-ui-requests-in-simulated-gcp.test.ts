/**
 * The idle stop of a server work (its call keeps running) weighs GPU utilisation and UI
 * activity, not only calls: its VM keeps running while its GPU is busy or its UI tab gets
 * requests, is stopped once both stayed quiet for the whole idle timeout (the work's status
 * saying why), and comes back when its tab is requested again.
 *
 * The GPU is a fake `nvidia-smi` on the VMs' PATH that prints a number this test controls; the
 * work daemon samples it with each heartbeat. Deployed by the real `terraform apply` into the
 * simulated GCP; the UI is reached through the IAP tunnel as a user does. Needs root,
 * iproute2, nftables and terraform (scripts/setup.sh), as CI has.
 *
 * Test-only knobs (users cannot set them): the synthesized idle timeout (60 s, the lowest the
 * validation accepts) is rewritten to 6 s in the stack before `terraform apply`, and the VMs'
 * daemons send heartbeats every second (LIGHTNING_HEARTBEAT_MS) instead of every 30 s.
 */
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkStatus } from '../../constructs/work-status.ts';
import { FlowUi } from '../support/gcp-sim/flow-ui.ts';
import type { GcpSim } from '../support/gcp-sim/gcp-sim.ts';
import { type IapTunnel, openIapTunnel } from '../support/gcp-sim/iap-tunnel.ts';
import type { TerraformWorkspace } from '../support/terraform/terraform-cli.ts';
import app from './fixtures/idle-app/app.ts';
import { type SimulatedDeployment, simulatedDeployment } from './support/simulated-deployment.ts';

const FIXTURE = new URL('./fixtures/idle-app/app.ts', import.meta.url).pathname;
const FLOW_SA = 'idle-flow@test-project.iam.gserviceaccount.com';
const IDLE_S = 6;
const fakeGpu = mkdtempSync(join(tmpdir(), 'lightning-fake-nvidia-smi-'));
const setGpu = (percent: number) => writeFileSync(join(fakeGpu, 'percent'), `${percent}\n`);
let sim: GcpSim;
let ws: TerraformWorkspace;
let env: Record<string, string>;
let deployment: SimulatedDeployment | undefined;
let tunnel: IapTunnel | undefined;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  // Prints what nvidia-smi --query-gpu=utilization.gpu --format=csv,noheader,nounits would.
  writeFileSync(join(fakeGpu, 'nvidia-smi'), `#!/bin/sh\ncat ${join(fakeGpu, 'percent')}\n`);
  chmodSync(join(fakeGpu, 'nvidia-smi'), 0o755);
  setGpu(80);
  deployment = await simulatedDeployment(app, FIXTURE, 'idle', {
    guestPath: [fakeGpu],
    guestEnv: { LIGHTNING_HEARTBEAT_MS: '1000' },
  });
  ({ sim, ws, env } = deployment);
  const stack = join(ws.dir, 'cdk.tf.json');
  const text = readFileSync(stack, 'utf8');
  const shortened = text.replaceAll('\\"idleTimeoutSeconds\\":60', `\\"idleTimeoutSeconds\\":${IDLE_S}`);
  expect(shortened).not.toBe(text);
  writeFileSync(stack, shortened);
  await ws.run(['apply', '-auto-approve'], { env });
}, 300_000);

afterAll(async () => {
  await tunnel?.close();
  await deployment?.close();
});

describe('the idle stop of a server work in the simulated GCP', () => {
  it('keeps the VM while the GPU is busy or the tab is used, stops it when both are quiet, and starts it again on a tab request', async () => {
    const vm = sim.vm('idle-serve');
    const diagnostics = () =>
      [...sim.vms.values()].map((v) => `--- ${v.name}\n${v.output.slice(-40).join('\n')}`).join('\n');
    tunnel = await openIapTunnel(sim.vm('idle-flow'), 7501);
    const ui = await FlowUi.login(sim.vm('idle-flow'), tunnel, 150_000);
    const serve = async (): Promise<WorkStatus | undefined> => (await ui.state())['root.serve']?.status;
    const serving = () =>
      ui
        .until(
          (s) => s['root.serve']?.status?.phase === 'running' && !!s['root.serve'].status.url,
          180_000,
          'serve answers on its port',
        )
        .catch((err: Error) => {
          throw new Error(`${err.message}\n${diagnostics()}`);
        });
    await serving();

    // GPU busy (80 %), no tab requests: two idle timeouts pass, the VM and the call stay.
    await sleep(2 * IDLE_S * 1000);
    expect(vm.status, diagnostics()).toBe('RUNNING');
    expect((await serve())?.phase).toBe('running');

    // GPU idle (0 %) but the tab is used every second: still running.
    setGpu(0);
    for (let i = 0; i < 2 * IDLE_S; i++) {
      expect((await ui.workFetch('root.serve', '/index.txt')).status).toBe(200);
      await sleep(1000);
    }
    expect(vm.status, diagnostics()).toBe('RUNNING');
    expect((await serve())?.phase).toBe('running');

    // Both quiet: the call is stopped with the reason, then the VM.
    const stopped = await ui.until(
      (s) => s['root.serve']?.status?.phase === 'stopped',
      60_000,
      'serve stopped while idle',
    );
    expect(stopped['root.serve']!.status!.message).toBe(`stopped: idle ${IDLE_S} s, GPU 0 %, no UI requests`);
    await vm.until((v) => v.status === 'TERMINATED', 60_000, 'the serve VM is stopped');
    expect(sim.compute.log).toContain(`${FLOW_SA} POST idle-serve/stop 200`);
    expect(sim.vm('idle-flow').output.join('\n')).toMatch(
      new RegExp(`root\\.serve.*VM stopped: idle ${IDLE_S} s, GPU 0 %, no UI requests`),
    );

    // A request to its tab brings it back: the flow runs the call again, which starts the VM.
    // Nothing serves on the stopped VM: the request fails, and the flow runs the call again,
    // which starts the VM.
    const tab = await ui
      .workFetch('root.serve', '/index.txt')
      .catch((err: Error) => ({ status: 0, body: err.message }));
    expect(tab.status, tab.body).not.toBe(200);
    await serving();
    expect(vm.boots).toBe(2);
    expect(sim.compute.log).toContain(`${FLOW_SA} POST idle-serve/start 200`);
    const again = await ui.workFetch('root.serve', '/index.txt');
    expect(again.status, diagnostics()).toBe(200);
    expect(again.body).toBe(`served by ${vm.opts.ip} \n`);
  }, 600_000);

  it('destroy leaves nothing behind', async () => {
    await tunnel?.close();
    tunnel = undefined;
    await ws.run(['destroy', '-auto-approve'], { env });
    expect(sim.vms.size).toBe(0);
    expect(sim.resources()).toEqual([]);
  }, 120_000);
});
