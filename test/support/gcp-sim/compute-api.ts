/**
 * Compute Engine API stand-in for what the flow calls (daemon/cloud/work-vm-control.ts and
 * daemon/cloud/compute-api.ts), under `/compute/v1/projects/P/`:
 * - `zones/Z/instances/NAME` GET, `/start`, `/stop`, `/resume` (POST), DELETE;
 * - `zones/Z/instances` POST (insert, `?sourceInstanceTemplate=global/instanceTemplates/T`);
 * - `aggregated/instances` GET (list, `?filter=labels.KEY=VALUE`);
 * - `zones/Z/operations/OP` GET; `regions/R` GET (quotas); `global/instanceTemplates/T` GET.
 * It acts on the simulated VMs (stop kills the namespace's processes, start boots the startup
 * script again, insert creates a namespace VM from the template, delete removes it) and
 * enforces IAM (compute-iam.ts), regional GPU quotas and injected stockouts
 * (compute-capacity.ts). Inserts fail the way GCE's do: the call returns an operation, and the
 * operation ends with the error (`ZONE_RESOURCE_POOL_EXHAUSTED`, `QUOTA_EXCEEDED`).
 *
 * Metadata given to insert replaces the template's (the pessimistic reading of GCE's override
 * rules), so a client that relies on a merge fails here.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ComputeCapacity, gpuUseOf } from './compute-capacity.ts';
import { ComputeIam } from './compute-iam.ts';
import type { Tokens } from './metadata-server.ts';

type Obj = Record<string, unknown>;

/** A VM as the list call reports it. */
export interface ListedVm {
  readonly name: string;
  readonly project: string;
  readonly zone: string;
  readonly status: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Instance template properties it was created from (undefined: created by Terraform). */
  readonly template?: Obj;
}

/** What a VM made by instances.insert is made of. */
export interface InsertedVm {
  readonly name: string;
  readonly project: string;
  readonly zone: string;
  readonly serviceAccountEmail: string;
  readonly metadata: Readonly<Record<string, string>>;
  readonly labels: Readonly<Record<string, string>>;
  readonly tags: readonly string[];
  readonly template: Obj;
}

/** What the API needs of the VMs. */
export interface ComputeVms {
  /** `RUNNING`, `STOPPING`, `TERMINATED`, …; undefined when there is no such VM. */
  status(project: string, zone: string, name: string): string | undefined;
  start(name: string): void;
  stop(name: string): void;
  /** Creates and boots a VM (instances.insert). */
  create(vm: InsertedVm): void;
  /** Deletes a VM (instances.delete): processes, namespace, disk. */
  delete(name: string): Promise<void>;
  list(): ListedVm[];
}

/** One insert, start or delete through the API, for the per-run summary. */
export interface ComputeEvent {
  readonly verb: 'insert' | 'start' | 'delete';
  readonly name: string;
  readonly zone: string;
  /** 'ok', or the error code (`ZONE_RESOURCE_POOL_EXHAUSTED`, `QUOTA_EXCEEDED`, HTTP 403 …). */
  readonly outcome: string;
}

const PER_INSTANCE: Record<string, string> = {
  '': 'compute.instances.get',
  '/start': 'compute.instances.start',
  '/resume': 'compute.instances.resume',
  '/stop': 'compute.instances.stop',
};

async function body(req: IncomingMessage): Promise<Obj> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? (JSON.parse(text) as Obj) : {};
}

/** The subnetwork resource name a template's VMs attach to (IAM checks `subnetworks.use` on it). */
function subnetworkOf(template: Obj, project: string, zone: string): string {
  const ref = String((template.network_interface as Obj[] | undefined)?.[0]?.subnetwork ?? '');
  const m = /projects\/[^/]+\/regions\/[^/]+\/subnetworks\/[^/]+$/.exec(ref);
  return m
    ? m[0]
    : `projects/${project}/regions/${zone.replace(/-[a-z]$/, '')}/subnetworks/${ref.split('/').at(-1)}`;
}

export class ComputeApi {
  /** "email METHOD instance[/verb] status" per call. */
  readonly log: string[] = [];
  readonly iam = new ComputeIam();
  readonly capacity = new ComputeCapacity();
  /** Instance templates Terraform created, by name. */
  readonly templates = new Map<string, Obj>();
  /** Every insert and delete, in order. */
  readonly events: ComputeEvent[] = [];
  private readonly operations = new Map<string, Obj>();
  private server: Server | undefined;
  port = 0;

  constructor(
    private readonly tokens: Tokens,
    private readonly vms: ComputeVms,
  ) {}

  /** Custom roles (kept for the per-instance tests that predate ComputeIam). */
  get roles(): Map<string, readonly string[]> {
    return this.iam.roles;
  }

  get instanceGrants(): Set<string> {
    return this.iam.instanceGrants;
  }

  /** GPUs in use per quota metric in `region` (VMs not TERMINATED count, as GCE counts them). */
  private usage(region: string): Map<string, number> {
    const usage = new Map<string, number>();
    for (const vm of this.vms.list()) {
      if (!vm.template || vm.status === 'TERMINATED' || !vm.zone.startsWith(`${region}-`)) continue;
      const use = gpuUseOf(vm.template);
      if (use) usage.set(use.metric, (usage.get(use.metric) ?? 0) + use.count);
    }
    return usage;
  }

  private operation(project: string, zone: string, type: string, target: string, error?: Obj): Obj {
    const name = `operation-${Date.now()}-${randomBytes(4).toString('hex')}`;
    const op = {
      kind: 'compute#operation',
      name,
      zone: `projects/${project}/zones/${zone}`,
      operationType: type,
      targetLink: target,
      status: 'DONE',
      ...(error ? { error: { errors: [error] } } : {}),
    };
    this.operations.set(name, op);
    // The first answer is RUNNING, as GCE's; the client learns the outcome from operations.get.
    return { ...op, status: 'RUNNING', error: undefined };
  }

  async listen(host: string): Promise<void> {
    this.server = createServer((req, res) => {
      void this.handle(req).then(
        ({ status, json, label }) => {
          this.log.push(
            `${this.tokens.identify(req.headers.authorization) ?? '-'} ${req.method} ${label} ${status}`,
          );
          res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(json));
        },
        (err: unknown) => {
          res.writeHead(500, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify({ error: { code: 500, message: (err as Error).message } }));
        },
      );
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(0, host, () => resolve());
    });
    this.port = (this.server.address() as AddressInfo).port;
  }

  private async handle(req: IncomingMessage): Promise<{ status: number; json: object; label: string }> {
    const url = new URL(req.url ?? '/', 'http://compute');
    const path = url.pathname;
    let label = path.replace(/^\/compute\/v1\/projects\/[^/]+\//, '');
    const error = (code: number, message: string, reason?: string) => ({
      status: code,
      json: { error: { code, message, ...(reason ? { errors: [{ reason, message }] } : {}) } },
      label,
    });
    const email = this.tokens.identify(req.headers.authorization);
    if (!email) return error(401, 'Request had invalid authentication credentials.');
    const may = (project: string, resource: string, permission: string) =>
      this.iam.allowed(email, project, resource, permission);
    const denied = (permission: string, resource: string) =>
      error(403, `Required '${permission}' permission for '${resource}'`, 'forbidden');

    const one =
      /^\/compute\/v1\/projects\/([^/]+)\/zones\/([^/]+)\/instances\/([^/]+)(\/start|\/stop|\/resume)?$/.exec(
        path,
      );
    if (one) {
      const [, project, zone, name, verb = ''] = one;
      label = `${name}${verb}`;
      const resource = `projects/${project}/zones/${zone}/instances/${name}`;
      const status = this.vms.status(project!, zone!, name!);
      const notFound = () => error(404, `The resource '${resource}' was not found`, 'notFound');
      if (req.method === 'DELETE' && verb === '') {
        if (!may(project!, resource, 'compute.instances.delete'))
          return denied('compute.instances.delete', resource);
        if (status === undefined) return notFound();
        this.events.push({ verb: 'delete', name: name!, zone: zone!, outcome: 'ok' });
        await this.vms.delete(name!);
        return { status: 200, json: this.operation(project!, zone!, 'delete', resource), label };
      }
      if ((req.method === 'GET') !== (verb === '')) return error(405, 'method not allowed');
      if (status === undefined) return notFound();
      const permission = PER_INSTANCE[verb]!;
      if (!may(project!, resource, permission)) return denied(permission, resource);
      if (verb === '') return { status: 200, json: { kind: 'compute#instance', name, status }, label };
      if (verb === '/stop') this.vms.stop(name!);
      else {
        // GCE starts a stopped VM only where capacity is left: a start in a stocked-out zone
        // ends in the same operation error as an insert. Modelled for VMs made from a template
        // (run-time VMs), whose shape the sim knows; Terraform's VMs always start.
        const template =
          status === 'TERMINATED' ? this.vms.list().find((v) => v.name === name)?.template : undefined;
        const refused = template
          ? this.capacity.refusal(zone!, template, this.usage(zone!.replace(/-[a-z]$/, '')))
          : undefined;
        this.events.push({ verb: 'start', name: name!, zone: zone!, outcome: refused?.code ?? 'ok' });
        if (refused)
          return {
            status: 200,
            json: this.operation(project!, zone!, 'start', resource, { ...refused }),
            label,
          };
        this.vms.start(name!);
      }
      return { status: 200, json: this.operation(project!, zone!, verb.slice(1), resource), label };
    }

    const insert = /^\/compute\/v1\/projects\/([^/]+)\/zones\/([^/]+)\/instances$/.exec(path);
    if (insert && req.method === 'POST')
      return this.insert(insert[1]!, insert[2]!, url, await body(req), email);

    const op = /^\/compute\/v1\/projects\/([^/]+)\/zones\/([^/]+)\/operations\/([^/]+)$/.exec(path);
    if (op && req.method === 'GET') {
      if (!may(op[1]!, `projects/${op[1]}`, 'compute.zoneOperations.get'))
        return denied('compute.zoneOperations.get', `projects/${op[1]}/zones/${op[2]}/operations/${op[3]}`);
      const found = this.operations.get(op[3]!);
      return found
        ? { status: 200, json: found, label }
        : error(404, `operation ${op[3]} not found`, 'notFound');
    }

    const list = /^\/compute\/v1\/projects\/([^/]+)\/aggregated\/instances$/.exec(path);
    if (list && req.method === 'GET') {
      const project = list[1]!;
      if (!may(project, `projects/${project}`, 'compute.instances.list'))
        return denied('compute.instances.list', `projects/${project}`);
      const f = /^labels\.([a-z0-9_-]+)\s*=\s*"?([a-z0-9_-]*)"?$/.exec(url.searchParams.get('filter') ?? '');
      const items: Record<string, { instances: object[] }> = {};
      for (const vm of this.vms.list()) {
        if (vm.project !== project || (f && vm.labels[f[1]!] !== f[2])) continue;
        const zoneItems = items[`zones/${vm.zone}`] ?? { instances: [] };
        items[`zones/${vm.zone}`] = zoneItems;
        zoneItems.instances.push({
          name: vm.name,
          zone: `https://www.googleapis.com/compute/v1/projects/${project}/zones/${vm.zone}`,
          status: vm.status,
          labels: vm.labels,
        });
      }
      return { status: 200, json: { kind: 'compute#instanceAggregatedList', items }, label };
    }

    const region = /^\/compute\/v1\/projects\/([^/]+)\/regions\/([^/]+)$/.exec(path);
    if (region && req.method === 'GET') {
      const resource = `projects/${region[1]}/regions/${region[2]}`;
      if (!may(region[1]!, resource, 'compute.regions.get')) return denied('compute.regions.get', resource);
      const quotas = this.capacity.quotas(region[2]!, this.usage(region[2]!));
      return { status: 200, json: { kind: 'compute#region', name: region[2], quotas }, label };
    }

    const tpl = /^\/compute\/v1\/projects\/([^/]+)\/global\/instanceTemplates\/([^/]+)$/.exec(path);
    if (tpl && req.method === 'GET') {
      const resource = `projects/${tpl[1]}/global/instanceTemplates/${tpl[2]}`;
      if (!may(tpl[1]!, resource, 'compute.instanceTemplates.get'))
        return denied('compute.instanceTemplates.get', resource);
      const t = this.templates.get(tpl[2]!);
      if (!t) return error(404, `The resource '${resource}' was not found`, 'notFound');
      const metadata = (t.metadata ?? {}) as Record<string, string>;
      return {
        status: 200,
        json: {
          kind: 'compute#instanceTemplate',
          name: tpl[2],
          properties: {
            machineType: t.machine_type,
            labels: t.labels ?? {},
            metadata: { items: Object.entries(metadata).map(([key, value]) => ({ key, value })) },
          },
        },
        label,
      };
    }
    return error(404, 'The requested URL was not found.');
  }

  private insert(project: string, zone: string, url: URL, req: Obj, email: string) {
    const name = String(req.name ?? '');
    const label = `insert ${name} in ${zone}`;
    const fail = (code: number, message: string, reason?: string) => {
      this.events.push({ verb: 'insert', name, zone, outcome: reason ?? `HTTP ${code}` });
      return { status: code, json: { error: { code, message, errors: [{ reason, message }] } }, label };
    };
    const templateRef = url.searchParams.get('sourceInstanceTemplate') ?? '';
    const templateName = templateRef.split('/').at(-1) ?? '';
    const template = this.templates.get(templateName);
    if (!template) return fail(404, `The resource '${templateRef}' was not found`, 'notFound');
    if (!/^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/.test(name))
      return fail(400, `Invalid value for field 'resource.name': '${name}'`, 'invalid');
    const resource = `projects/${project}/zones/${zone}/instances/${name}`;
    const needs: [string, string][] = [
      ['compute.instances.create', resource],
      ['compute.disks.create', `projects/${project}/zones/${zone}/disks/${name}`],
      [
        'compute.instanceTemplates.useReadOnly',
        `projects/${project}/global/instanceTemplates/${templateName}`,
      ],
      ['compute.subnetworks.use', subnetworkOf(template, project, zone)],
      ['compute.instances.setServiceAccount', resource],
      ...(req.metadata ? [['compute.instances.setMetadata', resource] as [string, string]] : []),
      ...(req.labels ? [['compute.instances.setLabels', resource] as [string, string]] : []),
    ];
    for (const [permission, on] of needs) {
      if (!this.iam.allowed(email, project, on, permission))
        return fail(403, `Required '${permission}' permission for '${on}'`, 'forbidden');
    }
    const sa = String(
      ((template.service_account as Obj[] | undefined)?.[0]?.email as string | undefined) ?? '',
    );
    if (!this.iam.mayActAs(email, sa))
      return fail(
        403,
        `The user does not have access to service account '${sa}'. User: '${email}'. Ask a project owner to grant you the iam.serviceAccountUser role on the service account`,
        'forbidden',
      );
    if (this.vms.status(project, zone, name) !== undefined || this.vms.list().some((v) => v.name === name))
      return fail(409, `The resource '${resource}' already exists`, 'alreadyExists');
    const refused = this.capacity.refusal(zone, template, this.usage(zone.replace(/-[a-z]$/, '')));
    if (refused) {
      this.events.push({ verb: 'insert', name, zone, outcome: refused.code });
      return { status: 200, json: this.operation(project, zone, 'insert', resource, { ...refused }), label };
    }
    const items = ((req.metadata as Obj | undefined)?.items ?? undefined) as
      | { key: string; value: string }[]
      | undefined;
    const metadata = items
      ? Object.fromEntries(items.map((i) => [i.key, i.value]))
      : ((template.metadata ?? {}) as Record<string, string>);
    const labels = {
      ...((template.labels ?? {}) as Record<string, string>),
      ...((req.labels ?? {}) as Record<string, string>),
    };
    this.vms.create({
      name,
      project,
      zone,
      serviceAccountEmail: sa,
      metadata,
      labels,
      tags: (template.tags as string[] | null) ?? [],
      template,
    });
    this.events.push({ verb: 'insert', name, zone, outcome: 'ok' });
    return { status: 200, json: this.operation(project, zone, 'insert', resource), label };
  }

  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
}
