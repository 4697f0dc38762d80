/**
 * The synthesized Terraform for a three-work app: its VMs (one per role, GPUs, Spot,
 * first-run, metadata, Node and the bundle from the bucket, labels), its outputs, and a JSON
 * snapshot. What keeps it private and least-privilege (identities, firewall, VPC, bucket,
 * secrets): synth-gcp-keeps-the-deployment-private-and-least-privilege.test.ts.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { VM_NODE_VERSION } from '../../constructs/cloud/cloud-props.ts';
import { NODE_RUNTIME_INTEGRITY } from '../../constructs/cloud/node-runtime.ts';
import { renderStartupScript } from '../../constructs/cloud/startup-script.ts';
import { templateLiteral } from '../../constructs/cloud/terraform-template.ts';
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
