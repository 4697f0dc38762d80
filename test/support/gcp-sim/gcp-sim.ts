/**
 * Simulated GCP for `terraform apply`: the HTTP side of SIM-CONTRACT.md (`POST /v1/apply`,
 * `POST /v1/read`), which the stand-in Terraform provider calls when LIGHTNING_GCP_SIM_URL
 * is set, plus the stand-ins the created VMs talk to. Created for real: buckets and objects
 * in the GCS emulator, secrets and their IAM members in the Secret Manager stand-in, VMs as
 * network namespaces running their startup scripts, firewall rules as nftables in every
 * VM. `close()` removes all of it, whatever state a failed test left. ADR 0010 lists what is
 * and is not modelled.
 *
 * @example
 * const sim = await startGcpSim({ sourceRoot: stackDir });
 * await terraform(['apply', '-auto-approve'], { env: { LIGHTNING_GCP_SIM_URL: sim.url } });
 * await sim.vm('myapp-flow').until((vm) => vm.output.some((l) => l.includes('listening')), 60_000, 'flow up');
 * await sim.close();
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { emulatorBinary, freePort } from '../gcs-emulator.ts';
import { ComputeApi } from './compute-api.ts';
import { type FirewallRule, vmRuleset } from './firewall.ts';
import { GcsOps } from './gcs-ops.ts';
import { MetadataServer, Tokens } from './metadata-server.ts';
import { createVm, deleteVm, HANDLERS, type Obj, type SimContext, type VmEvent } from './resources.ts';
import { SecretManager } from './secret-manager.ts';
import { SimNetwork } from './sim-network.ts';
import type { SimVm } from './sim-vm.ts';

export interface GcpSimOptions {
  /** Where relative `source` paths of bucket objects resolve (Terraform's working dir). @default process.cwd() */
  readonly sourceRoot?: string;
  /** Project for resources that name none. @default 'sim-project' */
  readonly defaultProject?: string;
  /** Directories put first on the VMs' PATH (what the image provides, e.g. a Python venv's bin). */
  readonly guestPath?: readonly string[];
  /** More environment for the VMs' guest agent (what the image would configure). */
  readonly guestEnv?: Readonly<Record<string, string>>;
}

/** A preemption the sim injected; `restartedAtMs` once the VM was started again after it (survived). */
export interface Preemption {
  readonly vm: string;
  readonly atMs: number;
  terminatedAtMs?: number;
  restartedAtMs?: number;
}

export interface GcpSim {
  /** `http://127.0.0.1:<port>`: the value of LIGHTNING_GCP_SIM_URL. */
  readonly url: string;
  readonly network: SimNetwork;
  readonly gcs: GcsOps;
  readonly secrets: SecretManager;
  readonly compute: ComputeApi;
  readonly metadata: MetadataServer;
  readonly vms: ReadonlyMap<string, SimVm>;
  /** Every preemption injected with {@link GcpSim.preempt}: the VM, when, and when it was TERMINATED. */
  readonly preemptions: Preemption[];
  /**
   * Preempts a running VM as GCE reclaims a Spot VM: `instance/preempted` turns TRUE and the
   * guest gets an ACPI soft off (SIGTERM to the boot process) at once; `noticeMs` later every
   * process of the VM is killed and it is TERMINATED (GCE: about 30 s). Resolves then. A
   * start through the Compute API boots it again with `instance/preempted` FALSE.
   */
  preempt(name: string, options?: { readonly noticeMs?: number }): Promise<void>;
  /** "type name" of every apply call and its outcome, in order. */
  readonly calls: string[];
  /** What happened when, ms since the sim started. */
  readonly timeline: { readonly atMs: number; readonly event: string }[];
  readonly startedAt: number;
  /** VMs created and deleted so far, by Terraform or through the Compute API. */
  readonly vmEvents: readonly VmEvent[];
  /** The per-run summary: VMs created/deleted (by whom), inserts tried per zone and their outcome. */
  summary(): string;
  /** What the sim holds now (created and not destroyed), by type. */
  resources(): { readonly type: string; readonly state: Readonly<Record<string, unknown>> }[];
  /** The VM, or a clear error listing the VMs there are. */
  vm(name: string): SimVm;
  /** Deletes every VM, namespace, object, bucket and secret and stops the stand-ins. */
  close(): Promise<void>;
}

async function readJson(req: IncomingMessage): Promise<Obj> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Obj;
}

async function startEmulator(host: string): Promise<{ endpoint: string; child: ChildProcess }> {
  const port = await freePort();
  const endpoint = `http://${host}:${port}`;
  const args = ['-scheme', 'http', '-host', host, '-port', String(port), '-external-url', endpoint];
  const child = spawn(emulatorBinary(), [...args, '-backend', 'memory', '-log-level', 'error'], {
    stdio: 'ignore',
  });
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`fake-gcs-server exited (${child.exitCode}) on ${endpoint}`);
    try {
      if ((await fetch(`${endpoint}/storage/v1/b`)).ok) return { endpoint, child };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`fake-gcs-server did not answer on ${endpoint}`);
}

export async function startGcpSim(options: GcpSimOptions = {}): Promise<GcpSim> {
  const startedAt = Date.now();
  const timeline: GcpSim['timeline'] = [];
  const mark = (event: string) => timeline.push({ atMs: Date.now() - startedAt, event });
  const cleanups: (() => unknown)[] = [];
  const network = SimNetwork.create();
  cleanups.push(() => network.close());
  try {
    const rootDir = mkdtempSync(join(tmpdir(), 'gcp-sim-'));
    cleanups.push(() => rmSync(rootDir, { recursive: true, force: true }));
    const tokens = new Tokens();
    const metadata = new MetadataServer(tokens);
    await metadata.listen(network.hostIp);
    cleanups.push(() => metadata.close());
    const secrets = new SecretManager(tokens);
    await secrets.listen(network.hostIp);
    cleanups.push(() => secrets.close());
    const vms = new Map<string, SimVm>();
    const vmEvents: VmEvent[] = [];
    const preemptions: Preemption[] = [];
    // Set once the context exists (insert and delete need it; the API is created first).
    let simCtx: SimContext | undefined;
    const compute = new ComputeApi(tokens, {
      status: (p, z, name) => {
        const vm = vms.get(name);
        return vm && vm.opts.project === p && vm.opts.zone === z ? vm.status : undefined;
      },
      start: (name) => {
        const vm = vms.get(name)!;
        if (vm.status !== 'TERMINATED') return;
        metadata.setPreempted(name, false);
        for (const p of preemptions)
          if (p.vm === name && p.terminatedAtMs !== undefined) p.restartedAtMs ??= Date.now() - startedAt;
        vm.status = 'STAGING';
        mark(`compute API: start ${name}`);
        // A GCE start takes a moment: STAGING is observable before RUNNING.
        setTimeout(() => vm.boot(), 200);
      },
      stop: (name) => {
        mark(`compute API: stop ${name}`);
        void vms
          .get(name)!
          .stop()
          .then(() => mark(`stopped VM ${name}`));
      },
      create: (vm) => {
        mark(`compute API: insert ${vm.name} in ${vm.zone}`);
        // A new VM of an earlier one's name is not preempted (the metadata is per instance).
        metadata.setPreempted(vm.name, false);
        // A preempted run-time VM the flow deleted and created again (elsewhere) survived too.
        for (const p of preemptions)
          if (p.vm === vm.name && p.terminatedAtMs !== undefined) p.restartedAtMs ??= Date.now() - startedAt;
        createVm(simCtx!, { ...vm, by: 'compute-api' });
      },
      delete: (name) => deleteVm(simCtx!, name, 'compute-api'),
      list: () =>
        [...vms.values()].map((v) => ({
          name: v.name,
          project: v.opts.project,
          zone: v.opts.zone,
          status: v.status,
          labels: v.opts.labels ?? {},
          ...(v.opts.template ? { template: v.opts.template } : {}),
        })),
    });
    await compute.listen(network.hostIp);
    cleanups.push(() => compute.close());
    const emulator = await startEmulator(network.hostIp);
    cleanups.push(() => emulator.child.kill('SIGKILL'));
    const gcs = new GcsOps(emulator.endpoint);

    const firewalls = new Map<string, FirewallRule>();
    const ctx: SimContext = {
      network,
      gcs,
      secrets,
      compute,
      metadata,
      vms,
      firewalls,
      refreshFirewalls() {
        const all = [...vms.values()].map((v) => ({
          ip: v.opts.ip,
          serviceAccountEmail: v.opts.serviceAccountEmail,
          tags: v.opts.tags,
        }));
        for (const vm of vms.values()) {
          if (!vm.ns) continue;
          const self = all.find((a) => a.ip === vm.opts.ip)!;
          network.applyRules(
            vm.ns.name,
            vmRuleset(self, [...firewalls.values()], all, `${network.hostIp}:${metadata.port}`),
          );
        }
      },
      sourceRoot: options.sourceRoot ?? process.cwd(),
      defaultProject: options.defaultProject ?? 'sim-project',
      rootDir,
      guestEnv: {
        PATH: [
          ...(options.guestPath ?? []),
          dirname(process.execPath),
          '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        ].join(':'),
        STORAGE_EMULATOR_HOST: emulator.endpoint,
        LIGHTNING_SECRET_MANAGER_ENDPOINT: `http://${network.hostIp}:${secrets.port}`,
        LIGHTNING_COMPUTE_ENDPOINT: `http://${network.hostIp}:${compute.port}`,
        ...options.guestEnv,
      },
      mark,
      vmEvents,
    };
    simCtx = ctx;
    // Tracked state by `type|id`, for /v1/read and for close().
    const tracked = new Map<string, { type: string; state: Obj }>();
    const calls: string[] = [];
    let queue: Promise<void> = Promise.resolve();

    const apply = async (body: Obj): Promise<Obj | null> => {
      const type = body.type as string;
      const prior = (body.prior as Obj | null) ?? null;
      const planned = (body.planned as Obj | null) ?? null;
      const handler = HANDLERS[type];
      const label = `${type} ${(planned ?? prior)?.name ?? (planned ?? prior)?.account_id ?? (planned ?? prior)?.secret_id ?? (planned ?? prior)?.role ?? ''}`;
      if (!handler) {
        calls.push(`${label}: not modelled`);
        return planned;
      }
      const verb = !prior ? 'create' : !planned ? 'delete' : 'update';
      const state = await handler.apply(ctx, prior, planned, (body.config as Obj | null) ?? null);
      if (prior) tracked.delete(`${type}|${prior.id}`);
      if (state) tracked.set(`${type}|${state.id}`, { type, state });
      calls.push(`${label}: ${verb}`);
      mark(`${verb} ${label}`);
      return state;
    };

    const handle = async (req: IncomingMessage, res: ServerResponse) => {
      const send = (status: number, body: object) =>
        void res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
      try {
        if (req.method !== 'POST') return send(405, { error: 'POST /v1/apply or /v1/read' });
        const body = await readJson(req);
        if (req.url === '/v1/apply') {
          // One change at a time: Terraform applies in parallel, the sim's bookkeeping is simpler serial.
          const run = queue.then(() => apply(body));
          queue = run.then(
            () => {},
            () => {},
          );
          return send(200, { state: await run });
        }
        if (req.url === '/v1/read') {
          const type = body.type as string;
          const state = body.state as Obj;
          const t = tracked.get(`${type}|${state?.id}`);
          if (!t) return send(404, { error: `${type} ${state?.id} is not tracked by the sim` });
          const fresh = HANDLERS[type]?.read ? HANDLERS[type].read(ctx, t.state) : t.state;
          if (fresh) t.state = fresh;
          else tracked.delete(`${type}|${state.id}`);
          return send(200, { state: fresh });
        }
        return send(404, { error: `unknown path ${req.url}` });
      } catch (err) {
        return send(400, { error: (err as Error).message });
      }
    };
    const server: Server = createServer((req, res) => void handle(req, res));
    // The stand-in provider (fetch) reuses idle connections. A server that closes an idle one
    // after its keepAliveTimeout races the provider's next request on it (ECONNRESET, seen in
    // CI mid-apply); this server never closes idle connections, its cleanup closes them all.
    server.keepAliveTimeout = 0;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    cleanups.push(
      () =>
        new Promise<void>((r) => {
          server.closeAllConnections();
          server.close(() => r());
        }),
    );
    mark('sim ready');

    let closed = false;
    return {
      preemptions,
      async preempt(name, opts = {}) {
        const vm = vms.get(name);
        if (vm?.status !== 'RUNNING')
          throw new Error(`cannot preempt ${name}: it is ${vm?.status ?? 'not a VM'}`);
        const record: Preemption = { vm: name, atMs: Date.now() - startedAt };
        preemptions.push(record);
        mark(`preemption notice: ${name}`);
        metadata.setPreempted(name, true);
        vm.softOff();
        await new Promise((r) => setTimeout(r, opts.noticeMs ?? 30_000));
        await vm.stop();
        record.terminatedAtMs = Date.now() - startedAt;
        mark(`preempted VM ${name} is TERMINATED`);
      },
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      network,
      gcs,
      secrets,
      compute,
      metadata,
      vms,
      calls,
      timeline,
      startedAt,
      vmEvents,
      summary: () => runSummary(vmEvents, compute, preemptions),
      resources: () => [...tracked.values()],
      vm(name) {
        const vm = vms.get(name);
        if (!vm)
          throw new Error(`no simulated VM ${name}; there are: ${[...vms.keys()].join(', ') || 'none'}`);
        return vm;
      },
      async close() {
        if (closed) return;
        closed = true;
        // Printed per run (issue 14): what the run created and deleted, and where it tried.
        if (vmEvents.length > 0) process.stdout.write(`${runSummary(vmEvents, compute, preemptions)}\n`);
        // Whatever Terraform did not destroy: VMs first (their processes), then data.
        for (const vm of vms.values()) await vm.destroy().catch(() => {});
        for (const { type, state } of tracked.values()) {
          if (type === 'google_storage_bucket')
            await gcs.deleteBucket(state.name as string, true).catch(() => {});
        }
        for (const c of cleanups.reverse())
          await Promise.resolve()
            .then(c)
            .catch(() => {});
      },
    };
  } catch (err) {
    for (const c of cleanups.reverse())
      await Promise.resolve()
        .then(c)
        .catch(() => {});
    throw err;
  }
}

/** "gcp-sim run: VMs created 5 (1 by Terraform, 4 by the Compute API), deleted 4 …; zones tried: …; preemptions survived 1 of 1". */
function runSummary(
  events: readonly VmEvent[],
  compute: ComputeApi,
  preemptions: readonly Preemption[],
): string {
  const count = (event: VmEvent['event'], by?: VmEvent['by']) =>
    events.filter((e) => e.event === event && (by === undefined || e.by === by)).length;
  const tried = new Map<string, string[]>();
  for (const e of compute.events.filter((x) => x.verb === 'insert')) {
    const list = tried.get(e.zone) ?? [];
    list.push(e.outcome);
    tried.set(e.zone, list);
  }
  const zones = [...tried].map(([zone, outcomes]) => `${zone} (${outcomes.join(', ')})`).join('; ');
  return (
    `gcp-sim run: VMs created ${count('created')} (${count('created', 'terraform')} by Terraform, ` +
    `${count('created', 'compute-api')} by the Compute API), deleted ${count('deleted')} ` +
    `(${count('deleted', 'terraform')} by Terraform, ${count('deleted', 'compute-api')} by the Compute API); ` +
    `zones tried by inserts: ${zones || 'none'}; preemptions survived ` +
    `${preemptions.filter((p) => p.restartedAtMs !== undefined).length} of ${preemptions.length}`
  );
}
