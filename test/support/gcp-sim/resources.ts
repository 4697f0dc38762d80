/**
 * What `terraform apply` does in the simulated GCP, per resource type: each handler gets the
 * prior and planned values (SIM-CONTRACT.md: prior null = create, planned null = destroy)
 * and returns the new state: the planned value with the computed attributes GCP would fill
 * (an address, an email, an instance's status). Types not listed here are not modelled.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import type { ComputeApi } from './compute-api.ts';
import type { FirewallRule } from './firewall.ts';
import type { GcsOps } from './gcs-ops.ts';
import type { MetadataServer } from './metadata-server.ts';
import type { SecretManager } from './secret-manager.ts';
import type { SimNetwork } from './sim-network.ts';
import { SimVm } from './sim-vm.ts';

export type Obj = Record<string, unknown>;

export interface SimContext {
  readonly network: SimNetwork;
  readonly gcs: GcsOps;
  readonly secrets: SecretManager;
  readonly compute: ComputeApi;
  readonly metadata: MetadataServer;
  readonly vms: Map<string, SimVm>;
  readonly firewalls: Map<string, FirewallRule>;
  /** Re-renders every VM's nftables ruleset (a VM or rule changed). */
  refreshFirewalls(): void;
  /** Directory that relative `source` paths resolve against (Terraform's working dir). */
  readonly sourceRoot: string;
  readonly defaultProject: string;
  readonly rootDir: string;
  readonly guestEnv: Readonly<Record<string, string>>;
  /** Timeline of what the sim did (for boot timelines in tests). */
  mark(event: string): void;
  /** VMs created and deleted, by whom (the per-run summary). */
  readonly vmEvents: VmEvent[];
}

export interface VmEvent {
  readonly event: 'created' | 'deleted';
  readonly by: 'terraform' | 'compute-api';
  readonly name: string;
  readonly zone: string;
}

export interface Handler {
  /**
   * `planned` has the provider's placeholders in computed attributes; `config` says what the
   * configuration set (null where GCP is to choose, e.g. an address).
   */
  apply(ctx: SimContext, prior: Obj | null, planned: Obj | null, config: Obj | null): Promise<Obj | null>;
  /** Refresh: the current state, or null when it is gone. @default the tracked state */
  read?(ctx: SimContext, state: Obj): Obj | null;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const first = (v: unknown): Obj | undefined =>
  Array.isArray(v) ? (v[0] as Obj | undefined) : (v as Obj | undefined);
const project = (ctx: SimContext, o: Obj) => str(o.project) ?? ctx.defaultProject;
const lastSegment = (s: string) => s.split('/').at(-1)!;

const serviceAccount: Handler = {
  async apply(ctx, _prior, planned) {
    if (!planned) return null;
    const p = project(ctx, planned);
    const email = `${planned.account_id}@${p}.iam.gserviceaccount.com`;
    const name = `projects/${p}/serviceAccounts/${email}`;
    return {
      ...planned,
      project: p,
      email,
      member: `serviceAccount:${email}`,
      name,
      id: name,
      unique_id: String(Date.now()),
    };
  },
};

const bucket: Handler = {
  async apply(ctx, prior, planned) {
    if (!planned) {
      await ctx.gcs.deleteBucket(prior!.name as string, prior!.force_destroy === true);
      return null;
    }
    const name = planned.name as string;
    if (!prior) await ctx.gcs.createBucket(project(ctx, planned), name);
    return {
      ...planned,
      project: project(ctx, planned),
      id: name,
      url: `gs://${name}`,
      self_link: `https://www.googleapis.com/storage/v1/b/${name}`,
    };
  },
  read(_ctx, state) {
    return state;
  },
};

const bucketObject: Handler = {
  async apply(ctx, prior, planned) {
    if (!planned) {
      await ctx.gcs.deleteObject(prior!.bucket as string, prior!.name as string);
      return null;
    }
    const source = str(planned.source);
    let data: Buffer;
    if (source) data = readFileSync(isAbsolute(source) ? source : resolve(ctx.sourceRoot, source));
    else if (typeof planned.content === 'string') data = Buffer.from(planned.content);
    else throw new Error(`google_storage_bucket_object ${planned.name} has neither source nor content`);
    const o = await ctx.gcs.upload(
      planned.bucket as string,
      planned.name as string,
      data,
      str(planned.content_type),
    );
    ctx.mark(`uploaded gs://${planned.bucket}/${planned.name} (${data.length} bytes)`);
    return {
      ...planned,
      id: `${planned.bucket}-${planned.name}`,
      md5hash: o.md5Hash ?? null,
      crc32c: o.crc32c ?? null,
      generation: o.generation ? Number(o.generation) : null,
      media_link: `${ctx.gcs.endpoint}/download/storage/v1/b/${planned.bucket}/o/${encodeURIComponent(planned.name as string)}?alt=media`,
      self_link: `${ctx.gcs.endpoint}/storage/v1/b/${planned.bucket}/o/${encodeURIComponent(planned.name as string)}`,
    };
  },
};

const secret: Handler = {
  async apply(ctx, prior, planned) {
    if (!planned) {
      ctx.secrets.deleteSecret(project(ctx, prior!), prior!.secret_id as string);
      return null;
    }
    const p = project(ctx, planned);
    if (!prior) ctx.secrets.createSecret(p, planned.secret_id as string);
    const name = `projects/${p}/secrets/${planned.secret_id}`;
    return { ...planned, project: p, id: name, name };
  },
};

const secretIamMember: Handler = {
  async apply(ctx, prior, planned) {
    if (prior)
      ctx.secrets.revoke(
        project(ctx, prior),
        lastSegment(prior.secret_id as string),
        prior.role as string,
        prior.member as string,
      );
    if (!planned) return null;
    const p = project(ctx, planned);
    const id = lastSegment(planned.secret_id as string);
    ctx.secrets.grant(p, id, planned.role as string, planned.member as string);
    return {
      ...planned,
      project: p,
      id: `projects/${p}/secrets/${id}/${planned.role}/${planned.member}`,
      etag: 'sim',
    };
  },
};

const address: Handler = {
  async apply(ctx, prior, planned, config) {
    if (!planned) {
      ctx.network.releaseIp(prior!.address as string);
      return null;
    }
    let ip = str(config?.address) ?? str(prior?.address);
    if (ip) ctx.network.claimIp(ip);
    else ip = ctx.network.allocateIp();
    const p = project(ctx, planned);
    const id = `projects/${p}/regions/${planned.region}/addresses/${planned.name}`;
    return {
      ...planned,
      project: p,
      address: ip,
      id,
      self_link: `https://www.googleapis.com/compute/v1/${id}`,
    };
  },
};

const firewall: Handler = {
  async apply(ctx, prior, planned) {
    if (prior) ctx.firewalls.delete(prior.name as string);
    if (planned) ctx.firewalls.set(planned.name as string, planned as unknown as FirewallRule);
    ctx.refreshFirewalls();
    if (!planned) return null;
    const id = `projects/${project(ctx, planned)}/global/firewalls/${planned.name}`;
    return {
      ...planned,
      project: project(ctx, planned),
      id,
      self_link: `https://www.googleapis.com/compute/v1/${id}`,
    };
  },
};

const customRole: Handler = {
  async apply(ctx, prior, planned) {
    if (prior) ctx.compute.iam.roles.delete(prior.name as string);
    if (!planned) return null;
    const name = `projects/${project(ctx, planned)}/roles/${planned.role_id}`;
    ctx.compute.iam.roles.set(name, (planned.permissions as string[]) ?? []);
    return { ...planned, project: project(ctx, planned), name, id: name, deleted: false };
  },
};

const instanceIamMember: Handler = {
  async apply(ctx, prior, planned) {
    const key = (o: Obj) => `${lastSegment(o.instance_name as string)}|${o.role}|${o.member}`;
    if (prior) ctx.compute.iam.instanceGrants.delete(key(prior));
    if (!planned) return null;
    ctx.compute.iam.instanceGrants.add(key(planned));
    return { ...planned, project: project(ctx, planned), id: key(planned), etag: 'sim' };
  },
};

const projectIamMember: Handler = {
  async apply(ctx, prior, planned) {
    const grants = ctx.compute.iam.projectGrants;
    const same = (o: Obj) => (g: (typeof grants)[number]) =>
      g.project === project(ctx, o) && g.role === o.role && g.member === o.member;
    const old = prior ? grants.findIndex(same(prior)) : -1;
    if (old >= 0) grants.splice(old, 1);
    if (!planned) return null;
    const condition = first(planned.condition) as { expression: string; title?: string } | undefined;
    grants.push({
      project: project(ctx, planned),
      role: planned.role as string,
      member: planned.member as string,
      condition: condition ?? null,
    });
    return {
      ...planned,
      project: project(ctx, planned),
      id: `${project(ctx, planned)}/${planned.role}/${planned.member}`,
      etag: 'sim',
    };
  },
};

const serviceAccountIamMember: Handler = {
  async apply(ctx, prior, planned) {
    // service_account_id is `projects/P/serviceAccounts/EMAIL`.
    const key = (o: Obj) => `${lastSegment(o.service_account_id as string)}|${o.role}|${o.member}`;
    if (prior) ctx.compute.iam.serviceAccountGrants.delete(key(prior));
    if (!planned) return null;
    ctx.compute.iam.serviceAccountGrants.add(key(planned));
    return { ...planned, id: `${planned.service_account_id}/${planned.role}/${planned.member}`, etag: 'sim' };
  },
};

/** Kept so the flow can create VMs from it (instances.insert); GCE templates are global and immutable. */
const instanceTemplate: Handler = {
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

function hash(s: string): number {
  let h = 0;
  for (const c of s) h = (h * 31 + c.charCodeAt(0)) | 0;
  return h;
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

const instance: Handler = {
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

/** The modelled resource types. */
export const HANDLERS: Readonly<Record<string, Handler>> = {
  google_service_account: serviceAccount,
  google_storage_bucket: bucket,
  google_storage_bucket_object: bucketObject,
  google_secret_manager_secret: secret,
  google_secret_manager_secret_iam_member: secretIamMember,
  google_compute_address: address,
  google_compute_firewall: firewall,
  google_project_iam_custom_role: customRole,
  google_compute_instance_iam_member: instanceIamMember,
  google_project_iam_member: projectIamMember,
  google_service_account_iam_member: serviceAccountIamMember,
  google_compute_instance_template: instanceTemplate,
  google_compute_instance: instance,
};
