/**
 * The synthesized Terraform for a three-work app, what keeps the deployment private and
 * least-privilege: an identity per role, the firewall (flow port only from the works, SSH only
 * from IAP, work ports only from the app's VMs), a private VPC whose only way out is Cloud NAT,
 * a private Drive bucket with object roles only, and who may read or write which secret.
 * (The VMs themselves: synth-gcp-deployment.test.ts.)
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { IAP_SOURCE_RANGE } from '../../constructs/cloud/lightning-gcp.ts';
import { Flow, LightningApp, ScriptWork } from '../../constructs/index.ts';
import app from './fixtures/gpu-app/app.ts';
import { type Json, refOf, type Synthesized, saEmailRef, synthFixture } from './support/synth-fixture.ts';

let s: Synthesized;
beforeAll(async () => {
  s = await synthFixture(app);
});

const vm = (name: string) =>
  s.byName('google_compute_instance')[name] as Json & { metadata: Record<string, string> };

describe('synthesized GCP deployment of the gpu-app fixture: private and least-privilege', () => {
  it('runs the flow and works under their own service accounts', () => {
    expect(Object.keys(s.byName('google_service_account')).sort()).toEqual(['vision-flow', 'vision-work']);
    expect((vm('vision-flow').service_account as Json).email).toBe(saEmailRef(s, 'vision-flow'));
    for (const w of ['vision-train', 'vision-tensorboard', 'vision-evaluate']) {
      expect((vm(w).service_account as Json).email).toBe(saEmailRef(s, 'vision-work'));
    }
  });

  it('opens the flow port only to the works, SSH only to IAP, work ports only to the flow and the works', () => {
    const fw = s.byName('google_compute_firewall');
    expect(Object.keys(fw).sort()).toEqual([
      'vision-allow-flow-grpc',
      'vision-allow-iap-ssh',
      'vision-allow-work-ports',
    ]);
    const net = refOf(s, 'google_compute_network', 'id');
    expect(fw['vision-allow-flow-grpc']).toMatchObject({
      network: net,
      direction: 'INGRESS',
      allow: [{ protocol: 'tcp', ports: ['7500'] }],
      source_service_accounts: [saEmailRef(s, 'vision-work')],
      target_service_accounts: [saEmailRef(s, 'vision-flow')],
    });
    expect(fw['vision-allow-flow-grpc']).not.toHaveProperty('source_ranges');
    expect(fw['vision-allow-iap-ssh']).toMatchObject({
      allow: [{ protocol: 'tcp', ports: ['22'] }],
      source_ranges: [IAP_SOURCE_RANGE],
      target_service_accounts: [saEmailRef(s, 'vision-flow'), saEmailRef(s, 'vision-work')],
    });
    expect(fw['vision-allow-work-ports']).toMatchObject({
      allow: [{ protocol: 'tcp', ports: ['6006'] }],
      // The flow's UI proxy, and works calling each other's servers (a UI calling a model server).
      source_service_accounts: [saEmailRef(s, 'vision-flow'), saEmailRef(s, 'vision-work')],
      target_service_accounts: [saEmailRef(s, 'vision-work')],
    });
    for (const r of Object.values(fw)) expect(r.source_ranges ?? []).not.toContain('0.0.0.0/0');
  });

  it("opens the unprivileged range, to the app's own VMs only, for a work with port 'auto'", async () => {
    const a = new LightningApp({ name: 'autoport', cloud: { project: 'my-ml-project' } });
    class Root extends Flow {
      constructor() {
        super(a, 'root');
        new ScriptWork(this, 'tb', { command: ['tensorboard'], port: 'auto' });
        new ScriptWork(this, 'api', { script: 'serve.py', port: 8080 });
      }
      override run(): void {}
    }
    new Root();
    const synthesized = await synthFixture(a);
    expect(synthesized.byName('google_compute_firewall')['autoport-allow-work-ports']).toMatchObject({
      allow: [{ protocol: 'tcp', ports: ['1024-65535'] }],
      source_service_accounts: [
        saEmailRef(synthesized, 'autoport-flow'),
        saEmailRef(synthesized, 'autoport-work'),
      ],
      target_service_accounts: [saEmailRef(synthesized, 'autoport-work')],
    });
  });

  it('creates a private VPC whose egress is Cloud NAT', () => {
    expect(s.byName('google_compute_network')['vision-net']).toMatchObject({
      auto_create_subnetworks: false,
    });
    expect(s.byName('google_compute_subnetwork')['vision-subnet']).toMatchObject({
      ip_cidr_range: '10.20.0.0/24',
      private_ip_google_access: true,
      region: 'us-central1',
    });
    expect(s.byName('google_compute_router_nat')['vision-nat']).toMatchObject({
      nat_ip_allocate_option: 'AUTO_ONLY',
      source_subnetwork_ip_ranges_to_nat: 'ALL_SUBNETWORKS_ALL_IP_RANGES',
    });
  });

  it('makes a private, versioned Drive bucket and grants object roles on it only', () => {
    const bucket = s.byName('google_storage_bucket')['my-ml-project-vision-drive'];
    expect(bucket).toMatchObject({
      uniform_bucket_level_access: true,
      public_access_prevention: 'enforced',
      versioning: { enabled: true },
      force_destroy: false,
      location: 'US-CENTRAL1',
      labels: { 'lightning-app': 'vision', costcenter: 'research' },
    });
    const grants = Object.values(s.tf.resource.google_storage_bucket_iam_member ?? {});
    expect(grants.map((g) => [g.role, g.member]).sort()).toEqual(
      [
        ['roles/storage.objectUser', `serviceAccount:${saEmailRef(s, 'vision-flow')}`],
        ['roles/storage.objectUser', `serviceAccount:${saEmailRef(s, 'vision-work')}`],
      ].sort(),
    );
    for (const g of grants) expect(g.bucket).toBe(refOf(s, 'google_storage_bucket', 'name'));
    // No project-wide grants at all.
    expect(s.tf.resource).not.toHaveProperty('google_project_iam_member');
    expect(s.tf.resource).not.toHaveProperty('google_project_iam_binding');
    expect(s.tf.resource).not.toHaveProperty('google_service_account_key');
  });

  it('lets works read the token secret, and only the flow write it or touch the TLS key', () => {
    const secrets = s.byName('google_secret_manager_secret');
    const ids = Object.fromEntries(
      Object.entries(s.tf.resource.google_secret_manager_secret ?? {}).map(([id, r]) => [
        `\${google_secret_manager_secret.${id}.secret_id}`,
        r.secret_id,
      ]),
    );
    expect(Object.values(ids).sort()).toEqual(['vision-app-token', 'vision-flow-tls-key']);
    expect(Object.keys(secrets)).toHaveLength(2);
    const grants = Object.values(s.tf.resource.google_secret_manager_secret_iam_member ?? {}).map((g) => [
      ids[g.secret_id as string],
      g.role,
      g.member === `serviceAccount:${saEmailRef(s, 'vision-flow')}`
        ? 'flow'
        : g.member === `serviceAccount:${saEmailRef(s, 'vision-work')}`
          ? 'work'
          : g.member,
    ]);
    expect(grants.sort()).toEqual(
      [
        ['vision-app-token', 'roles/secretmanager.secretVersionAdder', 'flow'],
        ['vision-app-token', 'roles/secretmanager.secretAccessor', 'flow'],
        ['vision-app-token', 'roles/secretmanager.secretAccessor', 'work'],
        ['vision-flow-tls-key', 'roles/secretmanager.secretVersionAdder', 'flow'],
        ['vision-flow-tls-key', 'roles/secretmanager.secretAccessor', 'flow'],
      ].sort(),
    );
    // Nothing secret is synthesized: no secret versions, no token-looking metadata.
    expect(s.tf.resource).not.toHaveProperty('google_secret_manager_secret_version');
    expect(s.text).not.toMatch(/LIGHTNING_TOKEN=|BEGIN (EC |)PRIVATE KEY/);
  });
});
