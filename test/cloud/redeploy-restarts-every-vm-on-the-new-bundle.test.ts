/**
 * A redeploy rolls out deterministically (ADR 0012). The flow VM and the work VM run the real
 * boot program (vm-boot.mjs, the file the startup script installs) as processes on loopback,
 * against stand-ins for GCP: a metadata server per VM serving its synthesized metadata, Secret
 * Manager and the Compute API enforcing the synthesized grants, and the fake-gcs-server
 * emulator holding the bundles. The work "VM" is bound to its process: starting it through the
 * Compute API boots vm-boot.mjs, stopping it shuts that down.
 *
 * "terraform apply" with a new bundle is done as Terraform does it: upload the new bundle
 * object, update both VMs' metadata in place (to the second synthesis' values), delete the old
 * object. Then: the app of bundle 1 ends (its running call is stopped), the work VM is
 * stopped, the flow role restarts on bundle 2, starts the work VM, which boots bundle 2, and
 * the new app runs to its end; an ended app then stays ended across a "reboot".
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { synthesizeApp } from '../../constructs/cloud/synth.ts';
import { freePort, type GcsEmulator, startGcsEmulator } from '../support/gcs-emulator.ts';
import app from './fixtures/lifecycle-app/app.ts';
import { type FakeCompute, startComputeApi } from './support/fake-compute.ts';
import {
  type FakeMetadataServer,
  type FakeSecretManager,
  resolveRefs,
  type StackJson,
  startMetadataServer,
  startSecretManager,
} from './support/fake-gcp.ts';
import { copyFixture, type Proc, start } from './support/processes.ts';

const PROJECT = 'test-project';
const BOOT = new URL('../../daemon/cloud/vm-boot.mjs', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'lightning-redeploy-'));
const cleanups: (() => unknown)[] = [];
/** What happened, in order: "work boot 1", "work exit 1", "compute <log line>", … */
const timeline: string[] = [];

interface Deployment {
  readonly tf: StackJson;
  readonly sha256: string;
  readonly object: string;
  readonly bytes: Buffer;
}

let v1: Deployment;
let v2: Deployment;
let gcs: GcsEmulator;
let bucket: string;
let secrets: FakeSecretManager;
let compute: FakeCompute;
const meta: Record<string, FakeMetadataServer> = {};
let values: Record<string, string>;
let flowPort: number;
let uiPort: number;
const works: Proc[] = [];
let firstFlow: Proc;
/** The flow VM's current boot process. */
let flow: Proc;

/** Synthesizes the fixture app from a copy whose job prints `version` and whose flow ends as `end` says. */
async function synthesize(version: string, state: string): Promise<Deployment> {
  const dir = copyFixture('lifecycle-app');
  writeFileSync(join(dir, 'version.txt'), `${version}\n`);
  const appFile = join(dir, 'app.ts');
  writeFileSync(appFile, readFileSync(appFile, 'utf8').replace("{ end: 'stop', seconds: 0 }", state));
  const r = await synthesizeApp(app, { appFile, outdir: join(tmp, `out-${version}`) });
  const tf = JSON.parse(readFileSync(r.stackFile, 'utf8')) as StackJson;
  const obj = Object.values(tf.resource.google_storage_bucket_object ?? {})[0]!;
  return {
    tf,
    sha256: r.bundle.sha256,
    object: obj.name as string,
    bytes: readFileSync(join(dirname(r.stackFile), obj.source as string)),
  };
}

const env = (vm: string): NodeJS.ProcessEnv => ({
  PATH: process.env.PATH,
  LIGHTNING_BOOT_ROOT: join(tmp, `${vm}-opt-lightning`),
  LIGHTNING_RUNTIME_DIR: join(tmp, `${vm}-run`),
  GCE_METADATA_HOST: `127.0.0.1:${meta[vm]!.port}`,
  STORAGE_EMULATOR_HOST: gcs.endpoint,
  LIGHTNING_SECRET_MANAGER_ENDPOINT: `http://127.0.0.1:${secrets.port}`,
  LIGHTNING_COMPUTE_ENDPOINT: compute.endpoint,
});

function bootWork(): Proc {
  const p = start(process.execPath, [BOOT, 'run'], env('lifecycle-job'));
  works.push(p);
  const n = works.length;
  timeline.push(`work boot ${n}`);
  void p.exit.then(() => timeline.push(`work exit ${n}`));
  cleanups.push(() => p.stop(1000));
  return p;
}

function bootFlow(): Proc {
  const p = start(process.execPath, [BOOT, 'run'], env('lifecycle-flow'));
  cleanups.push(() => p.stop(1000));
  return p;
}

/** The VM's metadata in stack `tf`, with this test's addresses and ports. */
function metadataOf(tf: StackJson, vm: string): Record<string, string> {
  const r = Object.values(tf.resource.google_compute_instance ?? {}).find((i) => i.name === vm)!;
  const m = JSON.parse(resolveRefs(JSON.stringify(r.metadata), values)) as Record<string, string>;
  return { ...m, 'lightning-flow-port': String(flowPort), 'lightning-ui-port': String(uiPort) };
}

async function upload(d: Deployment): Promise<void> {
  const url = `${gcs.endpoint}/upload/storage/v1/b/${bucket}/o?uploadType=media&name=${encodeURIComponent(d.object)}`;
  expect((await fetch(url, { method: 'POST', body: d.bytes })).ok).toBe(true);
}

/**
 * What `terraform apply` does with a new bundle: the new object, every VM's metadata updated in
 * place (the work VM first, then the flow VM), the old object deleted.
 */
async function apply(
  from: Deployment,
  to: Deployment,
  flowExtra: Record<string, string> = {},
): Promise<void> {
  await upload(to);
  meta['lifecycle-job']!.setAttributes(metadataOf(to.tf, 'lifecycle-job'));
  meta['lifecycle-flow']!.setAttributes({ ...metadataOf(to.tf, 'lifecycle-flow'), ...flowExtra });
  await fetch(`${gcs.endpoint}/storage/v1/b/${bucket}/o/${encodeURIComponent(from.object)}`, {
    method: 'DELETE',
  });
  timeline.push(`terraform apply ${to.sha256.slice(0, 12)}`);
}

const posts = () => compute.log.filter((l) => / POST /.test(l));

beforeAll(async () => {
  v1 = await synthesize('1', "{ end: 'never', seconds: 600 }");
  v2 = await synthesize('2', "{ end: 'stop', seconds: 0 }");
  expect(v2.sha256).not.toBe(v1.sha256);
  gcs = await startGcsEmulator({ backend: 'memory' });
  cleanups.push(() => gcs.stop());
  bucket = Object.values(v1.tf.resource.google_storage_bucket ?? {})[0]!.name as string;
  await fetch(`${gcs.endpoint}/storage/v1/b?project=${PROJECT}`, {
    method: 'POST',
    body: JSON.stringify({ name: bucket }),
  });
  await upload(v1);
  secrets = await startSecretManager('127.0.0.1', v1.tf, PROJECT);
  cleanups.push(() => secrets.close());
  compute = await startComputeApi(v1.tf, PROJECT, 'us-central1-a', {
    onStart: () => void bootWork(),
    // A VM stop is an ACPI shutdown: systemd stops the service (SIGTERM), then the VM is off.
    onStop: () => works.at(-1)?.stop(5000),
  });
  cleanups.push(() => compute.close());
  values = { 'google_storage_bucket.name': bucket, 'google_compute_address.address': '127.0.0.1' };
  flowPort = await freePort();
  uiPort = await freePort();
  for (const vm of ['lifecycle-flow', 'lifecycle-job']) {
    meta[vm] = await startMetadataServer('127.0.0.1', v1.tf, vm, PROJECT, values, '127.0.0.1');
    meta[vm]!.setAttributes(metadataOf(v1.tf, vm));
    cleanups.push(() => meta[vm]!.close());
  }
}, 180_000);

afterAll(async () => {
  for (const c of cleanups.reverse()) {
    try {
      await c();
    } catch {
      // keep cleaning up
    }
  }
});

describe('a redeploy (terraform apply with a new bundle) while the app runs', () => {
  it('ends the old app, stops the work VM, restarts the flow on the new bundle, which starts the work VM on it', async () => {
    const flow = bootFlow();
    firstFlow = flow;
    const work = bootWork(); // created running (startWith 'flow')
    await flow.waitFor(/job of version 1 running/, 120_000);
    const logOf = () => `flow:\n${flow.output}\nwork VMs:\n${works.map((w) => w.output).join('\n---\n')}`;
    expect(work.output).toContain(`bundle ${v1.object}`);

    await apply(v1, v2);

    await flow.waitFor(/lightning app ended \(exit 0\): job finished/, 120_000).catch((err: Error) => {
      throw new Error(`${err.message}\n${logOf()}`);
    });
    const out = flow.output;
    // The old app ended for the redeploy. Its running call got the app's Shutdown: the daemon
    // stopped the script and exited in order (0) before its VM was stopped.
    expect(out).toMatch(new RegExp(`redeploy: bundle ${v1.sha256.slice(0, 12)} → ${v2.sha256.slice(0, 12)}`));
    expect(out).toMatch(/lightning app ended \(exit 0\): a new bundle was deployed/);
    expect(await works[0]!.exit).toBe(0);
    expect(works[0]!.output).toMatch(/role exited \(0\)/);
    expect(works[0]!.output).not.toMatch(/job done/);
    // Rollout order: stop the work VM, restart the flow on bundle 2, start the work VM.
    const i = (re: RegExp) => out.search(re);
    expect(i(/redeploy: bundle/)).toBeLessThan(i(/stopped the VM of root\.job/));
    expect(i(/stopped the VM of root\.job/)).toBeLessThan(
      i(new RegExp(`bundles/${v2.sha256}/lightning-runtime`)),
    );
    expect(i(new RegExp(`bundles/${v2.sha256}/lightning-runtime`))).toBeLessThan(
      i(/job of version 2 running/),
    );
    expect(posts()).toEqual([
      'lifecycle-flow POST lifecycle-job/stop 200', // the redeploy
      'lifecycle-flow POST lifecycle-job/start 200', // the new app
      'lifecycle-flow POST lifecycle-job/stop 200', // the new app ended
    ]);
    // The first work VM was down before the second booted: no mix of versions, ever.
    expect(timeline.indexOf('work exit 1')).toBeLessThan(timeline.indexOf('work boot 2'));
    expect(works).toHaveLength(2);
    expect(works[1]!.output).toContain(`bundle ${v2.object}`);
    expect(out).not.toMatch(/job of version 1 running[\s\S]*job of version 2 running[\s\S]*job of version 1/);
    expect(compute.status.get('lifecycle-job')).toBe('TERMINATED');
    // The flow VM stays up (cheap), waiting for the next redeploy.
    await flow.waitFor(/This VM stays up and starts the app again when a new bundle is deployed/);
    expect(compute.log.filter((l) => / 403$/.test(l))).toEqual([]);
  }, 240_000);

  it('an ended app stays ended when the flow VM reboots: nothing starts it or its work VMs again', async () => {
    const before = posts().length;
    await firstFlow.stop(); // the VM goes down (idle: vm-boot exits at once)
    expect(await firstFlow.exit).toBe(0);
    const rebooted = bootFlow();
    await rebooted.waitFor(/has ended \(exit 0: job finished\); its work VMs are not started again/);
    await new Promise((r) => setTimeout(r, 1500));
    expect(rebooted.output).not.toMatch(/starting: node/);
    expect(posts()).toHaveLength(before);
    expect(compute.status.get('lifecycle-job')).toBe('TERMINATED');
    flow = rebooted;
  }, 60_000);

  it('keepWorkVmsAfterEnd keeps the work VM after the end; the next redeploy restarts it on the new bundle', async () => {
    const v3 = await synthesize('3', "{ end: 'stop', seconds: 0 }");
    const v4 = await synthesize('4', "{ end: 'stop', seconds: 0 }");
    const before = posts().length;
    // As synthesized with cloud.keepWorkVmsAfterEnd (the synthesis test checks that mapping).
    await apply(v2, v3, { 'lightning-keep-work-vms': 'true' });
    await flow.waitFor(/job of version 3 running[\s\S]*This VM stays up/, 120_000);
    expect(flow.output).toMatch(/--keep-vms: left 1 work VM running \(lifecycle-job\)/);
    expect(compute.status.get('lifecycle-job')).toBe('RUNNING');
    expect(posts().slice(before)).toEqual(['lifecycle-flow POST lifecycle-job/start 200']);
    // Its daemon ended with the app; the VM idles. A redeploy must not find it "running" and
    // wait for a daemon that never comes: the new flow restarts it first.
    await apply(v3, v4, { 'lightning-keep-work-vms': 'true' });
    await flow.waitFor(/job of version 4 running[\s\S]*This VM stays up/, 120_000);
    expect(flow.output).toMatch(/--restart-work-vms/);
    expect(posts().slice(before)).toEqual([
      'lifecycle-flow POST lifecycle-job/start 200', // v3 starts it
      'lifecycle-flow POST lifecycle-job/stop 200', // v4 restarts the kept VM…
      'lifecycle-flow POST lifecycle-job/start 200', // …on the new bundle
    ]);
    expect(works.at(-1)!.output).toContain(`bundle ${v4.object}`);
  }, 240_000);
});
