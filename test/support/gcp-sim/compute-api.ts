/**
 * Compute Engine API stand-in for what the flow's daemon/cloud/work-vm-control calls: instances.get,
 * start, stop (and resume) on `/compute/v1/projects/P/zones/Z/instances/NAME[/start|/stop]`.
 * It acts on the simulated VMs (stop kills the namespace's processes, start boots the
 * startup script again) and enforces the per-instance IAM members Terraform applied,
 * resolved through the custom roles' permissions, for the caller's service account.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Tokens } from './metadata-server.ts';

/** What the API needs of the VMs. */
export interface ComputeVms {
  /** `RUNNING`, `STOPPING`, `TERMINATED`, …; undefined when there is no such VM. */
  status(project: string, zone: string, name: string): string | undefined;
  start(name: string): void;
  stop(name: string): void;
}

const PERMISSION: Record<string, string> = {
  '': 'compute.instances.get',
  '/start': 'compute.instances.start',
  '/resume': 'compute.instances.resume',
  '/stop': 'compute.instances.stop',
};

export class ComputeApi {
  /** "email METHOD instance[/verb] status" per call. */
  readonly log: string[] = [];
  /** Custom role name (`projects/P/roles/R`) → permissions. */
  readonly roles = new Map<string, readonly string[]>();
  /** "instance|role|member" from google_compute_instance_iam_member. */
  readonly instanceGrants = new Set<string>();
  private server: Server | undefined;
  port = 0;

  constructor(
    private readonly tokens: Tokens,
    private readonly vms: ComputeVms,
  ) {}

  private allowed(email: string, instance: string, permission: string): boolean {
    for (const g of this.instanceGrants) {
      const [inst, role, member] = g.split('|');
      if (inst !== instance || member !== `serviceAccount:${email}`) continue;
      if (this.roles.get(role!)?.includes(permission)) return true;
    }
    return false;
  }

  async listen(host: string): Promise<void> {
    this.server = createServer((req, res) => {
      const email = this.tokens.identify(req.headers.authorization);
      const m =
        /^\/compute\/v1\/projects\/([^/]+)\/zones\/([^/]+)\/instances\/([^/?]+)(\/start|\/stop|\/resume)?$/.exec(
          (req.url ?? '').split('?')[0]!,
        );
      const answer = (status: number, body: object) => {
        this.log.push(`${email ?? '-'} ${req.method} ${m ? `${m[3]}${m[4] ?? ''}` : req.url} ${status}`);
        res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
      };
      const error = (code: number, message: string) => answer(code, { error: { code, message } });
      if (!email) return error(401, 'Request had invalid authentication credentials.');
      if (!m) return error(404, 'The requested URL was not found.');
      const [, project, zone, name, verb = ''] = m;
      const permission = PERMISSION[verb]!;
      if ((req.method === 'GET') !== (verb === '')) return error(405, 'method not allowed');
      const status = this.vms.status(project!, zone!, name!);
      if (status === undefined)
        return error(404, `The resource 'projects/${project}/zones/${zone}/instances/${name}' was not found`);
      if (!this.allowed(email, name!, permission))
        return error(
          403,
          `Required '${permission}' permission for 'projects/${project}/zones/${zone}/instances/${name}'`,
        );
      if (verb === '') return answer(200, { kind: 'compute#instance', name, status });
      if (verb === '/stop') this.vms.stop(name!);
      else this.vms.start(name!);
      return answer(200, { kind: 'compute#operation', operationType: verb.slice(1), status: 'RUNNING' });
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(0, host, () => resolve());
    });
    this.port = (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
}
