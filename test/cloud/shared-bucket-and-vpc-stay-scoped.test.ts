/**
 * Deployed into resources it shares: in a team's existing bucket the app keeps to its own
 * prefix and its service accounts are granted that prefix only (an IAM condition), not every
 * team's objects; in a Shared VPC its firewall rules go to the network's host project, where
 * firewall rules of that network live. Its own bucket and its own VPC stay unconditioned and
 * in the app's project.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Construct } from 'constructs';
import { describe, expect, it } from 'vitest';
import type { ExistingNetworkProps } from '../../constructs/cloud/cloud-props.ts';
import { Flow, LightningApp, ScriptWork } from '../../constructs/index.ts';
import { synthesizePlatformStack } from '../../examples/existing-stack/main.ts';
import { type Json, synthFixture } from './support/synth-fixture.ts';

function appIn(network?: ExistingNetworkProps): LightningApp {
  const app = new LightningApp({
    name: 'svc',
    cloud: { project: 'service-proj', ...(network ? { network } : {}) },
  });
  class Root extends Flow {
    constructor(scope: Construct) {
      super(scope, 'root');
      new ScriptWork(this, 'serve', { script: 'serve.sh', port: 8080 });
    }
    override run(): void {}
  }
  new Root(app);
  return app;
}

const SUBNET = 'projects/host-proj/regions/us-central1/subnetworks/shared-ml';

describe('a shared bucket', () => {
  it("grants both service accounts objectUser only under lightning/<app>/, and keeps the app's objects there", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lightning-shared-bucket-'));
    await synthesizePlatformStack(join(dir, 'out'), join(dir, 'app-bundle.tar.gz'));
    const tf = JSON.parse(readFileSync(join(dir, 'out', 'stacks', 'ml-platform', 'cdk.tf.json'), 'utf8'));
    const bucket = `\${google_storage_bucket.${Object.keys(tf.resource.google_storage_bucket)[0]}.name}`;
    const grants = Object.values(tf.resource.google_storage_bucket_iam_member as Record<string, Json>);
    expect(grants).toHaveLength(2);
    for (const g of grants) {
      expect(g.role).toBe('roles/storage.objectUser');
      const condition = g.condition as { title: string; expression: string };
      expect(condition.title).toBe('lightning trainer objects');
      // Object requests name the object; a list request names the bucket and carries its prefix.
      expect(condition.expression).toBe(
        `resource.name.startsWith("projects/_/buckets/${bucket}/objects/lightning/trainer/") || ` +
          `(resource.name == "projects/_/buckets/${bucket}" && ` +
          'api.getAttribute("storage.googleapis.com/objectListPrefix", "").startsWith("lightning/trainer/"))',
      );
    }
    const bundle = Object.values(tf.resource.google_storage_bucket_object as Record<string, Json>)[0]!;
    expect(bundle.name).toMatch(/^lightning\/trainer\/bundles\/[0-9a-f]{16}\.tar\.gz$/);
    for (const vm of Object.values(tf.resource.google_compute_instance as Record<string, Json>)) {
      const md = vm.metadata as Record<string, string>;
      expect(md['lightning-bundle-object']).toBe(bundle.name);
      expect(md['lightning-drive-url']).toBe(`gs://${bucket}/lightning/trainer/drive`);
    }
  });

  it('its own bucket: whole-bucket grants without a condition, objects at the root', async () => {
    const s = await synthFixture(appIn());
    for (const g of Object.values(s.tf.resource.google_storage_bucket_iam_member ?? {}))
      expect(g).not.toHaveProperty('condition');
    const bundle = Object.values(s.tf.resource.google_storage_bucket_object ?? {})[0]!;
    expect(bundle.name).toMatch(/^bundles\//);
  });
});

describe('a Shared VPC', () => {
  const projectsOf = (s: Awaited<ReturnType<typeof synthFixture>>, type: string) =>
    Object.values(s.tf.resource[type] ?? {}).map((r) => r.project);

  it("creates the firewall rules in the host project named by the network's self link; the VMs stay in the service project", async () => {
    const s = await synthFixture(
      appIn({ network: 'projects/host-proj/global/networks/shared-vpc', subnetwork: SUBNET }),
    );
    expect(projectsOf(s, 'google_compute_firewall')).toEqual(['host-proj', 'host-proj', 'host-proj']);
    expect(projectsOf(s, 'google_compute_instance')).toEqual(['service-proj', 'service-proj']);
    for (const fw of Object.values(s.tf.resource.google_compute_firewall ?? {}))
      expect(fw.network).toBe('projects/host-proj/global/networks/shared-vpc');
  });

  it('takes the host project from hostProject when the network is given by name (or a full URL)', async () => {
    const byName = await synthFixture(
      appIn({ network: 'shared-vpc', subnetwork: SUBNET, hostProject: 'host-proj' }),
    );
    expect(new Set(projectsOf(byName, 'google_compute_firewall'))).toEqual(new Set(['host-proj']));
    const url = await synthFixture(
      appIn({
        network: 'https://www.googleapis.com/compute/v1/projects/host-2/global/networks/shared-vpc',
        subnetwork: SUBNET,
      }),
    );
    expect(new Set(projectsOf(url, 'google_compute_firewall'))).toEqual(new Set(['host-2']));
  });

  it("keeps the rules in the app's project for its own network or a network of its project", async () => {
    const own = await synthFixture(appIn());
    expect(new Set(projectsOf(own, 'google_compute_firewall'))).toEqual(new Set(['service-proj']));
    const sameProject = await synthFixture(
      appIn({ network: 'projects/service-proj/global/networks/corp', subnetwork: 'corp-sub' }),
    );
    expect(new Set(projectsOf(sameProject, 'google_compute_firewall'))).toEqual(new Set(['service-proj']));
  });
});
