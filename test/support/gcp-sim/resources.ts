/**
 * What `terraform apply` does in the simulated GCP, per resource type: each handler gets the
 * prior and planned values (SIM-CONTRACT.md: prior null = create, planned null = destroy)
 * and returns the new state: the planned value with the computed attributes GCP would fill
 * (an address, an email, an instance's status). Types not listed here are not modelled.
 * VMs and their templates: vm-resources.ts; the context every handler gets: sim-context.ts.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { FirewallRule } from './firewall.ts';
import { first, type Handler, lastSegment, type Obj, project, str } from './sim-context.ts';
import { instance, instanceTemplate } from './vm-resources.ts';

export type { Handler, Obj, SimContext, VmEvent } from './sim-context.ts';
export { createVm, deleteVm, type NewVm } from './vm-resources.ts';

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
