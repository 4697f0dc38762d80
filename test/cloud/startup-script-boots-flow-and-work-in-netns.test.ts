/**
 * The cloud boot path, for real: the synthesized stack goes through real `terraform apply`
 * (stand-in provider, test/support/terraform), and the startup script *as Terraform rendered
 * it* runs for the flow VM and a work VM, each in its own network namespace, against
 * stand-ins for GCP (a metadata server per VM serving the metadata Terraform applied, Secret
 * Manager enforcing the synthesized grants, and the fake-gcs-server emulator holding the
 * bundle object). The work daemon must find
 * the flow from metadata, read the token the flow published, dial it over TLS, run its
 * script, upload its output to the GCS Drive, and the app must end successfully.
 *
 * Not covered here (see docs/deploy-gcp.md, "What is proven"): the Node runtime from the
 * bucket (LIGHTNING_NODE hands the script this Node; the simulated-GCP tests fetch it) and
 * systemd (LIGHTNING_BOOT_FOREGROUND runs the service's command in the foreground instead).
 *
 * Needs root and iproute2 (network namespaces), as CI has; fails loudly otherwise.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes, X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { synthesizeApp } from '../../constructs/cloud/synth.ts';
import { emulatorBinary } from '../support/gcs-emulator.ts';
import { TERRAFORM_TIMEOUT_MS, TerraformWorkspace } from '../support/terraform/terraform-cli.ts';
import { appliedResources } from '../support/terraform/terraform-state.ts';
import app from './fixtures/cpu-app/app.ts';
import { type FakeCompute, startComputeApi } from './support/fake-compute.ts';
import {
  type FakeSecretManager,
  type FakeServer,
  type StackJson,
  startMetadataServer,
  startSecretManager,
} from './support/fake-gcp.ts';

const FIXTURE = new URL('./fixtures/cpu-app/app.ts', import.meta.url).pathname;
const PROJECT = 'test-project';
const R = randomBytes(2).toString('hex');
const NET = `10.231.${1 + (randomBytes(1)[0]! % 250)}`;
const HOST_IP = `${NET}.1`;
const VMS = {
  flow: { ns: `ll${R}-flow`, ip: `${NET}.2` },
  work: { ns: `ll${R}-work`, ip: `${NET}.3` },
} as const;
const BRIDGE = `ll${R}br`;

const cleanups: (() => unknown)[] = [];
let dir: string;
let tf: StackJson & { resource: Record<string, Record<string, Record<string, unknown>>> };
/** The stack with each VM's metadata replaced by what `terraform apply` rendered. */
let applied: typeof tf;
let stackText: string;
let bundleBytes: Buffer;
let bucket: string;
let bundleObject: string;
let gcs: string;
let secretManager: FakeSecretManager;
let compute: FakeCompute;
const metadataServers: Record<string, FakeServer & { requests: string[] }> = {};

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function setUpNetwork(): void {
  try {
    sh('ip', ['link', 'add', BRIDGE, 'type', 'bridge']);
  } catch (err) {
    throw new Error(
      `This test needs root and iproute2 to create network namespaces (ip link add ... type bridge failed: ${(err as Error).message}). Run it as root, as CI does.`,
    );
  }
  cleanups.push(() => sh('ip', ['link', 'del', BRIDGE]));
  sh('ip', ['addr', 'add', `${HOST_IP}/24`, 'dev', BRIDGE]);
  sh('ip', ['link', 'set', BRIDGE, 'up']);
  for (const [role, vm] of Object.entries(VMS)) {
    const host = `ll${R}${role[0]}0`;
    const guest = `ll${R}${role[0]}1`;
    sh('ip', ['netns', 'add', vm.ns]);
    cleanups.push(() => sh('ip', ['netns', 'del', vm.ns]));
    sh('ip', ['link', 'add', host, 'type', 'veth', 'peer', 'name', guest]);
    cleanups.push(() => sh('ip', ['link', 'del', host]));
    sh('ip', ['link', 'set', host, 'master', BRIDGE, 'up']);
    sh('ip', ['link', 'set', guest, 'netns', vm.ns]);
    sh('ip', ['netns', 'exec', vm.ns, 'ip', 'addr', 'add', `${vm.ip}/24`, 'dev', guest]);
    sh('ip', ['netns', 'exec', vm.ns, 'ip', 'link', 'set', guest, 'up']);
    sh('ip', ['netns', 'exec', vm.ns, 'ip', 'link', 'set', 'lo', 'up']);
  }
}

async function startGcs(): Promise<string> {
  const port = 20000 + (randomBytes(2).readUInt16BE(0) % 20000);
  const endpoint = `http://${HOST_IP}:${port}`;
  const child = spawn(
    emulatorBinary(),
    [
      '-scheme',
      'http',
      '-host',
      HOST_IP,
      '-port',
      String(port),
      '-external-url',
      endpoint,
      '-backend',
      'memory',
      '-log-level',
      'error',
    ],
    { stdio: 'ignore' },
  );
  cleanups.push(() => child.kill('SIGKILL'));
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(`${endpoint}/storage/v1/b`)).ok) return endpoint;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`fake-gcs-server did not answer on ${endpoint}`);
}

interface Booted {
  readonly child: ChildProcess;
  output: string;
  readonly exit: Promise<number | null>;
}

/**
 * `terraform apply` of the synthesized stack; a minimal simulated GCP (SIM-CONTRACT.md) gives
 * the flow's address the IP of the flow's namespace. Returns the stack with every VM's
 * metadata as Terraform rendered it (templates rendered, references resolved).
 */
async function terraformApply(stackDir: string): Promise<typeof tf> {
  const sim = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c;
    });
    req.on('end', () => {
      const { type, planned } = JSON.parse(body) as { type: string; planned: Record<string, unknown> | null };
      if (req.url !== '/v1/apply') return res.writeHead(404).end();
      const state =
        type === 'google_compute_address' && planned ? { ...planned, address: VMS.flow.ip } : planned;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ state }));
    });
  });
  await new Promise<void>((resolve) => sim.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => sim.close(resolve)));
  const ws = await TerraformWorkspace.create(stackDir);
  cleanups.push(() => ws.dispose());
  await ws.run(['init']);
  const env = { LIGHTNING_GCP_SIM_URL: `http://127.0.0.1:${(sim.address() as AddressInfo).port}` };
  await ws.run(['apply', '-auto-approve'], { env });
  const rendered = appliedResources(await ws.showJson(), 'google_compute_instance');
  const copy = structuredClone(tf);
  for (const vm of Object.values(copy.resource.google_compute_instance ?? {})) {
    const done = rendered.find((r) => r.name === vm.name);
    if (!done) throw new Error(`terraform apply created no VM ${String(vm.name)}`);
    vm.metadata = done.metadata;
  }
  return copy;
}

/** Runs the VM's startup script, as Terraform rendered it, inside its namespace, as the guest agent would. */
function boot(vmName: string, ns: string, metadataPort: number, tag: string): Booted {
  const vm = Object.values(applied.resource.google_compute_instance ?? {}).find((r) => r.name === vmName)!;
  const script = join(dir, `${tag}-startup-script.sh`);
  writeFileSync(script, (vm.metadata as Record<string, string>)['startup-script']!);
  const home = join(dir, `${tag}-home`);
  mkdirSync(home, { recursive: true });
  const env = {
    PATH: `${dirname(process.execPath)}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
    HOME: home,
    LIGHTNING_BOOT_ROOT: join(dir, `${tag}-opt-lightning`),
    LIGHTNING_RUNTIME_DIR: join(dir, `${tag}-run`),
    LIGHTNING_BOOT_FOREGROUND: '1',
    LIGHTNING_NODE: process.execPath,
    GCE_METADATA_HOST: `${HOST_IP}:${metadataPort}`,
    STORAGE_EMULATOR_HOST: gcs,
    LIGHTNING_SECRET_MANAGER_ENDPOINT: `http://${HOST_IP}:${secretManager.port}`,
    LIGHTNING_COMPUTE_ENDPOINT: compute.endpoint,
  };
  const child = spawn(
    'ip',
    ['netns', 'exec', ns, 'env', '-i', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), 'bash', script],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    },
  );
  const booted: Booted = {
    child,
    output: '',
    exit: new Promise((resolve) => child.on('exit', (code) => resolve(code))),
  };
  const collect = (c: Buffer) => {
    booted.output += c.toString();
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  cleanups.push(() => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  });
  return booted;
}

function within<T>(p: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what()}`)), ms);
    }),
  ]);
}

async function objects(): Promise<{ name: string; data: Buffer }[]> {
  const list = (await (await fetch(`${gcs}/storage/v1/b/${bucket}/o`)).json()) as {
    items?: { name: string }[];
  };
  const out = [];
  for (const { name } of list.items ?? []) {
    const res = await fetch(`${gcs}/storage/v1/b/${bucket}/o/${encodeURIComponent(name)}?alt=media`);
    out.push({ name, data: Buffer.from(await res.arrayBuffer()) });
  }
  return out;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'lightning-netns-'));
  const result = await synthesizeApp(app, { appFile: FIXTURE, outdir: join(dir, 'cdktf.out') });
  stackText = readFileSync(result.stackFile, 'utf8');
  tf = JSON.parse(stackText);
  const objectResource = Object.values(tf.resource.google_storage_bucket_object ?? {})[0]!;
  bundleObject = objectResource.name as string;
  bundleBytes = readFileSync(join(dirname(result.stackFile), objectResource.source as string));
  bucket = Object.values(tf.resource.google_storage_bucket ?? {})[0]!.name as string;
  applied = await terraformApply(dirname(result.stackFile));

  setUpNetwork();
  gcs = await startGcs();
  // What `terraform apply` would have done: the bucket and the bundle object.
  const created = await fetch(`${gcs}/storage/v1/b?project=${PROJECT}`, {
    method: 'POST',
    body: JSON.stringify({ name: bucket }),
  });
  expect(created.ok).toBe(true);
  const uploaded = await fetch(
    `${gcs}/upload/storage/v1/b/${bucket}/o?uploadType=media&name=${encodeURIComponent(bundleObject)}`,
    {
      method: 'POST',
      body: bundleBytes,
    },
  );
  expect(uploaded.ok).toBe(true);

  secretManager = await startSecretManager(HOST_IP, tf, PROJECT);
  cleanups.push(() => secretManager.close());
  compute = await startComputeApi(tf, PROJECT, 'us-central1-a', {}, HOST_IP);
  cleanups.push(() => compute.close());
  const values = { 'google_storage_bucket.name': bucket, 'google_compute_address.address': VMS.flow.ip };
  for (const [vm, ip] of [
    ['hello-cloud-flow', VMS.flow.ip],
    ['hello-cloud-hello', VMS.work.ip],
  ] as const) {
    metadataServers[vm] = await startMetadataServer(HOST_IP, applied, vm, PROJECT, values, ip);
    cleanups.push(() => metadataServers[vm]!.close());
  }
}, 180_000 + TERRAFORM_TIMEOUT_MS);

afterAll(async () => {
  for (const c of cleanups.reverse()) {
    try {
      await c();
    } catch {
      // best effort: keep cleaning up
    }
  }
});

describe('startup script on a flow VM and a work VM (network namespaces, GCP stand-ins)', () => {
  it('boots both roles; the work joins the flow over TLS, runs, and the app ends successfully', async () => {
    const flow = boot('hello-cloud-flow', VMS.flow.ns, metadataServers['hello-cloud-flow']!.port, 'flow');
    const work = boot('hello-cloud-hello', VMS.work.ns, metadataServers['hello-cloud-hello']!.port, 'work');
    // After the app ended the flow VM stays up, idle until a redeploy (ADR 0012).
    await within(
      new Promise<void>((resolve) => {
        const timer = setInterval(() => {
          if (/This VM stays up/.test(flow.output)) resolve(clearInterval(timer));
        }, 100);
      }),
      120_000,
      () => `the app did not end within 120 s.\nflow:\n${flow.output}\nwork:\n${work.output}`,
    );
    const code = Number(/lightning app ended \(exit (\d+)\)/.exec(flow.output)?.[1]);
    const diagnostics = `flow:\n${flow.output}\nwork:\n${work.output}\nsecret manager:\n${secretManager.log.join('\n')}`;
    expect(code, diagnostics).toBe(0);
    expect(flow.output, diagnostics).toMatch(/lightning app ended \(exit 0\): hello finished/);
    expect(flow.output).toMatch(/root\.hello │ ● running → succeeded/);
    // The script really ran in the work's namespace (its stdout travels to the flow as logs).
    expect(work.output + flow.output).toMatch(/hello from .* to cloud/);
    expect(work.output).toMatch(/role work \(root\.hello\)/);
    expect(flow.output).toMatch(/first boot of this deployment/);
    // The ended app stopped its work VM through the Compute API, with the synthesized grant.
    expect(compute.log.filter((l) => / POST /.test(l))).toEqual([
      'hello-cloud-flow POST hello-cloud-hello/stop 200',
    ]);
    expect(compute.status.get('hello-cloud-hello')).toBe('TERMINATED');

    // The output went to the GCS Drive at the synthesized drive URL.
    const objs = await objects();
    const greeting = objs.find((o) => o.name === 'drive/works/root.hello/greeting.txt');
    expect(greeting?.data.toString(), `objects: ${objs.map((o) => o.name).join(', ')}`).toBe('hello cloud\n');

    // Secrets: the flow published them with its own grants; the work could read the token;
    // nobody was refused (the synthesized grants are sufficient).
    const [shared] = secretManager.versions.get('hello-cloud-app-token')!;
    const [tlsKey] = secretManager.versions.get('hello-cloud-flow-tls-key')!;
    expect(shared).toBeDefined();
    expect(tlsKey).toMatch(/BEGIN PRIVATE KEY/);
    const { token, certPem } = JSON.parse(shared!) as { token: string; certPem: string };
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(new X509Certificate(certPem).subjectAltName).toBe(`IP Address:${VMS.flow.ip}`);
    expect(secretManager.log).toContain('hello-cloud-flow :addVersion hello-cloud-app-token 200');
    expect(secretManager.log).toContain('hello-cloud-work /versions/latest:access hello-cloud-app-token 200');
    expect(secretManager.log.filter((l) => / 40[13]$/.test(l))).toEqual([]);

    // The token is nowhere but Secret Manager and the processes' memory.
    expect(stackText).not.toContain(token);
    expect(bundleBytes.includes(token)).toBe(false);
    for (const o of objs) expect(o.data.includes(token), o.name).toBe(false);
    expect(flow.output + work.output).not.toContain(token);

    // Both VMs were configured from their synthesized metadata.
    expect(metadataServers['hello-cloud-hello']!.requests).toContain(
      '/computeMetadata/v1/instance/attributes/lightning-flow-ip',
    );
    expect(metadataServers['hello-cloud-flow']!.requests).toContain(
      '/computeMetadata/v1/instance/attributes/lightning-tls-key-secret',
    );
    await within(
      work.exit,
      30_000,
      () => `the work daemon did not exit after the app ended:\n${work.output}`,
    ).catch(() => {
      process.kill(-work.child.pid!, 'SIGKILL');
    });
  });

  it('refuses to run a bundle that was replaced in the bucket', async () => {
    const tampered = await fetch(
      `${gcs}/upload/storage/v1/b/${bucket}/o?uploadType=media&name=${encodeURIComponent(bundleObject)}`,
      {
        method: 'POST',
        body: Buffer.concat([bundleBytes, Buffer.from('tampered')]),
      },
    );
    expect(tampered.ok).toBe(true);
    const work = boot(
      'hello-cloud-hello',
      VMS.work.ns,
      metadataServers['hello-cloud-hello']!.port,
      'tampered',
    );
    const code = await within(work.exit, 60_000, () => `the boot did not end:\n${work.output}`);
    expect(code).not.toBe(0);
    expect(work.output).toMatch(/has sha256 [0-9a-f]{64}, metadata expects [0-9a-f]{64}; refusing to run it/);
  });
});
