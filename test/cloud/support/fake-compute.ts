/**
 * A Compute Engine API stand-in (instances get/start/stop) built from the synthesized stack:
 * it knows every `google_compute_instance` (TERMINATED when created with
 * `desired_status = TERMINATED`, else RUNNING) and enforces exactly the synthesized
 * per-instance grants (custom role permissions × `google_compute_instance_iam_member`), so a
 * missing grant is a 403 here as it would be on GCP. Callers are identified by the fake
 * metadata-server token (`fake-token-for-<account id>`, see fake-gcp.ts).
 *
 * Status changes like GCE's: start → STAGING → RUNNING, stop → STOPPING → TERMINATED. The
 * `onStart`/`onStop` hooks let a test bind a "VM" to processes (start spawns the VM's boot
 * program, stop kills it like an ACPI shutdown); the status moves on when the hook resolves.
 * A fake of Google's service, not of our code.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { StackJson } from './fake-gcp.ts';

export interface ComputeHooks {
  /** Boot the VM (after STAGING). */
  onStart?(instance: string): Promise<void> | void;
  /** Shut the VM down (after STOPPING). */
  onStop?(instance: string): Promise<void> | void;
}

export interface FakeCompute {
  readonly endpoint: string;
  /** Instance name → status. */
  readonly status: Map<string, string>;
  /** "account METHOD instance[/verb] httpStatus" per request, in order. */
  readonly log: string[];
  /** The grants enforced: "account|instance|permission". */
  readonly grants: ReadonlySet<string>;
  close(): Promise<void>;
}

/** "accountId|instance|permission" for every per-instance grant in the stack. */
export function instanceGrants(tf: StackJson): Set<string> {
  const r = tf.resource;
  const saById = Object.fromEntries(
    Object.entries(r.google_service_account ?? {}).map(([id, v]) => [
      `serviceAccount:\${google_service_account.${id}.email}`,
      v.account_id as string,
    ]),
  );
  const vmById = Object.fromEntries(
    Object.entries(r.google_compute_instance ?? {}).map(([id, v]) => [
      `\${google_compute_instance.${id}.name}`,
      v.name as string,
    ]),
  );
  const roleById = Object.fromEntries(
    Object.entries(r.google_project_iam_custom_role ?? {}).map(([id, v]) => [
      `\${google_project_iam_custom_role.${id}.name}`,
      v.permissions as string[],
    ]),
  );
  const out = new Set<string>();
  for (const g of Object.values(r.google_compute_instance_iam_member ?? {})) {
    for (const p of roleById[g.role as string] ?? [])
      out.add(`${saById[g.member as string]}|${vmById[g.instance_name as string]}|${p}`);
  }
  return out;
}

export async function startComputeApi(
  tf: StackJson,
  project: string,
  zone: string,
  hooks: ComputeHooks = {},
  host = '127.0.0.1',
): Promise<FakeCompute> {
  const status = new Map<string, string>();
  for (const vm of Object.values(tf.resource.google_compute_instance ?? {}))
    status.set(vm.name as string, vm.desired_status === 'TERMINATED' ? 'TERMINATED' : 'RUNNING');
  const grants = instanceGrants(tf);
  const log: string[] = [];
  const path = new RegExp(
    `^/compute/v1/projects/${project}/zones/${zone}/instances/([a-z0-9-]+)(/start|/stop)?$`,
  );
  const transition = (name: string, via: string, hook: (() => unknown) | undefined, to: string) => {
    status.set(name, via);
    void Promise.resolve()
      .then(hook)
      .finally(() => {
        if (status.get(name) === via) status.set(name, to);
      });
  };
  const server = createServer((req, res) => {
    const m = path.exec(req.url ?? '');
    const account = /^Bearer fake-token-for-(.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '-';
    const verb = m?.[2];
    const perm =
      verb === '/start'
        ? 'compute.instances.start'
        : verb === '/stop'
          ? 'compute.instances.stop'
          : 'compute.instances.get';
    const answer = (code: number, body: unknown) => {
      log.push(`${account} ${req.method} ${m?.[1] ?? req.url}${verb ?? ''} ${code}`);
      res.writeHead(code, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
    };
    if (!m || !status.has(m[1]!))
      return answer(404, { error: { code: 404, message: `The resource '${req.url}' was not found` } });
    if ((verb && req.method !== 'POST') || (!verb && req.method !== 'GET'))
      return answer(405, { error: { code: 405 } });
    const name = m[1]!;
    if (!grants.has(`${account}|${name}|${perm}`))
      return answer(403, { error: { code: 403, message: `Required '${perm}' permission for '${name}'` } });
    const cur = status.get(name)!;
    // Like GCE: starting a running VM or stopping a stopped one is an operation that does nothing.
    if (verb === '/start' && (cur === 'TERMINATED' || cur === 'STOPPED'))
      transition(name, 'STAGING', hooks.onStart && (() => hooks.onStart!(name)), 'RUNNING');
    else if (verb === '/stop' && (cur === 'RUNNING' || cur === 'STAGING' || cur === 'PROVISIONING'))
      transition(name, 'STOPPING', hooks.onStop && (() => hooks.onStop!(name)), 'TERMINATED');
    return answer(
      200,
      verb ? { kind: 'compute#operation', status: 'RUNNING' } : { name, status: status.get(name) },
    );
  });
  await new Promise<void>((r) => server.listen(0, host, () => r()));
  return {
    endpoint: `http://${host}:${(server.address() as AddressInfo).port}`,
    status,
    log,
    grants,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
