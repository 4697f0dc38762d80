/**
 * What the synthesis adds so the flow can create WorkMap members' VMs at run time (ADR 0025):
 * - one `google_compute_instance_template` per WorkMap and shape (its compute, each fallback,
 *   the on-demand twin of a Spot shape), with the works' service account, the app's subnet and
 *   the work role's metadata; the flow adds `lightning-work` per member when it inserts;
 * - a custom role with exactly what creating and deleting such VMs takes, granted to the flow's
 *   service account on the project under an IAM condition: instances and disks only when their
 *   name starts with the app's run-time prefix, in the zones the flow may use;
 * - `roles/iam.serviceAccountUser` for the flow on the works' service account (a VM created to
 *   run as an account needs actAs on it).
 * The VMs themselves are never Terraform resources. Synthesis only.
 */
import { ComputeInstanceTemplate } from '@cdktf/provider-google/lib/compute-instance-template/index.js';
import { ProjectIamCustomRole } from '@cdktf/provider-google/lib/project-iam-custom-role/index.js';
import { ProjectIamMember } from '@cdktf/provider-google/lib/project-iam-member/index.js';
import type { ServiceAccount } from '@cdktf/provider-google/lib/service-account/index.js';
import { ServiceAccountIamMember } from '@cdktf/provider-google/lib/service-account-iam-member/index.js';
import type { Construct } from 'constructs';
import { LOCAL_SSD_GB } from './catalog.ts';
import { labelValue } from './gce-names.ts';
import type { AppPlan } from './plan.ts';
import { priceOf } from './price-table.ts';
import type { RunTimeVmsConfig } from './run-time-plan.ts';
import { templateLiteral } from './terraform-template.ts';
import { type Common, guestAccelerators, scheduling, vmLabels, vmMetadata } from './vm-shape.ts';

/**
 * What the flow may do for run-time VMs. Instance and disk permissions are limited by the
 * grant's condition to the run-time name prefix; the others act on the template, the subnet,
 * the region (quotas), operations and the project (list), which the condition lets through.
 * From GCE's IAM reference for instances.insert from a template; **UNVERIFIED** on a live
 * project (no GCP access here): a missing permission shows as a 403 naming it.
 */
export const RUN_TIME_VM_PERMISSIONS = [
  'compute.instances.create',
  'compute.instances.delete',
  'compute.instances.get',
  'compute.instances.list',
  // A preempted member's VM is started again in place (its disk keeps Node and the bundle).
  'compute.instances.start',
  'compute.instances.setMetadata',
  'compute.instances.setLabels',
  'compute.instances.setServiceAccount',
  'compute.disks.create',
  'compute.instanceTemplates.get',
  'compute.instanceTemplates.useReadOnly',
  'compute.subnetworks.use',
  'compute.zoneOperations.get',
  'compute.regions.get',
];

/**
 * The IAM condition: instances and disks must be named `prefix*` in one of `zones`; other
 * resource types pass (the role holds no other permission on them that creates or deletes).
 */
export function runTimeCondition(
  project: string,
  zones: readonly string[],
  prefix: string,
  app: string,
): { title: string; expression: string } {
  const names = zones.flatMap((z) =>
    ['instances', 'disks'].map(
      (kind) => `resource.name.startsWith("projects/${project}/zones/${z}/${kind}/${prefix}")`,
    ),
  );
  return {
    title: `lightning ${app} run-time VMs`.slice(0, 100),
    expression: [
      'resource.type != "compute.googleapis.com/Instance" && resource.type != "compute.googleapis.com/Disk"',
      ...names,
    ].join(' || '),
  };
}

export interface RunTimeVmsProps {
  readonly plan: AppPlan;
  readonly common: Common;
  readonly flowSa: ServiceAccount;
  readonly workSa: ServiceAccount;
  readonly subnetRef: string;
  /** The work role's metadata, as the works' VMs get it (without `lightning-work`). */
  readonly metadata: Record<string, string>;
}

/**
 * Adds the templates and grants (when the app has WorkMaps); returns what the flow VM's
 * metadata `lightning-run-time-vms` holds (also for an app with spend caps and no WorkMap).
 */
export function addRunTimeVms(scope: Construct, props: RunTimeVmsProps): RunTimeVmsConfig {
  const { plan, common, flowSa, workSa } = props;
  const maps: Record<string, RunTimeVmsConfig['maps'][string]> = {};
  const zones = new Set<string>();
  for (const map of plan.runTimeMaps) {
    for (const t of map.templates) {
      const c = t.compute;
      const gpus = guestAccelerators(c);
      new ComputeInstanceTemplate(scope, t.id, {
        ...common,
        name: t.candidate.template,
        machineType: c.machineType,
        labels: { ...vmLabels(plan, c, 'work'), 'lightning-map': labelValue(map.component) },
        disk: [
          {
            boot: true,
            autoDelete: true,
            sourceImage: templateLiteral(c.image),
            diskSizeGb: c.diskSizeGb,
            diskType: c.diskType,
          },
          ...Array.from({ length: c.localSsdCount }, () => ({
            type: 'SCRATCH',
            diskType: 'local-ssd',
            interface: 'NVME',
            diskSizeGb: LOCAL_SSD_GB,
          })),
        ],
        // No access_config: no external IP. Egress goes through Cloud NAT.
        networkInterface: [{ subnetwork: props.subnetRef }],
        serviceAccount: { email: workSa.email, scopes: ['cloud-platform'] },
        ...(gpus ? { guestAccelerator: gpus } : {}),
        scheduling: scheduling(c),
        metadata: vmMetadata(c, props.metadata),
      });
      for (const z of t.candidate.zones) zones.add(z);
    }
    maps[map.component] = {
      candidates: map.templates.map((t) => t.candidate),
      idleTimeoutSeconds: map.idleTimeoutSeconds,
      ...(map.single ? { single: { startWithFlow: map.single.startWithFlow } } : {}),
    };
  }

  if (plan.runTimeMaps.length === 0) return runTimeVmsConfig(plan, maps); // caps only: no grant needed
  const role = new ProjectIamCustomRole(scope, 'run-time-vm-role', {
    ...common,
    roleId: plan.names.runTimeVmRole,
    title: templateLiteral(`lightning ${plan.app}: create/delete run-time work VMs`),
    permissions: RUN_TIME_VM_PERMISSIONS,
  });
  new ProjectIamMember(scope, 'flow-creates-run-time-vms', {
    ...common,
    role: role.name,
    member: `serviceAccount:${flowSa.email}`,
    condition: runTimeCondition(plan.project, [...zones].sort(), plan.runTimeNamePrefix, plan.app),
  });
  new ServiceAccountIamMember(scope, 'flow-acts-as-work-sa', {
    ...(common.provider ? { provider: common.provider } : {}),
    serviceAccountId: workSa.name,
    role: 'roles/iam.serviceAccountUser',
    member: `serviceAccount:${flowSa.email}`,
  });

  return runTimeVmsConfig(plan, maps);
}

/** The flow's `lightning-run-time-vms`: the maps' candidates, the caps, and Terraform's VMs' prices. */
function runTimeVmsConfig(plan: AppPlan, maps: RunTimeVmsConfig['maps']): RunTimeVmsConfig {
  // Terraform's VMs run all along: the spend caps count them first.
  let base: number | null = 0;
  const staticGpuWorks: { work: string; hourlyUsd: number | null }[] = [];
  for (const vm of [plan.flow, ...plan.works]) {
    const p = priceOf(vm.compute.machineType, vm.compute.gpuType, vm.compute.gpuCount);
    const hourly = 'price' in p ? (vm.compute.spot ? p.price.spot : p.price.onDemand) : null;
    base = base === null || hourly === null ? null : base + hourly;
    if (vm.role === 'work' && vm.compute.gpuType)
      staticGpuWorks.push({ work: vm.component, hourlyUsd: hourly });
  }
  return {
    project: plan.project,
    region: plan.region,
    app: plan.app,
    namePrefix: plan.runTimeNamePrefix,
    maps,
    maxHourlySpend: plan.maxHourlySpend,
    maxTotalSpend: plan.maxTotalSpend,
    baseHourlyUsd: base === null ? null : Math.round(base * 1e5) / 1e5,
    staticGpuWorks,
  };
}
