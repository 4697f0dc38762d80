/**
 * The flow starts a work VM created stopped ('first-run') and stops an idle one, through a
 * Compute Engine API stand-in that enforces the synthesized per-instance grants: the flow's
 * service account may start/stop exactly the controlled VMs, nothing else.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkVmControl, type WorkVmEvent } from '../../constructs/cloud/work-vm-control.ts';
import app from './fixtures/gpu-app/app.ts';
import { type StackJson, startMetadataServer } from './support/fake-gcp.ts';
import { type Synthesized, synthFixture } from './support/synth-fixture.ts';

let s: Synthesized;
let compute: Server;
let computeEndpoint: string;
const status = new Map<string, string>();
const calls: string[] = [];
let metadata: Awaited<ReturnType<typeof startMetadataServer>>;

/** Grants in the stack: "accountId|instance|permission". */
function grants(tf: Synthesized['tf']): Set<string> {
  const out = new Set<string>();
  const r = tf.resource;
  const saById = Object.fromEntries(
    Object.entries(r.google_service_account ?? {}).map(([id, v]) => [
      `serviceAccount:\${google_service_account.${id}.email}`,
      v.account_id as string,
    ]),
  );
  const vmById = Object.fromEntries(
    Object.entries(r.google_compute_instance ?? {}).map(([id, v]) => [
      `\${google_compute_instance.${id}.name}`,
      v.name as string,
    ]),
  );
  const roleById = Object.fromEntries(
    Object.entries(r.google_project_iam_custom_role ?? {}).map(([id, v]) => [
      `\${google_project_iam_custom_role.${id}.name}`,
      v.permissions as string[],
    ]),
  );
  for (const g of Object.values(r.google_compute_instance_iam_member ?? {})) {
    for (const p of roleById[g.role as string] ?? [])
      out.add(`${saById[g.member as string]}|${vmById[g.instance_name as string]}|${p}`);
  }
  return out;
}

beforeAll(async () => {
  s = await synthFixture(app);
  for (const vm of Object.values(s.tf.resource.google_compute_instance ?? {}))
    status.set(vm.name as string, vm.desired_status === 'TERMINATED' ? 'TERMINATED' : 'RUNNING');
  const allowed = grants(s.tf);
  compute = createServer((req, res) => {
    const m =
      /^\/compute\/v1\/projects\/my-ml-project\/zones\/us-central1-a\/instances\/([a-z0-9-]+)(\/start|\/stop)?$/.exec(
        req.url ?? '',
      );
    const account = /^Bearer fake-token-for-(.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const perm =
      m?.[2] === '/start'
        ? 'compute.instances.start'
        : m?.[2] === '/stop'
          ? 'compute.instances.stop'
          : 'compute.instances.get';
    calls.push(`${account} ${req.method} ${m?.[1]}${m?.[2] ?? ''}`);
    if (!m || !status.has(m[1]!)) return void res.writeHead(404).end('{}');
    if (!allowed.has(`${account}|${m[1]}|${perm}`))
      return void res
        .writeHead(403)
        .end(JSON.stringify({ error: { code: 403, message: `Required '${perm}' permission` } }));
    const name = m[1]!;
    const cur = status.get(name)!;
    if (m[2] === '/start') status.set(name, 'STAGING');
    else if (m[2] === '/stop') status.set(name, 'STOPPING');
    else if (cur === 'STAGING') status.set(name, 'RUNNING');
    else if (cur === 'STOPPING') status.set(name, 'TERMINATED');
    res
      .writeHead(200, { 'Content-Type': 'application/json' })
      .end(JSON.stringify(m[2] ? { kind: 'compute#operation', status: 'RUNNING' } : { name, status: cur }));
  });
  await new Promise<void>((r) => compute.listen(0, '127.0.0.1', () => r()));
  computeEndpoint = `http://127.0.0.1:${(compute.address() as AddressInfo).port}`;
  metadata = await startMetadataServer(
    '127.0.0.1',
    s.tf as unknown as StackJson,
    'vision-flow',
    'my-ml-project',
    {
      'google_storage_bucket.name': 'b',
      'google_compute_address.address': '10.0.0.2',
    },
  );
});

afterAll(async () => {
  compute?.close();
  await metadata?.close();
});

describe('work VM control from the flow', () => {
  it('reads the controlled works from the flow VM metadata and starts a stopped VM before its first call', async () => {
    process.env.LIGHTNING_CLOUD = '1';
    const events: WorkVmEvent[] = [];
    const vms = await WorkVmControl.fromMetadata({
      metadataHost: `127.0.0.1:${metadata.port}`,
      computeEndpoint,
      pollIntervalMs: 10,
      onEvent: (e) => events.push(e),
    });
    delete process.env.LIGHTNING_CLOUD;
    expect(vms).toBeDefined();
    expect(vms!.controls('root.evaluate')).toBe(true);
    expect(vms!.controls('root.train')).toBe(true); // Spot: restarted after preemption
    expect(vms!.controls('root.tensorboard')).toBe(false);
    expect(status.get('vision-evaluate')).toBe('TERMINATED');
    const [a, b] = await Promise.all([
      vms!.ensureRunning('root.evaluate'),
      vms!.ensureRunning('root.evaluate'),
    ]);
    expect([a, b]).toEqual(['started', 'started']);
    expect(status.get('vision-evaluate')).toBe('RUNNING');
    expect(calls.filter((c) => c.endsWith('/start'))).toEqual(['vision-flow POST vision-evaluate/start']);
    expect(events.map((e) => e.action)).toEqual(['starting', 'running']);
    expect(await vms!.ensureRunning('root.evaluate')).toBe('running');
  });

  it('stops a VM after its idle timeout, and not while it is busy', async () => {
    const events: WorkVmEvent[] = [];
    const stopped = new Promise<void>((resolve) => {
      const vms = new WorkVmControl(
        {
          'root.evaluate': {
            instance: 'vision-evaluate',
            zone: 'us-central1-a',
            project: 'my-ml-project',
            startWith: 'first-run',
            idleTimeoutSeconds: 0.05,
          },
        },
        {
          metadataHost: `127.0.0.1:${metadata.port}`,
          computeEndpoint,
          onEvent: (e) => {
            events.push(e);
            if (e.action === 'stopped' || e.action === 'error') resolve();
          },
        },
      );
      vms.workIdle('root.evaluate');
      vms.workBusy('root.evaluate'); // a new call came in: no stop
      vms.workIdle('root.evaluate'); // and ended: stop after the timeout
    });
    await stopped;
    expect(events.map((e) => e.action)).toEqual(['idle-stop', 'stopped']);
    expect(calls.filter((c) => c.endsWith('/stop'))).toEqual(['vision-flow POST vision-evaluate/stop']);
  });

  it('is refused on a VM the flow was not granted, with a fix in the message', async () => {
    const vms = new WorkVmControl(
      {
        'root.tensorboard': {
          instance: 'vision-tensorboard',
          zone: 'us-central1-a',
          project: 'my-ml-project',
          startWith: 'first-run',
          idleTimeoutSeconds: null,
        },
      },
      { metadataHost: `127.0.0.1:${metadata.port}`, computeEndpoint, pollIntervalMs: 10 },
    );
    await expect(vms.ensureRunning('root.tensorboard')).rejects.toThrow(
      /HTTP 403[\s\S]*needs the lightningVmControl role/,
    );
    await expect(vms.ensureRunning('root.other')).rejects.toThrow(/no flow-controlled VM/);
  });

  it('is absent outside the cloud', async () => {
    delete process.env.LIGHTNING_CLOUD;
    expect(await WorkVmControl.fromMetadata({ metadataHost: '127.0.0.1:1' })).toBeUndefined();
  });
});
