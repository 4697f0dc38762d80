/**
 * The provider side of SIM-CONTRACT.md: with LIGHTNING_GCP_SIM_URL set, the stand-in provider
 * sends every apply and read to the simulated GCP as plain JSON and takes its answer as the
 * state. A tiny recording HTTP server plays the simulator here (the real one lives in
 * test/support/gcp-sim/); real Terraform drives the provider.
 */
// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Terraform references and escapes are the subject
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TERRAFORM_TIMEOUT_MS, TerraformWorkspace } from '../support/terraform/terraform-cli.ts';
import { appliedResources } from '../support/terraform/terraform-state.ts';

type Json = Record<string, unknown>;
interface Call {
  readonly path: string;
  readonly body: Json;
}

const SCRIPT = 'echo "${HOME:-/root}" %{not-a-directive}';
const STACK = {
  terraform: { required_providers: { google: { source: 'hashicorp/google', version: '6.50.0' } } },
  provider: { google: [{ project: 'sim-project', region: 'us-central1' }] },
  resource: {
    google_compute_address: { flow: { name: 'flow-ip', address_type: 'INTERNAL', region: 'us-central1' } },
    google_compute_instance: {
      vm: {
        name: 'vm',
        zone: 'us-central1-a',
        machine_type: 'e2-small',
        boot_disk: [{ initialize_params: [{ image: 'debian-cloud/debian-12' }] }],
        network_interface: [{ network: 'default', network_ip: '${google_compute_address.flow.address}' }],
        metadata: { 'startup-script': 'echo "$${HOME:-/root}" %%{not-a-directive}' },
      },
    },
  },
};

let calls: Call[] = [];
/** What the simulator answers, per request path and resource type. */
let answer: (path: string, body: Json) => { status: number; json?: unknown } = () => ({ status: 404 });
let server: Server;
let env: Record<string, string>;
let ws: TerraformWorkspace;

beforeAll(async () => {
  server = createServer((req, res) => {
    let text = '';
    req.on('data', (c: Buffer) => {
      text += c;
    });
    req.on('end', () => {
      const body = JSON.parse(text) as Json;
      calls.push({ path: req.url ?? '', body });
      const { status, json } = answer(req.url ?? '', body);
      res
        .writeHead(status, { 'content-type': 'application/json' })
        .end(json === undefined ? '' : JSON.stringify(json));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  env = { LIGHTNING_GCP_SIM_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
  const dir = mkdtempSync(join(tmpdir(), 'lightning-sim-stack-'));
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'cdk.tf.json'), JSON.stringify(STACK));
  ws = await TerraformWorkspace.create(dir);
  await ws.run(['init']);
}, TERRAFORM_TIMEOUT_MS);

afterAll(async () => {
  ws?.dispose();
  await new Promise((resolve) => server?.close(resolve));
});

const applies = (type: string) => calls.filter((c) => c.path === '/v1/apply' && c.body.type === type);

describe('the stand-in provider with LIGHTNING_GCP_SIM_URL', { timeout: TERRAFORM_TIMEOUT_MS }, () => {
  it('sends each create as plain JSON and keeps what the simulator answers', async () => {
    calls = [];
    answer = (path, body) => {
      if (path !== '/v1/apply') return { status: 404 };
      const planned = body.planned as Json;
      if (body.type === 'google_compute_address')
        return { status: 200, json: { state: { ...planned, address: '10.9.8.7' } } };
      return { status: 200, json: { state: { ...planned, current_status: 'RUNNING' } } };
    };
    await ws.run(['apply', '-auto-approve'], { env });

    const [address] = applies('google_compute_address');
    expect(address?.body).toMatchObject({ prior: null, config: { name: 'flow-ip', address: null } });
    // The planned value has no unknowns left: computed attributes carry placeholders.
    const plannedAddress = address!.body.planned as Json;
    expect(typeof plannedAddress.id).toBe('string');
    expect(plannedAddress.project).toBe('sim-project');

    const [vm] = applies('google_compute_instance');
    const planned = vm?.body.planned as Json & { metadata: Json; network_interface: Json[] };
    // Exactly the string Terraform rendered, and the address the simulator chose.
    expect(planned.metadata['startup-script']).toBe(SCRIPT);
    expect(planned.network_interface[0]?.network_ip).toBe('10.9.8.7');
    expect(Array.isArray(planned.boot_disk)).toBe(true);

    const show = await ws.showJson();
    expect(appliedResources(show, 'google_compute_address')[0]?.address).toBe('10.9.8.7');
    expect(appliedResources(show, 'google_compute_instance')[0]?.current_status).toBe('RUNNING');
  });

  it('plans to create a resource again when the simulator says it is gone, and keeps untracked ones', async () => {
    calls = [];
    answer = (path, body) =>
      path === '/v1/read' && body.type === 'google_compute_instance'
        ? { status: 200, json: { state: null } }
        : { status: 404 };
    const plan = await ws.run(['plan', '-detailed-exitcode'], { env, okExitCodes: [2] });
    expect(plan.stdout).toMatch(/google_compute_instance\.vm will be created/);
    expect(plan.stdout).toMatch(/Plan: 1 to add, 0 to change, 0 to destroy/);
    expect(
      calls
        .filter((c) => c.path === '/v1/read')
        .map((c) => c.body.type)
        .sort(),
    ).toEqual(['google_compute_address', 'google_compute_instance']);
  });

  it("turns a refusal into Terraform's error, naming the type and the simulator's message", async () => {
    answer = (path, body) =>
      path === '/v1/apply' && body.type === 'google_compute_instance'
        ? { status: 409, json: { error: 'ZONE_RESOURCE_POOL_EXHAUSTED in us-central1-a' } }
        : path === '/v1/read' && body.type === 'google_compute_instance'
          ? { status: 200, json: { state: null } }
          : { status: 404 };
    const r = await ws.run(['apply', '-auto-approve'], { env, okExitCodes: [1] });
    expect(r.stderr).toMatch(
      /simulated GCP refused google_compute_instance: ZONE_RESOURCE_POOL_EXHAUSTED in us-central1-a/,
    );
  });

  it('sends destroys with planned null', async () => {
    calls = [];
    answer = (path) => (path === '/v1/apply' ? { status: 200, json: { state: null } } : { status: 404 });
    await ws.run(['destroy', '-auto-approve'], { env });
    const destroyed = applies('google_compute_address');
    expect(destroyed).toHaveLength(1);
    expect(destroyed[0]?.body).toMatchObject({ planned: null, prior: { name: 'flow-ip' } });
  });
});
