/**
 * Stand-ins for the GCP services a lightning VM talks to, driven by the synthesized
 * Terraform JSON so the test checks the real wiring:
 *
 * - a metadata server per VM: the VM's synthesized `metadata` (Terraform references
 *   resolved to test values), its project id, and an access token naming its service account;
 *   attributes carry ETags and answer `?wait_for_change=true[&last_etag=E][&timeout_sec=N]`
 *   (returns at once when `last_etag` is not the current ETag, else when the value changes or
 *   the timeout passes), and `setAttributes` changes them as `terraform apply` would in place;
 * - Secret Manager (versions/latest:access, :addVersion) that enforces the synthesized
 *   secret IAM grants per service account, so missing or excess grants show up here.
 *
 * These are fakes of Google's services, not of our components; the GCS side is the real
 * fake-gcs-server emulator.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

type Json = Record<string, unknown>;
export interface StackJson {
  resource: Record<string, Record<string, Json>>;
}

/** Replaces `${type.id.attr}` references using `values` (keyed `type.attr`). */
export function resolveRefs(text: string, values: Record<string, string>): string {
  return text.replace(/\$\{([a-z_]+)\.[A-Za-z0-9_-]+\.([a-z_]+)\}/g, (whole, type: string, attr: string) => {
    const v = values[`${type}.${attr}`];
    if (v === undefined) throw new Error(`test cannot resolve ${whole}`);
    return v;
  });
}

/** `${google_service_account.<id>.email}` → account_id, for every SA in the stack. */
function accountIds(tf: StackJson): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [id, r] of Object.entries(tf.resource.google_service_account ?? {}))
    out[`\${google_service_account.${id}.email}`] = r.account_id as string;
  return out;
}

export const tokenFor = (accountId: string) => `fake-token-for-${accountId}`;

async function listen(server: Server, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  return (server.address() as AddressInfo).port;
}

export interface FakeServer {
  readonly port: number;
  close(): Promise<void>;
}

function closer(server: Server): () => Promise<void> {
  return () =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
}

export interface FakeMetadataServer extends FakeServer {
  readonly requests: string[];
  /** Changes (or adds) attributes, waking `wait_for_change` requests on them. */
  setAttributes(attributes: Readonly<Record<string, string>>): void;
}

const etagOf = (value: string) => createHash('sha256').update(value).digest('hex').slice(0, 16);

/** A metadata server for the VM whose instance resource is `vm`. */
export async function startMetadataServer(
  host: string,
  tf: StackJson,
  vmName: string,
  project: string,
  values: Record<string, string>,
  /** The VM's internal IP (`instance/network-interfaces/0/ip`). */
  internalIp?: string,
): Promise<FakeMetadataServer> {
  const vm = Object.values(tf.resource.google_compute_instance ?? {}).find((r) => r.name === vmName);
  if (!vm) throw new Error(`no VM ${vmName} in the stack`);
  const metadata = JSON.parse(resolveRefs(JSON.stringify(vm.metadata), values)) as Record<string, string>;
  const saRef = (vm.service_account as { email: string }).email;
  const accountId = accountIds(tf)[saRef];
  if (!accountId) throw new Error(`VM ${vmName} has no known service account`);
  const requests: string[] = [];
  const waiters = new Map<string, Set<() => void>>();
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://metadata');
    requests.push(url.pathname);
    res.setHeader('Metadata-Flavor', 'Google');
    if (req.headers['metadata-flavor'] !== 'Google')
      return void res.writeHead(403).end('Missing Metadata-Flavor header');
    const path = url.pathname.replace(/^\/computeMetadata\/v1\//, '');
    const attr = /^instance\/attributes\/(.+)$/.exec(path);
    if (attr) {
      const key = attr[1]!;
      const answer = () => {
        const v = metadata[key];
        if (v === undefined) return void res.writeHead(404).end('not found');
        res.writeHead(200, { ETag: etagOf(v) }).end(v);
      };
      const current = metadata[key];
      const lastEtag = url.searchParams.get('last_etag');
      if (url.searchParams.get('wait_for_change') !== 'true') return answer();
      if (lastEtag !== null && (current === undefined || lastEtag !== etagOf(current))) return answer();
      const set = waiters.get(key) ?? new Set();
      waiters.set(key, set);
      const wake = () => {
        clearTimeout(timer);
        set.delete(wake);
        answer();
      };
      const timer = setTimeout(wake, Number(url.searchParams.get('timeout_sec') ?? 300) * 1000);
      set.add(wake);
      req.on('close', () => {
        clearTimeout(timer);
        set.delete(wake);
      });
      return;
    }
    if (path === 'project/project-id') return void res.writeHead(200).end(project);
    if (path === 'instance/network-interfaces/0/ip' && internalIp)
      return void res.writeHead(200).end(internalIp);
    if (path === 'instance/service-accounts/default/token') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      return void res.end(
        JSON.stringify({ access_token: tokenFor(accountId), expires_in: 3599, token_type: 'Bearer' }),
      );
    }
    if (path === 'instance/service-accounts/default/email')
      return void res.writeHead(200).end(`${accountId}@${project}.iam.gserviceaccount.com`);
    if (path === 'instance' || path === '') return void res.writeHead(200).end('');
    res.writeHead(404).end('not found');
  });
  const port = await listen(server, host);
  return {
    port,
    requests,
    close: closer(server),
    setAttributes(attributes) {
      for (const [key, value] of Object.entries(attributes)) {
        if (metadata[key] === value) continue;
        metadata[key] = value;
        for (const wake of [...(waiters.get(key) ?? [])]) wake();
      }
    },
  };
}

export interface FakeSecretManager extends FakeServer {
  /** secretId → versions (payload strings), oldest first. */
  readonly versions: Map<string, string[]>;
  /** "accountId method secret" for every call, with the HTTP status answered. */
  readonly log: string[];
}

/** Secret Manager enforcing the stack's secret IAM grants. */
export async function startSecretManager(
  host: string,
  tf: StackJson,
  project: string,
): Promise<FakeSecretManager> {
  const secrets = new Map<string, string>(); // `${google_secret_manager_secret.<id>.secret_id}` → secret id
  for (const [id, r] of Object.entries(tf.resource.google_secret_manager_secret ?? {})) {
    secrets.set(`\${google_secret_manager_secret.${id}.secret_id}`, r.secret_id as string);
  }
  const sas = accountIds(tf);
  const grants = new Set<string>(); // "accountId|secretId|role"
  for (const g of Object.values(tf.resource.google_secret_manager_secret_iam_member ?? {})) {
    const account = sas[(g.member as string).replace(/^serviceAccount:/, '')];
    grants.add(`${account}|${secrets.get(g.secret_id as string)}|${g.role}`);
  }
  const versions = new Map<string, string[]>([...secrets.values()].map((s) => [s, []]));
  const log: string[] = [];
  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const bearer = /^Bearer fake-token-for-(.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const url = new URL(req.url ?? '/', 'http://sm');
    const m = /^\/v1\/projects\/([^/]+)\/secrets\/([^/:]+)(\/versions\/latest:access|:addVersion)$/.exec(
      url.pathname,
    );
    const answer = (status: number, body: Json) => {
      log.push(`${bearer ?? '-'} ${m?.[3] ?? url.pathname} ${m?.[2] ?? ''} ${status}`);
      res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
    };
    if (!bearer) return answer(401, { error: { code: 401, status: 'UNAUTHENTICATED' } });
    if (!m || m[1] !== project)
      return answer(404, { error: { code: 404, status: 'NOT_FOUND', message: 'no such resource' } });
    const secret = m[2]!;
    const list = versions.get(secret);
    if (!list)
      return answer(404, {
        error: { code: 404, status: 'NOT_FOUND', message: `Secret [${secret}] not found` },
      });
    if (m[3] === '/versions/latest:access') {
      if (!grants.has(`${bearer}|${secret}|roles/secretmanager.secretAccessor`))
        return answer(403, { error: { code: 403, status: 'PERMISSION_DENIED' } });
      const latest = list.at(-1);
      if (latest === undefined)
        return answer(404, {
          error: { code: 404, status: 'NOT_FOUND', message: 'Secret Version [latest] not found' },
        });
      return answer(200, {
        name: `projects/${project}/secrets/${secret}/versions/${list.length}`,
        payload: { data: Buffer.from(latest).toString('base64') },
      });
    }
    if (req.method !== 'POST') return answer(405, { error: { code: 405 } });
    if (!grants.has(`${bearer}|${secret}|roles/secretmanager.secretVersionAdder`))
      return answer(403, { error: { code: 403, status: 'PERMISSION_DENIED' } });
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { payload: { data: string } };
    list.push(Buffer.from(body.payload.data, 'base64').toString('utf8'));
    return answer(200, { name: `projects/${project}/secrets/${secret}/versions/${list.length}` });
  });
  const port = await listen(server, host);
  return { port, versions, log, close: closer(server) };
}
