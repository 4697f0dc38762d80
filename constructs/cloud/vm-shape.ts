/**
 * How a VM of a given compute is written in Terraform, shared by the VMs Terraform creates
 * (`google_compute_instance`: the flow and the works) and the instance templates the flow
 * creates WorkMap members' VMs from (`google_compute_instance_template`, ADR 0025): the
 * scheduling block (Spot, GPU maintenance), GPUs, labels and GPU-image metadata. Synthesis only.
 */
import { ComputeInstance } from '@cdktf/provider-google/lib/compute-instance/index.js';
import type { GoogleProvider } from '@cdktf/provider-google/lib/provider/index.js';
import type { ServiceAccount } from '@cdktf/provider-google/lib/service-account/index.js';
import type { ITerraformDependable } from 'cdktf';
import type { Construct } from 'constructs';
import type { ResolvedCompute } from '../cloud-compute.ts';
import { GPUS, LOCAL_SSD_GB } from './catalog.ts';
import { labelValue } from './gce-names.ts';
import type { AppPlan, VmPlan } from './plan.ts';
import { templateLiteral, templateLiterals } from './terraform-template.ts';

export interface Common {
  readonly project: string;
  readonly provider?: GoogleProvider;
}

export function hasGpu(c: ResolvedCompute): boolean {
  return c.gpuType !== undefined && c.gpuCount > 0;
}

/** A2/A3/G2 carry their GPUs by machine type; only N1 takes a guest_accelerator block. */
export function guestAccelerators(c: ResolvedCompute): { type: string; count: number }[] | undefined {
  return hasGpu(c) && !/^(a2|a3|g2)-/.test(c.machineType)
    ? [{ type: c.gpuType!, count: c.gpuCount }]
    : undefined;
}

/** Spot with STOP on preemption; GPU VMs TERMINATE on host maintenance (they cannot migrate). */
export function scheduling(c: ResolvedCompute) {
  return c.spot
    ? {
        provisioningModel: 'SPOT',
        preemptible: true,
        automaticRestart: false,
        instanceTerminationAction: 'STOP',
        onHostMaintenance: 'TERMINATE',
      }
    : {
        provisioningModel: 'STANDARD',
        automaticRestart: true,
        onHostMaintenance: hasGpu(c) ? 'TERMINATE' : 'MIGRATE',
      };
}

/** Labels of a VM: the app's, the compute's, the role, the work and its GPU. */
export function vmLabels(plan: AppPlan, c: ResolvedCompute, role: 'flow' | 'work', component?: string) {
  return templateLiterals({
    ...plan.labels,
    ...c.labels,
    'lightning-role': role,
    ...(component ? { 'lightning-work': labelValue(component) } : {}),
    ...(hasGpu(c) ? { 'lightning-gpu': labelValue(GPUS[c.gpuType!].short) } : {}),
  });
}

/** The metadata with what a GPU image needs (DLVM images install the driver on first boot). */
export function vmMetadata(c: ResolvedCompute, metadata: Record<string, string>) {
  // Every string in Terraform JSON is a template: the script's `${` must reach the VM as is.
  return templateLiterals({
    ...metadata,
    ...(hasGpu(c) && c.image.startsWith('deeplearning-platform-release/')
      ? { 'install-nvidia-driver': 'True' }
      : {}),
  });
}

/** A VM Terraform creates: the flow's, or a work's that is not a WorkMap member. */
export function createInstance(
  scope: Construct,
  plan: AppPlan,
  vm: VmPlan,
  sa: ServiceAccount,
  subnetRef: string,
  common: Common,
  metadata: Record<string, string>,
  dependencies: ITerraformDependable[],
  networkIp?: string,
): ComputeInstance {
  const c = vm.compute;
  const gpus = guestAccelerators(c);
  return new ComputeInstance(scope, vm.id, {
    ...common,
    name: vm.name,
    zone: plan.zone,
    machineType: c.machineType,
    labels: vmLabels(plan, c, vm.role, vm.role === 'work' ? vm.component : undefined),
    bootDisk: { initializeParams: { image: templateLiteral(c.image), size: c.diskSizeGb, type: c.diskType } },
    // Local SSDs that come with the machine type (A2 Ultra, A3): GCE attaches them anyway;
    // undeclared, the next plan would recreate the VM (scratch_disk forces a new one).
    ...(c.localSsdCount > 0
      ? {
          scratchDisk: Array.from({ length: c.localSsdCount }, () => ({
            interface: 'NVME',
            size: LOCAL_SSD_GB,
          })),
        }
      : {}),
    // No access_config: no external IP. Egress goes through Cloud NAT.
    networkInterface: [{ subnetwork: subnetRef, ...(networkIp ? { networkIp } : {}) }],
    serviceAccount: { email: sa.email, scopes: ['cloud-platform'] },
    ...(gpus ? { guestAccelerator: gpus } : {}),
    scheduling: scheduling(c),
    metadata: vmMetadata(c, metadata),
    allowStoppingForUpdate: true,
    ...(vm.role === 'work' && c.startWith === 'first-run' ? { desiredStatus: 'TERMINATED' } : {}),
    // The flow starts/stops work VMs; Terraform must not fight it over their status.
    ...(vm.role === 'work' ? { lifecycle: { ignoreChanges: ['desired_status'] } } : {}),
    dependsOn: dependencies,
  });
}
