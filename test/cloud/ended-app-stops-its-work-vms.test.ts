/**
 * GPU VMs must not keep billing after the app ends. The real flow role (`lightning-local
 * flow`, as the flow VM runs it) and a real work daemon run on loopback; the work's "VM" lives
 * in a Compute API stand-in that enforces the synthesized grants: starting the VM spawns the
 * daemon, stopping it kills the daemon. The flow reads its metadata (the synthesized
 * `lightning-work-vms`) from a metadata-server stand-in, as on GCP.
 */
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LightningApp } from '../../constructs/index.ts';
import { CLI } from '../support/app-fixture.ts';
import app from './fixtures/lifecycle-app/app.ts';
import { type FakeCompute, startComputeApi } from './support/fake-compute.ts';
import { type FakeServer, type StackJson, startMetadataServer } from './support/fake-gcp.ts';
import { copyFixture, type Proc, start } from './support/processes.ts';
import { type Synthesized, synthFixture } from './support/synth-fixture.ts';

const TOKEN = 'lifecycle-test-token';
let s: Synthesized;
let metadata: FakeServer;
const running: Proc[] = [];

beforeAll(async () => {
  s = await synthFixture(app);
  metadata = await startMetadataServer(
    '127.0.0.1',
    s.tf as unknown as StackJson,
    'lifecycle-flow',
    'test-project',
    {
      'google_storage_bucket.name': 'b',
      'google_compute_address.address': '127.0.0.1',
    },
  );
}, 60_000);

afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop(1000)));
});

afterAll(async () => {
  await metadata?.close();
});

interface Deployment {
  readonly flow: Proc;
  readonly compute: FakeCompute;
  /** Every daemon the "VM" ran, in order. */
  readonly daemons: Proc[];
}

/**
 * Starts the flow role with `flowArgs`, and the work VM's daemon the way its VM would: now
 * (the VM was created running) and again whenever the Compute API starts the VM.
 */
async function deploy(flowArgs: string[]): Promise<Deployment> {
  const dir = copyFixture('lifecycle-app');
  const daemons: Proc[] = [];
  let flowAddress = '';
  const bootDaemon = () => {
    const d = start(
      process.execPath,
      [CLI, 'daemon', join(dir, 'app.ts'), '--work', 'root.job', '--flow', flowAddress],
      { PATH: process.env.PATH, LIGHTNING_TOKEN: TOKEN },
    );
    daemons.push(d);
    running.push(d);
  };
  const compute = await startComputeApi(s.tf as unknown as StackJson, 'test-project', 'us-central1-a', {
    onStart: bootDaemon,
    // A stopped VM takes its processes with it.
    onStop: () => daemons.at(-1)?.stop(3000),
  });
  const flow = start(
    process.execPath,
    [CLI, 'flow', join(dir, 'app.ts'), '--listen', '127.0.0.1:0', ...flowArgs],
    {
      PATH: process.env.PATH,
      LIGHTNING_TOKEN: TOKEN,
      LIGHTNING_CLOUD: '1',
      GCE_METADATA_HOST: `127.0.0.1:${metadata.port}`,
      LIGHTNING_COMPUTE_ENDPOINT: compute.endpoint,
    },
  );
  running.push(flow);
  flowAddress = (await flow.waitFor(/listening on (127\.0\.0\.1:\d+)/))[1]!;
  expect(compute.status.get('lifecycle-job')).toBe('RUNNING');
  bootDaemon();
  return { flow, compute, daemons };
}

const stops = (c: FakeCompute) => c.log.filter((l) => / POST lifecycle-job\/stop /.test(l));
const starts = (c: FakeCompute) => c.log.filter((l) => / POST lifecycle-job\/start /.test(l));

describe('an app that ended stops its work VMs', () => {
  it('stopApp: the flow stops the work VM through the Compute API before it exits', async () => {
    const { flow, compute } = await deploy(['--set', 'end=stop']);
    const code = await flow.exit;
    expect(code, flow.output).toBe(0);
    expect(flow.output).toMatch(/lightning app ended \(exit 0\): job finished/);
    expect(stops(compute), compute.log.join('\n')).toEqual(['lifecycle-flow POST lifecycle-job/stop 200']);
    // Stopped, not stopping: the flow waited for it, so nothing of the app is left running.
    expect(compute.status.get('lifecycle-job')).toBe('TERMINATED');
    expect(starts(compute)).toEqual([]);
    expect(flow.output).toMatch(/stopped the VM of root\.job/);
  }, 90_000);

  it('failApp: the same, and the exit code says the app failed', async () => {
    const { flow, compute } = await deploy(['--set', 'end=fail']);
    expect(await flow.exit, flow.output).toBe(1);
    expect(stops(compute)).toEqual(['lifecycle-flow POST lifecycle-job/stop 200']);
    expect(compute.status.get('lifecycle-job')).toBe('TERMINATED');
  }, 90_000);

  it('the flow role ending (SIGTERM mid-call) stops the VM whose call was running', async () => {
    const { flow, compute, daemons } = await deploy(['--set', 'end=never', '--set', 'seconds=600']);
    await flow.waitFor(/job of version 1 running/);
    process.kill(flow.child.pid!, 'SIGTERM');
    expect(await flow.exit, flow.output).toBe(143);
    expect(stops(compute)).toEqual(['lifecycle-flow POST lifecycle-job/stop 200']);
    expect(compute.status.get('lifecycle-job')).toBe('TERMINATED');
    expect(await daemons[0]!.exit).not.toBeNull();
  }, 90_000);

  it('--keep-vms leaves them running (their daemons have exited)', async () => {
    const { flow, compute, daemons } = await deploy(['--set', 'end=stop', '--keep-vms']);
    expect(await flow.exit, flow.output).toBe(0);
    expect(stops(compute)).toEqual([]);
    expect(compute.status.get('lifecycle-job')).toBe('RUNNING');
    expect(flow.output).toMatch(/--keep-vms: left 1 work VM running \(lifecycle-job\)/);
    // The daemon ended with the app (exit 0, so systemd does not restart it).
    expect(await daemons[0]!.exit).toBe(0);
  }, 90_000);

  it('cloud.keepWorkVmsAfterEnd reaches the flow VM as metadata (vm-boot turns it into --keep-vms)', async () => {
    const keep = new LightningApp({
      name: 'keeper',
      cloud: { project: 'test-project', keepWorkVmsAfterEnd: true },
    });
    const { Root } = await import('./fixtures/lifecycle-app/app.ts');
    new Root(keep);
    const k = await synthFixture(keep);
    expect(k.byName('google_compute_instance')['keeper-flow']!.metadata).toMatchObject({
      'lightning-keep-work-vms': 'true',
    });
  }, 60_000);
});
