/**
 * The metadata server of every simulated VM: one HTTP server on the host's bridge address,
 * reached from inside each namespace as 169.254.169.254:80 (nftables DNAT, see
 * sim-network.ts). It tells VMs apart by the source address of the request, as the real
 * one tells them apart by the VM asking: each VM sees its own attributes (the metadata
 * Terraform applied), its project, its internal IP and an access token for its service
 * account. Tokens are random and recorded in `Tokens`, so the API stand-ins learn the
 * caller's identity from the token alone.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Access tokens issued to VMs: token → service account email. */
export class Tokens {
  private readonly byToken = new Map<string, string>();

  issue(email: string): string {
    const token = `ya29.sim-${randomBytes(18).toString('base64url')}`;
    this.byToken.set(token, email);
    return token;
  }

  /** The caller's service account from an `Authorization: Bearer` header, if the token is ours. */
  identify(authorization: string | undefined): string | undefined {
    const m = /^Bearer (\S+)$/.exec(authorization ?? '');
    return m ? this.byToken.get(m[1]!) : undefined;
  }
}

/** What the metadata server knows of one VM. */
export interface VmIdentity {
  readonly name: string;
  readonly ip: string;
  readonly project: string;
  readonly zone: string;
  readonly serviceAccountEmail: string;
  /** Instance attributes (`metadata` of the google_compute_instance as applied). */
  readonly attributes: Readonly<Record<string, string>>;
}

export class MetadataServer {
  readonly requests: { vm: string; path: string }[] = [];
  private readonly vms = new Map<string, VmIdentity>();
  /** `instance/preempted` by VM name: its value, a version for the ETag, long polls waiting on it. */
  private readonly preemption = new Map<
    string,
    { value: boolean; version: number; waiters: Set<() => void> }
  >();
  private server: Server | undefined;
  port = 0;

  constructor(private readonly tokens: Tokens) {}

  async listen(host: string): Promise<void> {
    this.server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://metadata');
      const ip = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
      const vm = this.vms.get(ip);
      this.requests.push({ vm: vm?.name ?? ip, path: url.pathname });
      res.setHeader('Metadata-Flavor', 'Google');
      const send = (status: number, body: string, type = 'application/text') =>
        void res.writeHead(status, { 'Content-Type': type }).end(body);
      if (req.headers['metadata-flavor'] !== 'Google')
        return send(403, 'Missing Metadata-Flavor:Google header.');
      if (!vm) return send(404, `no simulated VM has the address ${ip}`);
      const path = url.pathname.replace(/^\/computeMetadata\/v1\/?/, '');
      if (path === 'instance/preempted') return this.answerPreempted(vm.name, url, res);
      const attr = /^instance\/attributes\/(.+)$/.exec(path);
      if (attr) {
        const v = vm.attributes[attr[1]!];
        return v === undefined ? send(404, 'not found') : send(200, v);
      }
      switch (path) {
        case '':
        case 'instance':
        case 'instance/':
          return send(200, 'attributes/\nhostname\nid\nname\nnetwork-interfaces/\nservice-accounts/\nzone\n');
        case 'project/project-id':
          return send(200, vm.project);
        case 'instance/name':
        case 'instance/hostname':
          return send(200, vm.name);
        case 'instance/zone':
          return send(200, `projects/${vm.project}/zones/${vm.zone}`);
        case 'instance/network-interfaces/0/ip':
          return send(200, vm.ip);
        case 'instance/service-accounts/default/email':
          return send(200, vm.serviceAccountEmail);
        case 'instance/service-accounts/default/token':
          return send(
            200,
            JSON.stringify({
              access_token: this.tokens.issue(vm.serviceAccountEmail),
              expires_in: 3599,
              token_type: 'Bearer',
            }),
            'application/json',
          );
        default:
          return send(404, 'not found');
      }
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(0, host, () => resolve());
    });
    this.port = (this.server.address() as AddressInfo).port;
  }

  /**
   * Sets the VM's `instance/preempted` (TRUE: a preemption notice; FALSE again when the VM is
   * started anew) and answers the long polls waiting on it.
   */
  setPreempted(vmName: string, value: boolean): void {
    const p = this.preemptionOf(vmName);
    if (p.value === value) return;
    p.value = value;
    p.version++;
    for (const w of [...p.waiters]) w();
  }

  private preemptionOf(vmName: string) {
    let p = this.preemption.get(vmName);
    if (!p) {
      p = { value: false, version: 1, waiters: new Set() };
      this.preemption.set(vmName, p);
    }
    return p;
  }

  /**
   * GCE's semantics: a plain read answers at once with an ETag; `wait_for_change=true` answers
   * at once when `last_etag` is stale, else holds the request until the value changes or
   * `timeout_sec` passes.
   */
  private answerPreempted(vmName: string, url: URL, res: ServerResponse): void {
    const p = this.preemptionOf(vmName);
    const send = () => {
      const etag = `sim-preempted-${p.version}`;
      res.writeHead(200, { 'Content-Type': 'application/text', ETag: etag }).end(p.value ? 'TRUE' : 'FALSE');
    };
    const lastEtag = url.searchParams.get('last_etag');
    if (
      url.searchParams.get('wait_for_change') !== 'true' ||
      (lastEtag && lastEtag !== `sim-preempted-${p.version}`)
    ) {
      send();
      return;
    }
    const timeoutSec = Number(url.searchParams.get('timeout_sec') ?? 300) || 300;
    const done = () => {
      clearTimeout(timer);
      p.waiters.delete(done);
      if (!res.writableEnded) send();
    };
    const timer = setTimeout(done, timeoutSec * 1000);
    timer.unref();
    p.waiters.add(done);
    res.on('close', () => {
      clearTimeout(timer);
      p.waiters.delete(done);
    });
  }

  register(vm: VmIdentity): void {
    this.vms.set(vm.ip, vm);
  }

  unregister(ip: string): void {
    this.vms.delete(ip);
  }

  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
}
