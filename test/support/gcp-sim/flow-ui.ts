/**
 * The flow's UI as a user reaches it in the cloud: the login link from the flow VM's service
 * log (docs/deploy-gcp.md: `journalctl -u lightning | grep 'UI http'`), opened through the
 * IAP tunnel, traded for the session cookie; then the HTTP API with that cookie.
 */
import { request } from 'node:http';
import type { WorkStatus } from '../../../constructs/work-status.ts';
import type { IapTunnel } from './iap-tunnel.ts';
import type { SimVm } from './sim-vm.ts';

export type AppSnapshot = Record<string, { vars: Record<string, unknown>; status?: WorkStatus }>;

export class FlowUi {
  private constructor(
    readonly tunnel: IapTunnel,
    private readonly cookie: string,
  ) {}

  /** Waits for the flow's login link in its boot output, then logs in through the tunnel. */
  static async login(flowVm: SimVm, tunnel: IapTunnel, ms: number): Promise<FlowUi> {
    const find = () =>
      flowVm.output.map((l) => /UI http:\/\/127\.0\.0\.1:\d+\/\?token=(\S+)/.exec(l)?.[1]).findLast(Boolean);
    await flowVm.until(() => find() !== undefined, ms, 'the UI login link in the flow log');
    const res = await fetch(`${tunnel.url}/?token=${find()}`, {
      redirect: 'manual',
      signal: AbortSignal.timeout(15_000),
    });
    const cookie = res.headers.get('set-cookie')?.split(';')[0];
    if (res.status !== 303 || !cookie) throw new Error(`UI login through the tunnel answered ${res.status}`);
    return new FlowUi(tunnel, cookie);
  }

  fetch(path: string, init: RequestInit = {}): Promise<Response> {
    return fetch(`${this.tunnel.url}${path}`, {
      ...init,
      headers: {
        cookie: this.cookie,
        accept: 'application/json',
        ...(init.headers as Record<string, string>),
      },
      // Generous: a server's first page can be slow on a loaded 2-core machine.
      signal: AbortSignal.timeout(60_000),
    });
  }

  /**
   * A request to a work's server as the UI's tab makes it: `/w/<work>/` redirects to the work's
   * own origin (`<label>.w.localhost:<port>`, ADR 0016), which a browser resolves to loopback;
   * here the request goes to the tunnel with that Host header.
   */
  async workFetch(
    work: string,
    path: string,
    init: { method?: string; headers?: Record<string, string>; body?: string } = {},
  ): Promise<{ status: number; body: string }> {
    // As a browser's tab load (a frame): API clients are proxied on the UI origin instead.
    const hop = await this.fetch(`/w/${encodeURIComponent(work)}${path}`, {
      redirect: 'manual',
      headers: { 'sec-fetch-dest': 'iframe', 'sec-fetch-mode': 'navigate' },
    });
    const location = hop.headers.get('location');
    if (hop.status !== 307 || !location)
      throw new Error(`/w/${work}${path}: ${hop.status} ${await hop.text()}`);
    const target = new URL(location);
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: this.tunnel.port,
          path: `${target.pathname}${target.search}`,
          method: init.method ?? 'GET',
          headers: { ...init.headers, host: target.host },
          timeout: 60_000,
        },
        (res) => {
          let body = '';
          res.on('data', (c: Buffer) => {
            body += c.toString();
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${work}${path}: no answer within 60 s`)));
      req.on('error', reject);
      req.end(init.body);
    });
  }

  async state(): Promise<AppSnapshot> {
    const res = await this.fetch('/api/state');
    if (!res.ok) throw new Error(`GET /api/state: ${res.status} ${await res.text()}`);
    return (await res.json()) as AppSnapshot;
  }

  /** RFC 6902 ops on a component's vars. */
  async patch(component: string, ops: object[]): Promise<void> {
    const res = await this.fetch(`/api/state/${encodeURIComponent(component)}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json-patch+json' },
      body: JSON.stringify(ops),
    });
    if (!res.ok) throw new Error(`PATCH /api/state/${component}: ${res.status} ${await res.text()}`);
  }

  /** Polls the state until `predicate` holds; the error shows the last state. */
  async until(predicate: (s: AppSnapshot) => boolean, ms: number, what: string): Promise<AppSnapshot> {
    const deadline = Date.now() + ms;
    let last: AppSnapshot | undefined;
    let lastError = '';
    while (Date.now() < deadline) {
      try {
        last = await this.state();
        if (predicate(last)) return last;
      } catch (err) {
        lastError = (err as Error).message;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    throw new Error(
      `${what}: not within ${ms} ms. Last state: ${JSON.stringify(last)?.slice(0, 3000)} ${lastError}`,
    );
  }
}
