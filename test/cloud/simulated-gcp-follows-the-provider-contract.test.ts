/**
 * The simulated GCP's side of SIM-CONTRACT.md, call by call, as the stand-in Terraform
 * provider makes them: create/update/destroy through `/v1/apply`, refresh through `/v1/read`,
 * unmodelled types passed through, refusals as `{error}` with a non-200 status, and a
 * `close()` that removes what a test left behind. Needs root, iproute2 and nftables.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GcpSim, startGcpSim } from '../support/gcp-sim/gcp-sim.ts';
import { processesInNamespaces } from '../support/gcp-sim/sim-network.ts';

type Obj = Record<string, unknown>;
let sim: GcpSim;
let dir: string;

async function call(path: string, body: object): Promise<{ status: number; body: Obj }> {
  const res = await fetch(`${sim.url}${path}`, { method: 'POST', body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Obj };
}
async function poll(predicate: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !predicate(); i++) await new Promise((r) => setTimeout(r, 50));
  if (!predicate()) throw new Error(`${what}: not within 10 s`);
}
const apply = (type: string, prior: Obj | null, planned: Obj | null) =>
  call('/v1/apply', { type, prior, planned, config: planned });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gcp-sim-contract-'));
  writeFileSync(join(dir, 'bundle.tar.gz'), 'bundle bytes');
  sim = await startGcpSim({ sourceRoot: dir, defaultProject: 'p1' });
});

afterAll(async () => {
  await sim?.close();
});

describe('simulated GCP, provider contract', () => {
  it('passes unmodelled types through and answers 404 to reads of what it does not track', async () => {
    const planned = { id: 'x', name: 'n', project: 'p1' };
    expect(await apply('google_compute_router_nat', null, planned)).toEqual({
      status: 200,
      body: { state: planned },
    });
    const read = await call('/v1/read', { type: 'google_compute_router_nat', state: planned });
    expect(read.status).toBe(404);
  });

  it('creates a bucket and an object from a relative source, reads them, refuses a non-empty delete', async () => {
    const bucket = (
      await apply('google_storage_bucket', null, { id: 'ph', name: 'b1', force_destroy: false })
    ).body.state as Obj;
    expect(bucket).toMatchObject({ name: 'b1', id: 'b1', url: 'gs://b1', force_destroy: false });
    const object = (
      await apply('google_storage_bucket_object', null, {
        bucket: 'b1',
        name: 'bundles/a.tar.gz',
        source: 'bundle.tar.gz',
      })
    ).body.state as Obj;
    expect((await sim.gcs.read('b1', 'bundles/a.tar.gz'))?.toString()).toBe('bundle bytes');
    expect(object.md5hash).toEqual(expect.any(String));
    expect((await call('/v1/read', { type: 'google_storage_bucket', state: bucket })).body).toEqual({
      state: bucket,
    });
    await sim.gcs.upload('b1', 'drive/out.txt', Buffer.from('data'));
    const refused = await apply('google_storage_bucket', bucket, null);
    expect(refused.status).toBe(400);
    expect(refused.body.error).toMatch(/containing objects without `force_destroy`/);
    expect(await sim.gcs.bucketExists('b1')).toBe(true);
    expect((await apply('google_storage_bucket_object', object, null)).body).toEqual({ state: null });
    await sim.gcs.deleteObject('b1', 'drive/out.txt');
    expect((await apply('google_storage_bucket', bucket, null)).body).toEqual({ state: null });
    expect(await sim.gcs.bucketExists('b1')).toBe(false);
  });

  it('fills computed attributes only: service account email, address, secret name', async () => {
    const sa = (await apply('google_service_account', null, { account_id: 'app-flow', display_name: 'd' }))
      .body.state as Obj;
    expect(sa).toMatchObject({
      account_id: 'app-flow',
      display_name: 'd',
      email: 'app-flow@p1.iam.gserviceaccount.com',
    });
    const address = (
      await apply('google_compute_address', null, { name: 'ip', region: 'r', address_type: 'INTERNAL' })
    ).body.state as Obj;
    expect(address.address).toMatch(
      new RegExp(`^${sim.network.hostIp.replace(/\.1$/, '').replaceAll('.', '\\.')}\\.\\d+$`),
    );
    const secret = (await apply('google_secret_manager_secret', null, { secret_id: 's1' })).body.state as Obj;
    expect(secret).toMatchObject({ secret_id: 's1', name: 'projects/p1/secrets/s1' });
    expect(sim.secrets.versions.has('p1/s1')).toBe(true);
  });

  it('refuses a VM without a service account, with the reason', async () => {
    const r = await apply('google_compute_instance', null, {
      name: 'vm0',
      zone: 'z',
      network_interface: [{}],
    });
    expect(r.status).toBe(400);
    expect(r.body.error).toMatch(/no service_account email/);
  });

  it('reports a VM stopped outside Terraform on read, and close() removes VMs, namespaces and the bridge', async () => {
    const planned = {
      name: 'vm1',
      zone: 'z',
      network_interface: [{ subnetwork: 'sub' }],
      service_account: [{ email: 'app-flow@p1.iam.gserviceaccount.com', scopes: ['cloud-platform'] }],
      metadata: { 'startup-script': '#!/bin/bash\nexec sleep 600\n' },
    };
    const state = (await apply('google_compute_instance', null, planned)).body.state as Obj;
    expect(state).toMatchObject({ current_status: 'RUNNING', metadata: planned.metadata });
    const vm = sim.vm('vm1');
    expect((state.network_interface as Obj[])[0]!.network_ip).toBe(vm.opts.ip);
    await poll(() => sim.network.pids(vm.ns!).length >= 1, 'the startup script runs');
    await vm.stop();
    const read = await call('/v1/read', { type: 'google_compute_instance', state });
    expect((read.body.state as Obj).current_status).toBe('TERMINATED');
    vm.boot();
    await poll(() => sim.network.pids(vm.ns!).length >= 1, 'the startup script runs again');
    const inode = vm.ns!.inode;
    await sim.close();
    expect(processesInNamespaces([inode])).toEqual([]);
    expect(sim.network.list()).toEqual([]);
    expect(execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' })).not.toContain(sim.network.prefix);
  });
});
