/**
 * The constructs inside a user's own CDKTF stack (examples/existing-stack): their provider,
 * network and bucket are used; nothing of that kind is created twice.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GoogleProvider } from '@cdktf/provider-google/lib/provider/index.js';
import { App, TerraformStack } from 'cdktf';
import type { Construct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { LightningGcp } from '../../constructs/cloud/index.ts';
import { Flow, LightningApp, ScriptWork } from '../../constructs/index.ts';
import { synthesizePlatformStack } from '../../examples/existing-stack/main.ts';
import { synthFixture } from './support/synth-fixture.ts';

type Json = Record<string, unknown>;
let tf: {
  resource: Record<string, Record<string, Json>>;
  provider: Record<string, Json[]>;
  output: Record<string, Json>;
};

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lightning-existing-stack-'));
  await synthesizePlatformStack(join(dir, 'out'), join(dir, 'app-bundle.tar.gz'));
  tf = JSON.parse(readFileSync(join(dir, 'out', 'stacks', 'ml-platform', 'cdk.tf.json'), 'utf8'));
});

const idOf = (type: string, name: string) => {
  const e = Object.entries(tf.resource[type] ?? {}).find(([, r]) => r.name === name);
  if (!e) throw new Error(`no ${type} named ${name}`);
  return e[0];
};

describe('lightning in an existing stack (examples/existing-stack)', () => {
  it("keeps the user's provider and creates no second network or bucket", () => {
    expect(tf.provider.google).toEqual([{ alias: 'ml', project: 'acme-ml', region: 'europe-west4' }]);
    expect(Object.values(tf.resource.google_compute_network ?? {}).map((r) => r.name)).toEqual(['ml-shared']);
    expect(Object.values(tf.resource.google_compute_subnetwork ?? {}).map((r) => r.name)).toEqual([
      'ml-europe-west4',
    ]);
    expect(Object.values(tf.resource.google_compute_router_nat ?? {}).map((r) => r.name)).toEqual(['ml-nat']);
    expect(Object.values(tf.resource.google_storage_bucket ?? {}).map((r) => r.name)).toEqual([
      'acme-ml-team-data',
    ]);
  });

  it("puts the VMs, firewall, grants and bundle on the user's network and bucket, through their provider", () => {
    const vpc = `\${google_compute_network.${idOf('google_compute_network', 'ml-shared')}.id}`;
    const subnet = `\${google_compute_subnetwork.${idOf('google_compute_subnetwork', 'ml-europe-west4')}.id}`;
    const bucket = `\${google_storage_bucket.${idOf('google_storage_bucket', 'acme-ml-team-data')}.name}`;
    const vms = Object.values(tf.resource.google_compute_instance ?? {});
    expect(vms.map((v) => v.name).sort()).toEqual(['trainer-flow', 'trainer-train']);
    for (const v of vms) {
      expect((v.network_interface as Json[])[0]!.subnetwork).toBe(subnet);
      expect(v.provider).toBe('google.ml');
      expect(v.zone).toBe('europe-west4-a');
    }
    for (const fw of Object.values(tf.resource.google_compute_firewall ?? {})) {
      expect(fw.network).toBe(vpc);
      expect(fw.provider).toBe('google.ml');
    }
    for (const g of Object.values(tf.resource.google_storage_bucket_iam_member ?? {}))
      expect(g.bucket).toBe(bucket);
    // The bundle and the VMs' Node runtime, both in the user's bucket under the app's prefix.
    const obj = Object.values(tf.resource.google_storage_bucket_object ?? {});
    expect(obj.map((o) => String(o.name).replace(/[0-9a-f]{16}/, 'SHA')).sort()).toEqual([
      'lightning/trainer/bundles/SHA.tar.gz',
      'lightning/trainer/runtime/node-v20.20.2-linux-x64.tgz',
    ]);
    for (const o of obj) expect(o.bucket).toBe(bucket);
    const train = vms.find((v) => v.name === 'trainer-train')!;
    // A shared bucket: the app keeps to lightning/<app>/ (shared-bucket-and-vpc-stay-scoped).
    expect((train.metadata as Record<string, string>)['lightning-drive-url']).toBe(
      `gs://${bucket}/lightning/trainer/drive`,
    );
    expect(train.scheduling).toMatchObject({
      provisioning_model: 'SPOT',
      instance_termination_action: 'STOP',
    });
  });

  it('deploys a standalone app into an existing network named in its cloud settings', async () => {
    const a = new LightningApp({
      name: 'shared',
      cloud: {
        project: 'acme-ml',
        network: {
          network: 'projects/acme-ml/global/networks/corp',
          subnetwork: 'projects/acme-ml/regions/us-central1/subnetworks/corp-ml',
        },
      },
    });
    class Root extends Flow {
      constructor(scope: Construct) {
        super(scope, 'root');
        new ScriptWork(this, 'job', { script: 'job.sh' });
      }
      override run(): void {}
    }
    new Root(a);
    const s = await synthFixture(a);
    for (const type of [
      'google_compute_network',
      'google_compute_subnetwork',
      'google_compute_router',
      'google_compute_router_nat',
    ]) {
      expect(s.tf.resource, type).not.toHaveProperty(type);
    }
    for (const v of Object.values(s.tf.resource.google_compute_instance ?? {})) {
      expect((v.network_interface as Json[])[0]!.subnetwork).toBe(
        'projects/acme-ml/regions/us-central1/subnetworks/corp-ml',
      );
    }
    for (const fw of Object.values(s.tf.resource.google_compute_firewall ?? {}))
      expect(fw.network).toBe('projects/acme-ml/global/networks/corp');
    expect(Object.values(s.tf.resource.google_compute_address ?? {})[0]).toMatchObject({
      subnetwork: 'projects/acme-ml/regions/us-central1/subnetworks/corp-ml',
      address_type: 'INTERNAL',
    });
  });

  it('accepts a LightningApp constructed inside the stack, with the same work names', () => {
    const cdk = new App({ outdir: mkdtempSync(join(tmpdir(), 'lightning-in-stack-')) });
    const stack = new TerraformStack(cdk, 'platform');
    new GoogleProvider(stack, 'google', { project: 'acme-ml' });
    const app = new LightningApp(stack, 'inner', { name: 'inner', cloud: { project: 'acme-ml' } });
    class Root extends Flow {
      constructor(scope: Construct) {
        super(scope, 'root');
        new ScriptWork(this, 'job', { script: 'job.sh' });
      }
      override run(): void {}
    }
    new Root(app);
    const gcp = new LightningGcp(stack, 'inner-gcp', {
      app,
      bundle: { path: import.meta.filename, sha256: '0'.repeat(64) },
    });
    expect([...gcp.workInstances.keys()]).toEqual(['root.job']);
    expect(gcp.plan.works[0]!.name).toBe('inner-job');
  });
});
