/**
 * The synthesized Terraform for a three-work app: the properties that make the deployment
 * private, least-privilege and correctly scheduled, plus a JSON snapshot.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { VM_NODE_VERSION } from '../../constructs/cloud/cloud-props.ts';
import { IAP_SOURCE_RANGE } from '../../constructs/cloud/lightning-gcp.ts';
import { NODE_RUNTIME_INTEGRITY } from '../../constructs/cloud/node-runtime.ts';
import { renderStartupScript } from '../../constructs/cloud/startup-script.ts';
import { templateLiteral } from '../../constructs/cloud/terraform-template.ts';
import { Flow, LightningApp, ScriptWork } from '../../constructs/index.ts';
import app from './fixtures/gpu-app/app.ts';
import {
  FIXED_BUNDLE_SHA,
  type Json,
  refOf,
  type Synthesized,
  saEmailRef,
  synthFixture,
} from './support/synth-fixture.ts';

let s: Synthesized;
beforeAll(async () => {
  s = await synthFixture(app);
});

const vm = (name: string) =>
  s.byName('google_compute_instance')[name] as Json & { metadata: Record<string, string> };

describe('synthesized GCP deployment of the gpu-app fixture', () => {
  it('creates one flow VM and one VM per Work, none with an external IP', () => {
    const vms = s.byName('google_compute_instance');
    expect(Object.keys(vms).sort()).toEqual([
      'vision-evaluate',
      'vision-flow',
      'vision-tensorboard',
      'vision-train',
    ]);
    for (const [name, r] of Object.entries(vms)) {
      for (const nic of r.network_interface as Json[]) {
        expect(nic, `${name} must have no access_config`).not.toHaveProperty('access_config');
        expect(nic.subnetwork).toBe(refOf(s, 'google_compute_subnetwork', 'id'));
      }
      expect((r.service_account as Json).scopes).toEqual(['cloud-platform']);
    }
    expect(vm('vision-flow').network_interface).toEqual([
      {
        network_ip: refOf(s, 'google_compute_address', 'address'),
        subnetwork: refOf(s, 'google_compute_subnetwork', 'id'),
      },
    ]);
    expect(s.byName('google_compute_address')['vision-flow-ip']).toMatchObject({ address_type: 'INTERNAL' });
  });

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

  it('gives GPU VMs their GPU, TERMINATE on maintenance and a driver image', () => {
    const train = vm('vision-train');
    expect(train.machine_type).toBe('g2-standard-4');
    expect(train).not.toHaveProperty('guest_accelerator'); // G2 carries its L4
    expect(train.boot_disk).toEqual({
      initialize_params: {
        image: 'deeplearning-platform-release/common-cu128-ubuntu-2204-nvidia-570',
        size: 200,
        type: 'pd-balanced',
      },
    });
    expect(train.metadata['install-nvidia-driver']).toBe('True');
    const evaluate = vm('vision-evaluate');
    expect(evaluate.machine_type).toBe('n1-standard-8');
    expect(evaluate.guest_accelerator).toEqual([{ type: 'nvidia-tesla-t4', count: 1 }]);
    expect(evaluate.scheduling).toEqual({
      automatic_restart: true,
      on_host_maintenance: 'TERMINATE',
      provisioning_model: 'STANDARD',
    });
    const tb = vm('vision-tensorboard');
    expect(tb).not.toHaveProperty('guest_accelerator');
    expect(tb.scheduling).toMatchObject({ on_host_maintenance: 'MIGRATE' });
    expect(tb.metadata).not.toHaveProperty('install-nvidia-driver');
    expect((tb.boot_disk as Json).initialize_params).toMatchObject({ image: 'debian-cloud/debian-12' });
  });

  it('makes Spot works stop (not delete) on preemption', () => {
    expect(vm('vision-train').scheduling).toEqual({
      provisioning_model: 'SPOT',
      preemptible: true,
      automatic_restart: false,
      instance_termination_action: 'STOP',
      on_host_maintenance: 'TERMINATE',
    });
    expect(vm('vision-flow').scheduling).toMatchObject({ provisioning_model: 'STANDARD' });
  });

  it('creates first-run works stopped and lets only the flow start/stop every work VM (preempted Spot VMs, an ended app)', () => {
    const evaluate = vm('vision-evaluate');
    expect(evaluate.desired_status).toBe('TERMINATED');
    expect(evaluate.lifecycle).toEqual({ ignore_changes: ['desired_status'] });
    // Spot: created running, but the flow restarts it after a preemption.
    expect(vm('vision-train')).not.toHaveProperty('desired_status');
    expect(vm('vision-train').lifecycle).toEqual({ ignore_changes: ['desired_status'] });
    // Neither: created running, but the flow stops it when the app ends (and starts it for a
    // later app), so Terraform must not fight over its status either.
    expect(vm('vision-tensorboard')).not.toHaveProperty('desired_status');
    expect(vm('vision-tensorboard').lifecycle).toEqual({ ignore_changes: ['desired_status'] });
    expect(vm('vision-flow')).not.toHaveProperty('lifecycle');
    const role = Object.values(s.tf.resource.google_project_iam_custom_role ?? {});
    expect(role).toHaveLength(1);
    expect(role[0]!.permissions).toEqual([
      'compute.instances.get',
      'compute.instances.start',
      'compute.instances.stop',
    ]);
    const grants = Object.values(s.tf.resource.google_compute_instance_iam_member ?? {});
    for (const g of grants) {
      expect(g).toMatchObject({
        member: `serviceAccount:${saEmailRef(s, 'vision-flow')}`,
        zone: 'us-central1-a',
      });
    }
    expect(grants.map((g) => /lightning_(work-[a-z]+)_/.exec(g.instance_name as string)?.[1]).sort()).toEqual(
      ['work-evaluate', 'work-tensorboard', 'work-train'],
    );
    expect(JSON.parse(vm('vision-flow').metadata['lightning-work-vms']!)).toEqual({
      'root.train': {
        instance: 'vision-train',
        zone: 'us-central1-a',
        project: 'my-ml-project',
        startWith: 'flow',
        idleTimeoutSeconds: null,
      },
      'root.tensorboard': {
        instance: 'vision-tensorboard',
        zone: 'us-central1-a',
        project: 'my-ml-project',
        startWith: 'flow',
        idleTimeoutSeconds: null,
      },
      'root.evaluate': {
        instance: 'vision-evaluate',
        zone: 'us-central1-a',
        project: 'my-ml-project',
        startWith: 'first-run',
        idleTimeoutSeconds: 600,
      },
    });
    expect(evaluate.metadata['lightning-idle-timeout-seconds']).toBe('600');
    // The default: an ended app stops its work VMs (the opt-out is keepWorkVmsAfterEnd).
    expect(vm('vision-flow').metadata).not.toHaveProperty('lightning-keep-work-vms');
  });

  it('wires each VM to its role, the flow address, the bucket, the bundle and the startup script', () => {
    const flow = vm('vision-flow').metadata;
    const bucketRef = refOf(s, 'google_storage_bucket', 'name');
    const common = {
      'lightning-bucket': bucketRef,
      'lightning-bundle-sha256': FIXED_BUNDLE_SHA,
      'lightning-bundle-object': `bundles/${FIXED_BUNDLE_SHA.slice(0, 16)}.tar.gz`,
      'lightning-app-file': 'app.mjs',
      'lightning-drive-url': `gs://${bucketRef}/drive`,
      'lightning-flow-ip': refOf(s, 'google_compute_address', 'address'),
      'lightning-flow-port': '7500',
      'lightning-ui-port': '7501',
      'lightning-token-secret': 'vision-app-token',
      'enable-oslogin': 'TRUE',
    };
    expect(flow).toMatchObject({
      ...common,
      'lightning-role': 'flow',
      'lightning-tls-key-secret': 'vision-flow-tls-key',
    });
    expect(flow).not.toHaveProperty('lightning-work');
    expect(vm('vision-train').metadata).toMatchObject({
      ...common,
      'lightning-role': 'work',
      'lightning-work': 'root.train',
    });
    expect(vm('vision-train').metadata).not.toHaveProperty('lightning-tls-key-secret');
    expect(vm('vision-tensorboard').metadata).toMatchObject({ 'lightning-work': 'root.tensorboard' });
    for (const name of ['vision-flow', 'vision-train', 'vision-tensorboard', 'vision-evaluate']) {
      // Written as a Terraform template (`$${`, `%%{`); that Terraform renders it back to exactly
      // renderStartupScript() is proven with real Terraform (terraform-renders-synthesized-strings-unchanged).
      expect(vm(name).metadata['startup-script']).toBe(templateLiteral(renderStartupScript()));
      expect(vm(name)).not.toHaveProperty('metadata_startup_script');
    }
  });

  it('ships the pinned Node runtime in the bucket and names it in every VM metadata, so VMs need no NAT', () => {
    const node = Object.values(s.tf.resource.google_storage_bucket_object ?? {}).filter((o) =>
      String(o.name).startsWith('runtime/'),
    );
    expect(node).toHaveLength(1);
    expect(node[0]).toMatchObject({
      bucket: refOf(s, 'google_storage_bucket', 'name'),
      name: `runtime/node-v${VM_NODE_VERSION}-linux-x64.tgz`,
    });
    // The registry's bytes, as pinned: the sha256 in the metadata is that archive's.
    const copied = readFileSync(join(dirname(s.stackFile), node[0]!.source as string));
    expect(`sha512-${createHash('sha512').update(copied).digest('base64')}`).toBe(NODE_RUNTIME_INTEGRITY);
    const sha256 = createHash('sha256').update(copied).digest('hex');
    for (const r of Object.values(s.tf.resource.google_compute_instance ?? {})) {
      expect(r.metadata).toMatchObject({
        'lightning-node-object': node[0]!.name,
        'lightning-node-sha256': sha256,
      });
    }
    // The startup script takes Node from there, never from the internet.
    expect(renderStartupScript()).not.toMatch(/nodejs\.org|https:\/\/(?![a-z]+\.googleapis\.com)[a-z]/);
  });

  it('uploads the bundle from a synthesized asset under a content-addressed name', () => {
    const obj = Object.values(s.tf.resource.google_storage_bucket_object ?? {}).filter((o) =>
      String(o.name).startsWith('bundles/'),
    );
    expect(obj).toHaveLength(1);
    expect(obj[0]).toMatchObject({
      bucket: refOf(s, 'google_storage_bucket', 'name'),
      name: `bundles/${FIXED_BUNDLE_SHA.slice(0, 16)}.tar.gz`,
      content_type: 'application/gzip',
    });
    const source = obj[0]!.source as string;
    expect(source).toMatch(/^assets\/.+\/app-bundle\.tar\.gz$/);
    const copied = join(dirname(s.stackFile), source);
    expect(existsSync(copied)).toBe(true);
    expect(readFileSync(copied, 'utf8')).toBe('fixed test bundle');
    // Every VM waits for the bundle, IAM and NAT before it boots.
    for (const r of Object.values(s.tf.resource.google_compute_instance ?? {})) {
      expect(r.depends_on).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/^google_storage_bucket_object\./),
          expect.stringMatching(/^google_compute_router_nat\./),
        ]),
      );
    }
  });

  it('labels every VM with the app name for billing reports', () => {
    for (const [name, r] of Object.entries(s.byName('google_compute_instance'))) {
      expect(r.labels, name).toMatchObject({ 'lightning-app': 'vision', costcenter: 'research' });
    }
    expect(vm('vision-train').labels).toMatchObject({
      'lightning-role': 'work',
      'lightning-work': 'root-train',
      'lightning-gpu': 'l4',
      team: 'vision',
    });
  });

  it('outputs the bucket, the flow IP and the IAP tunnel command', () => {
    expect(s.tf.output['vision-bucket']).toMatchObject({ value: refOf(s, 'google_storage_bucket', 'name') });
    expect(s.tf.output['vision-flow-internal-ip']).toMatchObject({
      value: refOf(s, 'google_compute_address', 'address'),
    });
    expect(s.tf.output['vision-ui-tunnel-command']).toMatchObject({
      value:
        'gcloud compute ssh vision-flow --project my-ml-project --zone us-central1-a --tunnel-through-iap -- -N -L 7501:127.0.0.1:7501',
    });
    expect(s.tf.provider).toEqual({
      google: [{ project: 'my-ml-project', region: 'us-central1', zone: 'us-central1-a' }],
    });
  });

  it('is deterministic: synthesizing again gives the same bytes', async () => {
    const again = await synthFixture(app);
    expect(again.text).toBe(s.text);
    expect(readFileSync(join(again.dir, 'out', 'manifest.json'), 'utf8')).toBe(
      readFileSync(join(s.dir, 'out', 'manifest.json'), 'utf8'),
    );
  });

  it('matches the JSON snapshot', async () => {
    // No path of this machine in it (the local backend path is relative): the same bytes in
    // any checkout (synth-output-is-identical-across-checkouts).
    expect(s.text).not.toContain(process.cwd());
    await expect(s.text).toMatchFileSnapshot('__snapshots__/gpu-app.cdk.tf.json.snap');
  });
});
