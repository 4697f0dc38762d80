/**
 * In the cloud a work's `url` must be an address other VMs can reach, and the firewall must
 * admit the app's own traffic to it: a TypeScript work on one VM calls a server work on
 * another at the URL the runtime handed out (as the flagship's demo and UI call its model
 * server), and the flow's UI proxy reaches the same server from the flow VM.
 *
 * The app is deployed into the simulated GCP (test/support/gcp-sim: network-namespace VMs
 * running their startup scripts, nftables playing the VPC firewall, metadata/Secret
 * Manager/Compute stand-ins, the GCS emulator) by the real `terraform apply` through the
 * stand-in provider (test/support/terraform/).
 *
 * Needs root, iproute2, nftables and terraform (scripts/setup.sh), as CI has.
 */
import { spawnSync } from 'node:child_process';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlowUi } from '../support/gcp-sim/flow-ui.ts';
import type { GcpSim } from '../support/gcp-sim/gcp-sim.ts';
import { type IapTunnel, openIapTunnel } from '../support/gcp-sim/iap-tunnel.ts';
import { processesInNamespaces } from '../support/gcp-sim/sim-network.ts';
import type { TerraformWorkspace } from '../support/terraform/terraform-cli.ts';
import app from './fixtures/two-servers-app/app.ts';
import { type SimulatedDeployment, simulatedDeployment } from './support/simulated-deployment.ts';

const FIXTURE = new URL('./fixtures/two-servers-app/app.ts', import.meta.url).pathname;
let sim: GcpSim;
let ws: TerraformWorkspace;
const simEnv = () => ({ LIGHTNING_GCP_SIM_URL: sim.url });
let tunnel: IapTunnel | undefined;
let httpUrl: string;

/** Whether a TCP connection from `from` (a host address) to host:port is accepted within 2 s. */
function connects(from: string, host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, localAddress: from, timeout: 2000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

/** The same from inside a VM's namespace (bash's /dev/tcp). */
function inNamespace(ns: string, host: string, port: number): boolean {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'timeout', '2', 'bash', '-c', `</dev/tcp/${host}/${port}`]);
  return r.status === 0;
}

let deployment: SimulatedDeployment | undefined;

beforeAll(async () => {
  deployment = await simulatedDeployment(app, FIXTURE, 'two-servers');
  ({ sim, ws } = deployment);
  await ws.run(['apply', '-auto-approve'], { env: simEnv() });
}, 300_000);

afterAll(async () => {
  await tunnel?.close();
  await deployment?.close();
});

describe('work servers in simulated GCP', () => {
  it('a work calls another work at the URL the runtime handed out, and the UI proxies it from the flow VM', async () => {
    const httpVm = sim.vm('two-servers-http');
    tunnel = await openIapTunnel(sim.vm('two-servers-flow'), 7501);
    const ui = await FlowUi.login(sim.vm('two-servers-flow'), tunnel, 120_000);
    const diagnostics = () =>
      [...sim.vms.values()].map((v) => `--- ${v.name}\n${v.output.slice(-40).join('\n')}`).join('\n');
    let state = await ui
      .until(
        (s) =>
          s['root.client']?.status?.phase === 'succeeded' || s['root.client']?.status?.phase === 'failed',
        150_000,
        'the client call ended',
      )
      .catch((err: Error) => {
        throw new Error(`${err.message}\n${diagnostics()}`);
      });
    const url = state['root.http']!.status!.url!;
    httpUrl = url;
    expect(url, diagnostics()).toMatch(new RegExp(`^http://${httpVm.opts.ip.replaceAll('.', '\\.')}:\\d+$`));
    expect(state['root.client']!.status!.phase, JSON.stringify(state['root.client'])).toBe('succeeded');
    expect(state['root.client']!.vars).toEqual({ status: 200, body: `hello from ${httpVm.opts.ip} \n` });
    state = await ui.until((s) => s.root!.vars.served !== null, 10_000, 'the flow saw the answer');

    // The client's VM was created stopped and started by the flow, as its own service account,
    // through the Compute API under the synthesized per-instance grant.
    const clientVm = sim.vm('two-servers-client');
    expect(clientVm.boots).toBe(1);
    expect(sim.compute.log).toContain(
      'two-servers-flow@test-project.iam.gserviceaccount.com POST two-servers-client/start 200',
    );
    expect(sim.compute.log.filter((l) => !l.endsWith(' 200'))).toEqual([]);

    // The UI proxy on the flow VM reaches the server on its VM.
    const proxied = await ui.workFetch('root.http', '/hello.txt');
    expect(proxied.status, `${proxied.body}\n${diagnostics()}`).toBe(200);
    expect(proxied.body).toBe(`hello from ${httpVm.opts.ip} \n`);
  });

  it('the VPC firewall drops what no rule allows (control: the same port from an app VM connects)', async () => {
    const http = sim.vm('two-servers-http').opts.ip;
    const port = Number(new URL(httpUrl).port);
    // From the host's bridge address: no VM, no service account, not in any source range.
    expect(await connects(sim.network.hostIp, http, port)).toBe(false);
    // From the client VM (works' service account): admitted by the work-ports rule.
    expect(inNamespace(sim.vm('two-servers-client').ns!.name, http, port)).toBe(true);
    // SSH is for IAP only, not for the app's VMs.
    expect(inNamespace(sim.vm('two-servers-client').ns!.name, sim.vm('two-servers-flow').opts.ip, 22)).toBe(
      false,
    );
  });

  it('destroy leaves no VM, namespace, process, object or secret behind', async () => {
    const inodes = [...sim.vms.values()].map((v) => v.ns!.inode);
    const bucket = sim.resources().find((r) => r.type === 'google_storage_bucket')!.state.name as string;
    expect(await sim.gcs.list(bucket)).not.toEqual([]);
    await tunnel?.close();
    tunnel = undefined;
    await ws.run(['destroy', '-auto-approve'], { env: simEnv() });
    expect(sim.vms.size).toBe(0);
    expect(sim.network.list()).toEqual([]);
    const survivors = processesInNamespaces(inodes);
    expect(survivors).toEqual([]);
    expect(await sim.gcs.bucketExists(bucket)).toBe(false);
    expect([...sim.secrets.versions.keys()]).toEqual([]);
    expect(sim.resources()).toEqual([]);
  }, 120_000);
});
