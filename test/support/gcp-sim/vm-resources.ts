/**
 * VMs in the simulated GCP: google_compute_instance (created, updated in place, stopped,
 * deleted by terraform apply), google_compute_instance_template (kept for instances.insert),
 * and createVm/deleteVm, which the Compute API uses too (run-time VMs the flow creates).
 */
import { join } from 'node:path';
import { first, type Handler, hash, type Obj, project, type SimContext, str } from './sim-context.ts';
import { SimVm } from './sim-vm.ts';

/** Kept so the flow can create VMs from it (instances.insert); GCE templates are global and immutable. */
export const instanceTemplate: Handler = {
  async apply(ctx, prior, planned, config) {
    if (prior) ctx.compute.templates.delete(prior.name as string);
    if (!planned) return null;
    const p = project(ctx, planned);
    const name = str(config?.name) ?? `${planned.name_prefix ?? 'tpl-'}${Date.now()}`;
    const id = `projects/${p}/global/instanceTemplates/${name}`;
    const state = {
      ...planned,
      name,
      project: p,
      id,
      self_link: `https://www.googleapis.com/compute/v1/${id}`,
      self_link_unique: `https://www.googleapis.com/compute/v1/${id}?uniqueId=${Math.abs(hash(id))}`,
    };
    ctx.compute.templates.set(name, state);
    return state;
  },
};

function instanceState(ctx: SimContext, planned: Obj, vm: SimVm): Obj {
  const p = project(ctx, planned);
  const id = `projects/${p}/zones/${planned.zone}/instances/${planned.name}`;
  const nics = (
    Array.isArray(planned.network_interface) ? planned.network_interface : [planned.network_interface]
  ) as Obj[];
  return {
    ...planned,
    project: p,
    id,
    self_link: `https://www.googleapis.com/compute/v1/${id}`,
    instance_id: String(Math.abs(hash(id))),
    current_status: vm.status,
    network_interface: nics.map((n, i) => (i === 0 ? { ...n, network_ip: vm.opts.ip, name: 'nic0' } : n)),
  };
}

/** What a new simulated VM is made of (from a google_compute_instance, or a template + insert). */
export interface NewVm {
  readonly name: string;
  readonly project: string;
  readonly zone: string;
  readonly serviceAccountEmail: string;
  readonly metadata: Readonly<Record<string, string>>;
  readonly tags: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
  /** A fixed internal IP (a reserved address); else one from the subnet. */
  readonly networkIp?: string;
  readonly startStopped?: boolean;
  /** The template it came from (instances.insert), for GPU quota usage. */
  readonly template?: Obj;
  readonly by: 'terraform' | 'compute-api';
}

/** Creates a VM: its NIC (namespace), metadata identity and firewall, then boots it. */
export function createVm(ctx: SimContext, spec: NewVm): SimVm {
  let ip = spec.networkIp;
  if (ip) ctx.network.claimIp(ip);
  else ip = ctx.network.allocateIp();
  const vm = new SimVm(
    {
      name: spec.name,
      project: spec.project,
      zone: spec.zone,
      ip,
      serviceAccountEmail: spec.serviceAccountEmail,
      metadata: spec.metadata,
      tags: spec.tags,
      labels: spec.labels,
      ...(spec.template ? { template: spec.template } : {}),
      diskDir: join(ctx.rootDir, 'disks', spec.name),
      guestEnv: ctx.guestEnv,
    },
    ctx.network,
  );
  ctx.vms.set(spec.name, vm);
  ctx.metadata.register({
    name: spec.name,
    ip,
    project: spec.project,
    zone: spec.zone,
    serviceAccountEmail: spec.serviceAccountEmail,
    attributes: spec.metadata,
  });
  vm.attach();
  ctx.refreshFirewalls();
  ctx.vmEvents.push({ event: 'created', by: spec.by, name: spec.name, zone: spec.zone });
  if (spec.startStopped) vm.status = 'TERMINATED';
  else {
    vm.boot();
    ctx.mark(`booted VM ${spec.name} (${ip})`);
  }
  return vm;
}

/** Deletes a VM: processes, namespace, disk, address, identity. */
export async function deleteVm(
  ctx: SimContext,
  name: string,
  by: 'terraform' | 'compute-api',
): Promise<void> {
  const vm = ctx.vms.get(name);
  if (!vm) return;
  ctx.vms.delete(vm.name);
  await vm.destroy();
  ctx.metadata.unregister(vm.opts.ip);
  ctx.network.releaseIp(vm.opts.ip);
  ctx.refreshFirewalls();
  ctx.vmEvents.push({ event: 'deleted', by, name, zone: vm.opts.zone });
  ctx.mark(`deleted VM ${vm.name}`);
}

export const instance: Handler = {
  async apply(ctx, prior, planned, config) {
    if (!planned) {
      await deleteVm(ctx, prior!.name as string, 'terraform');
      return null;
    }
    const name = planned.name as string;
    const nic = first(config?.network_interface) ?? {};
    const sa = first(planned.service_account);
    const email = str(sa?.email);
    if (!email)
      throw new Error(
        `google_compute_instance ${name}: no service_account email (lightning VMs run as their own SA)`,
      );
    const metadata = (planned.metadata ?? {}) as Record<string, string>;
    const existing = ctx.vms.get(name);
    if (existing) {
      // Metadata updates reach the metadata server at once; the startup script on next boot.
      Object.assign(existing.opts, { metadata });
      ctx.metadata.register({ ...identity(ctx, planned, existing.opts.ip, email), attributes: metadata });
      const want = str(planned.desired_status);
      if (want === 'TERMINATED' && existing.status === 'RUNNING') await existing.stop();
      if (want === 'RUNNING' && existing.status === 'TERMINATED') existing.boot();
      return instanceState(ctx, planned, existing);
    }
    const networkIp = str(nic.network_ip);
    const vm = createVm(ctx, {
      name,
      project: project(ctx, planned),
      zone: planned.zone as string,
      serviceAccountEmail: email,
      metadata,
      tags: (planned.tags as string[] | null) ?? [],
      labels: (planned.labels as Record<string, string> | null) ?? {},
      ...(networkIp ? { networkIp } : {}),
      startStopped: str(planned.desired_status) === 'TERMINATED',
      by: 'terraform',
    });
    return instanceState(ctx, planned, vm);
  },
  read(ctx, state) {
    const vm = ctx.vms.get(state.name as string);
    return vm ? { ...state, current_status: vm.status } : null;
  },
};

function identity(ctx: SimContext, planned: Obj, ip: string, email: string) {
  return {
    name: planned.name as string,
    ip,
    project: project(ctx, planned),
    zone: planned.zone as string,
    serviceAccountEmail: email,
  };
}
