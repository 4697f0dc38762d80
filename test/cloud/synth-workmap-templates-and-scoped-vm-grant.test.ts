/**
 * What the synthesis writes for WorkMaps (ADR 0025), asserted by property: an instance template
 * per map and shape (fallbacks included) instead of Terraform VMs for members; a custom role
 * with exactly the create/delete permissions, granted to the flow's service account under a
 * condition on the run-time name prefix; actAs on the works' account; and the flow metadata the
 * flow creates VMs from (candidates in try order, caps, prices). Real Terraform validates the
 * same JSON in the simulated-GCP tests (workmap-members-run-on-vms-the-flow-creates,
 * gpu-capacity-failover-quota-and-spend-caps).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { costOf } from '../../cli/cost-command.ts';
import { planApp } from '../../constructs/cloud/plan.ts';
import type { RunTimeVmsConfig } from '../../constructs/cloud/run-time-plan.ts';
import { RUN_TIME_VM_PERMISSIONS } from '../../constructs/cloud/run-time-templates.ts';
import app from './fixtures/capacity-app/app.ts';
import { type Json, type Synthesized, saEmailRef, synthFixture } from './support/synth-fixture.ts';

let s: Synthesized;
beforeAll(async () => {
  s = await synthFixture(app);
}, 120_000);

describe('WorkMaps in the synthesized stack', () => {
  it('gives members no Terraform VM, and each map a template per shape with the works identity', () => {
    expect(Object.keys(s.byName('google_compute_instance')).sort()).toEqual([
      'capacity-flow',
      'capacity-trainer',
    ]);
    const templates = s.byName('google_compute_instance_template');
    expect(Object.keys(templates).sort()).toEqual([
      'capacity-rt-a100s-0',
      'capacity-rt-l4s-0',
      'capacity-rt-l4s-1',
      'capacity-rt-t4s-0',
    ]);
    for (const t of Object.values(templates)) {
      expect((t.service_account as Json).email).toBe(saEmailRef(s, 'capacity-work'));
      expect((t.network_interface as Json[])[0]).not.toHaveProperty('access_config');
      const md = t.metadata as Record<string, string>;
      expect(md['lightning-role']).toBe('work');
      expect(md).not.toHaveProperty('lightning-work'); // the flow sets it per member
      expect(md['startup-script']).toContain('vm-boot');
      expect((t.scheduling as Json).on_host_maintenance).toBe('TERMINATE');
    }
    // The T4 fallback is an N1 with a guest accelerator; the L4 comes with its machine type.
    expect(templates['capacity-rt-l4s-1']).toMatchObject({
      machine_type: 'n1-standard-8',
      guest_accelerator: [{ type: 'nvidia-tesla-t4', count: 1 }],
    });
    expect(templates['capacity-rt-l4s-0']).toMatchObject({ machine_type: 'g2-standard-4' });
    expect(templates['capacity-rt-l4s-0']).not.toHaveProperty('guest_accelerator');
  });

  it('lets the flow create and delete only VMs named with the run-time prefix, in the zones it may use', () => {
    const role = Object.values(s.tf.resource.google_project_iam_custom_role ?? {}).find(
      (r) => r.role_id === 'lightningRunTimeVms_capacity',
    );
    expect(role?.permissions).toEqual(RUN_TIME_VM_PERMISSIONS);
    // start: a preempted member's VM is started again in place (the condition scopes it like delete).
    expect(RUN_TIME_VM_PERMISSIONS.filter((p) => /setIamPolicy|start$|stop$|\.update$/.test(p))).toEqual([
      'compute.instances.start',
    ]);
    const grants = Object.values(s.tf.resource.google_project_iam_member ?? {});
    expect(grants).toHaveLength(1);
    const grant = grants[0]!;
    expect(grant.member).toBe(`serviceAccount:${saEmailRef(s, 'capacity-flow')}`);
    const expression = (grant.condition as Json).expression as string;
    const prefixes = [...expression.matchAll(/startsWith\("([^"]+)"\)/g)].map((m) => m[1]);
    expect(
      prefixes.every((p) =>
        /^projects\/test-project\/zones\/us-central1-[abcf]\/(instances|disks)\/capacity-rt-$/.test(p!),
      ),
    ).toBe(true);
    expect(prefixes).toHaveLength(8); // us-central1-a/b/c/f × instances/disks
    const actAs = Object.values(s.tf.resource.google_service_account_iam_member ?? {});
    expect(actAs).toEqual([
      expect.objectContaining({
        role: 'roles/iam.serviceAccountUser',
        member: `serviceAccount:${saEmailRef(s, 'capacity-flow')}`,
      }),
    ]);
  });

  it('tells the flow the candidates in try order, the caps and what Terraform VMs cost', () => {
    const md = (s.byName('google_compute_instance')['capacity-flow']!.metadata ?? {}) as Record<
      string,
      string
    >;
    const config = JSON.parse(md['lightning-run-time-vms']!) as RunTimeVmsConfig;
    expect(config).toMatchObject({
      project: 'test-project',
      region: 'us-central1',
      namePrefix: 'capacity-rt-',
      maxHourlySpend: 3,
      maxTotalSpend: 0.01,
      baseHourlyUsd: 0.79701,
      staticGpuWorks: [{ work: 'root.trainer', hourlyUsd: 0.73 }],
    });
    expect(
      config.maps['root.l4s']!.candidates.map((c) => [
        c.template,
        c.label,
        c.quotaMetric,
        c.zones[0],
        c.hourlyUsd,
      ]),
    ).toEqual([
      ['capacity-rt-l4s-0', 'g2-standard-4', 'NVIDIA_L4_GPUS', 'us-central1-a', 0.70683],
      ['capacity-rt-l4s-1', 'gpu-t4', 'NVIDIA_T4_GPUS', 'us-central1-a', 0.73],
    ]);
  });

  it('prices each map per member in `lightning-local cost`, outside the total', () => {
    const report = costOf(planApp(app));
    expect(report.totalPerHour).toBe(0.79701);
    expect(report.lines.filter((l) => l.perMember).map((l) => [l.component, l.billed])).toEqual([
      ['root.l4s.* (each)', 0.70683],
      ['root.t4s.* (each)', 0.73],
      ['root.a100s.* (each)', 3.67339],
    ]);
  });
});
