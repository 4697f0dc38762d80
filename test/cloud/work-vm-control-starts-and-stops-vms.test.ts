/**
 * The flow starts a work VM created stopped ('first-run') and stops an idle one, and stops
 * them all once the app has ended, through a Compute Engine API stand-in that enforces the
 * synthesized per-instance grants: the flow's service account may start/stop exactly the work
 * VMs, nothing else.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkVmControl, type WorkVmEvent } from '../../daemon/cloud/work-vm-control.ts';
import { pollUntil } from '../support/app-fixture.ts';
import app from './fixtures/gpu-app/app.ts';
import { type FakeCompute, startComputeApi } from './support/fake-compute.ts';
import { type StackJson, startMetadataServer } from './support/fake-gcp.ts';
import { type Synthesized, synthFixture } from './support/synth-fixture.ts';

let s: Synthesized;
let compute: FakeCompute;
let computeEndpoint: string;
let metadata: Awaited<ReturnType<typeof startMetadataServer>>;
const calls = (verb: string) => compute.log.filter((c) => c.includes(`${verb} `));

beforeAll(async () => {
  s = await synthFixture(app);
  compute = await startComputeApi(s.tf as unknown as StackJson, 'my-ml-project', 'us-central1-a');
  computeEndpoint = compute.endpoint;
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
  await compute?.close();
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
    // Started with the flow, but stopped when the app ends (and started by a later app).
    expect(vms!.controls('root.tensorboard')).toBe(true);
    expect(vms!.startsWithFlow('root.tensorboard')).toBe(true);
    expect(vms!.startsWithFlow('root.evaluate')).toBe(false);
    expect(compute.status.get('vision-evaluate')).toBe('TERMINATED');
    const [a, b] = await Promise.all([
      vms!.ensureRunning('root.evaluate'),
      vms!.ensureRunning('root.evaluate'),
    ]);
    expect([a, b]).toEqual(['started', 'started']);
    expect(compute.status.get('vision-evaluate')).toBe('RUNNING');
    expect(calls('/start')).toEqual(['vision-flow POST vision-evaluate/start 200']);
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
    expect(calls('/stop')).toEqual(['vision-flow POST vision-evaluate/stop 200']);
  });

  it('stops every work VM once the app has ended, waits until they are TERMINATED, and starts none again', async () => {
    for (const vm of ['vision-train', 'vision-tensorboard', 'vision-evaluate'])
      compute.status.set(vm, 'RUNNING');
    compute.status.set('vision-evaluate', 'TERMINATED'); // stopped when idle: nothing to do
    compute.log.length = 0;
    process.env.LIGHTNING_CLOUD = '1';
    const vms = (await WorkVmControl.fromMetadata({
      metadataHost: `127.0.0.1:${metadata.port}`,
      computeEndpoint,
      pollIntervalMs: 10,
    }))!;
    delete process.env.LIGHTNING_CLOUD;
    // A call's start races the end: it must not bring the VM back after stopAll stopped it.
    const racing = vms.ensureRunning('root.evaluate');
    const results = await vms.stopAll();
    await expect(racing).rejects.toThrow(/the app has ended/);
    expect(Object.fromEntries(results.map((r) => [r.instance, r.outcome]))).toEqual({
      'vision-train': 'stopped',
      'vision-tensorboard': 'stopped',
      'vision-evaluate': 'was-stopped',
    });
    expect(Object.fromEntries(compute.status)).toEqual({
      'vision-flow': 'RUNNING',
      'vision-train': 'TERMINATED',
      'vision-tensorboard': 'TERMINATED',
      'vision-evaluate': 'TERMINATED',
    });
    expect(calls('/start')).toEqual([]);
    expect(calls('/stop').sort()).toEqual([
      'vision-flow POST vision-tensorboard/stop 200',
      'vision-flow POST vision-train/stop 200',
    ]);
    expect(compute.log.filter((l) => / 403$/.test(l))).toEqual([]);
    await expect(vms.ensureRunning('root.train')).rejects.toThrow(/the app has ended/);
    const again = await vms.stopAll();
    expect(again.map((r) => r.outcome)).toEqual(['was-stopped', 'was-stopped', 'was-stopped']);
  });

  it('is refused on a VM the flow was not granted, with a fix in the message', async () => {
    const vms = new WorkVmControl(
      {
        // The flow has no grant on its own VM (nor on anything but the work VMs).
        'root.tensorboard': {
          instance: 'vision-flow',
          zone: 'us-central1-a',
          project: 'my-ml-project',
          startWith: 'first-run',
          idleTimeoutSeconds: null,
        },
      },
      {
        metadataHost: `127.0.0.1:${metadata.port}`,
        computeEndpoint,
        pollIntervalMs: 10,
        appearTimeoutMs: 100,
      },
    );
    await expect(vms.ensureRunning('root.tensorboard')).rejects.toThrow(
      /HTTP 403[\s\S]*needs the lightningVmControl role/,
    );
    await expect(vms.ensureRunning('root.other')).rejects.toThrow(/no flow-controlled VM/);
  });

  it('waits for a VM that Terraform has not created yet (the flow VM may boot first)', async () => {
    compute.status.delete('vision-tensorboard');
    const vms = new WorkVmControl(
      {
        'root.tensorboard': {
          instance: 'vision-tensorboard',
          zone: 'us-central1-a',
          project: 'my-ml-project',
          startWith: 'flow',
          idleTimeoutSeconds: null,
        },
      },
      { metadataHost: `127.0.0.1:${metadata.port}`, computeEndpoint, pollIntervalMs: 10 },
    );
    const running = vms.ensureRunning('root.tensorboard');
    // Answered 404 until created (running, as Terraform creates a startWith:'flow' VM).
    await pollUntil(
      () => compute.log.includes('vision-flow GET vision-tensorboard 404'),
      10_000,
      'a GET answered 404',
    );
    compute.status.set('vision-tensorboard', 'RUNNING');
    expect(await running).toBe('running');
  });

  it('is absent outside the cloud', async () => {
    delete process.env.LIGHTNING_CLOUD;
    expect(await WorkVmControl.fromMetadata({ metadataHost: '127.0.0.1:1' })).toBeUndefined();
  });
});
