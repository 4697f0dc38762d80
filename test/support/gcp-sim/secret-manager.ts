/**
 * Secret Manager stand-in (the two calls VMs make: `versions/latest:access` and
 * `:addVersion`), holding the secrets and IAM members Terraform applied and enforcing them:
 * a caller (identified by its metadata-server token) needs `secretAccessor` to read and
 * `secretVersionAdder` to add, on that secret. Missing grants fail the boot; every call is
 * logged so tests can assert nobody was refused.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Tokens } from './metadata-server.ts';

export class SecretManager {
  /** `project/secretId` → payloads, oldest first. */
  readonly versions = new Map<string, string[]>();
  /** "email method secretId status" per call. */
  readonly log: string[] = [];
  private readonly grants = new Set<string>(); // "project/secretId|role|member"
  private server: Server | undefined;
  port = 0;

  constructor(private readonly tokens: Tokens) {}

  createSecret(project: string, secretId: string): void {
    this.versions.set(`${project}/${secretId}`, []);
  }

  deleteSecret(project: string, secretId: string): void {
    this.versions.delete(`${project}/${secretId}`);
    for (const g of [...this.grants]) if (g.startsWith(`${project}/${secretId}|`)) this.grants.delete(g);
  }

  grant(project: string, secretId: string, role: string, member: string): void {
    this.grants.add(`${project}/${secretId}|${role}|${member}`);
  }

  revoke(project: string, secretId: string, role: string, member: string): void {
    this.grants.delete(`${project}/${secretId}|${role}|${member}`);
  }

  private allowed(key: string, role: string, email: string): boolean {
    return this.grants.has(`${key}|${role}|serviceAccount:${email}`);
  }

  async listen(host: string): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(0, host, () => resolve());
    });
    this.port = (this.server.address() as AddressInfo).port;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const email = this.tokens.identify(req.headers.authorization);
    const url = new URL(req.url ?? '/', 'http://sm');
    const m = /^\/v1\/projects\/([^/]+)\/secrets\/([^/:]+)(\/versions\/latest:access|:addVersion)$/.exec(
      url.pathname,
    );
    const answer = (status: number, body: object) => {
      this.log.push(`${email ?? '-'} ${m?.[3] ?? url.pathname} ${m?.[2] ?? ''} ${status}`);
      res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
    };
    const error = (code: number, status: string, message: string) =>
      answer(code, { error: { code, status, message } });
    if (!email) return error(401, 'UNAUTHENTICATED', 'no valid access token');
    if (!m) return error(404, 'NOT_FOUND', 'no such method');
    const key = `${m[1]}/${m[2]}`;
    const list = this.versions.get(key);
    if (!list) return error(404, 'NOT_FOUND', `Secret [projects/${key.replace('/', '/secrets/')}] not found`);
    if (m[3] === '/versions/latest:access') {
      if (!this.allowed(key, 'roles/secretmanager.secretAccessor', email))
        return error(
          403,
          'PERMISSION_DENIED',
          `Permission 'secretmanager.versions.access' denied for ${email}`,
        );
      const latest = list.at(-1);
      if (latest === undefined) return error(404, 'NOT_FOUND', 'Secret Version [latest] not found');
      return answer(200, {
        name: `projects/${m[1]}/secrets/${m[2]}/versions/${list.length}`,
        payload: { data: Buffer.from(latest).toString('base64') },
      });
    }
    if (req.method !== 'POST') return error(405, 'METHOD_NOT_ALLOWED', 'POST only');
    if (!this.allowed(key, 'roles/secretmanager.secretVersionAdder', email))
      return error(403, 'PERMISSION_DENIED', `Permission 'secretmanager.versions.add' denied for ${email}`);
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { payload?: { data?: string } };
    list.push(Buffer.from(body.payload?.data ?? '', 'base64').toString('utf8'));
    return answer(200, { name: `projects/${m[1]}/secrets/${m[2]}/versions/${list.length}` });
  }

  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
}
