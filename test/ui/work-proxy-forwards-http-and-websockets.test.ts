import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UiServer } from '../../daemon/ui/ui-server.ts';
import type { RunningApp } from '../support/app-fixture.ts';
import { rawRequest, startApp, UI_TEST_APP } from './ui-test-app.ts';

let app: RunningApp;
let ui: UiServer;
let base: string;
let bearer: Record<string, string>;

beforeAll(async () => {
  app = await startApp(UI_TEST_APP);
  ui = new UiServer({ loop: app.local.loop, port: 0 });
  base = (await ui.listen()).url;
  bearer = { authorization: `Bearer ${ui.auth.token}` };
  await app.until(() => app.local.loop.statusOf('root.web')?.url != null, 30_000, 'the web work url');
});

afterAll(async () => {
  await app?.local.stop(0, 'test over');
  await ui?.close();
});

/** The Host header of root.web's own origin (what the browser sends after the redirect). */
function webHost(): string {
  return `${ui.auth.workLabel('root.web')}.w.localhost:${new URL(base).port}`;
}

/**
 * Opens a WebSocket through the proxy by hand (Node 20 has no WebSocket client), sends one
 * text frame. Connects to the UI port with `host` as the Host header.
 */
function websocketEcho(
  path: string,
  host: string,
  text: string,
  extra: Record<string, string> = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path.slice(1)}`, {
      headers: {
        ...extra,
        host,
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': randomBytes(16).toString('base64'),
        origin: `http://${host}`,
      },
    });
    req.on('upgrade', (res, socket) => {
      expect(res.statusCode).toBe(101);
      const payload = Buffer.from(text);
      const mask = randomBytes(4);
      const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
      socket.write(Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]));
      socket.on('data', (d: Buffer) => {
        socket.destroy();
        resolve(d.subarray(2, 2 + (d[1]! & 0x7f)).toString());
      });
    });
    req.on('response', (res) => reject(new Error(`no upgrade: HTTP ${res.statusCode}`)));
    req.on('error', reject);
    req.end();
  });
}

describe('the work proxy', () => {
  it("sends a browser's page or frame load of /w/<work>/ to the work's own origin, for a logged-in user only", async () => {
    const frame = { ...bearer, 'sec-fetch-dest': 'iframe' };
    const res = await rawRequest(`${base}w/root.web/echo?x=1`, { headers: frame });
    expect(res.status).toBe(307);
    expect(res.headers.location).toBe(`http://${webHost()}/echo?x=1`);
    const page = { ...bearer, 'sec-fetch-dest': 'document' };
    expect((await rawRequest(`${base}w/root.web`, { headers: page })).headers.location).toBe(
      `http://${webHost()}/`,
    );
    const anonymous = await rawRequest(`${base}w/root.web/echo`, { headers: { 'sec-fetch-dest': 'iframe' } });
    expect(anonymous.status).toBe(401);
  });

  it('still proxies /w/<work>/ for API clients, sandboxed, without the UI credentials', async () => {
    const res = await rawRequest(`${base}w/root.web/echo?x=1`, {
      headers: { cookie: `other=1; lightning_ui=${ui.auth.token}` },
    });
    expect(res.status).toBe(200);
    const seen = JSON.parse(res.body);
    expect(seen).toMatchObject({ url: '/echo?x=1', cookie: 'other=1', prefix: '/w/root.web' });
    // Rendered by a browser, it would get an opaque origin, not the UI's.
    expect(res.headers['content-security-policy']).toContain('sandbox');
    const bare = await rawRequest(`${base}w/root.web`, { headers: bearer });
    expect(bare.status).toBe(308);
    expect(bare.headers.location).toBe('/w/root.web/');
    expect((await rawRequest(`${base}w/root.web/echo`)).status).toBe(401);
  });

  it('forwards HTTP on the work origin to the work server without the UI credentials', async () => {
    const res = await rawRequest(`${base}echo?x=1`, {
      headers: { host: webHost(), cookie: `other=1; lightning_ui=${ui.auth.token}`, ...bearer },
    });
    expect(res.status).toBe(200);
    const seen = JSON.parse(res.body);
    expect(seen.url).toBe('/echo?x=1');
    expect(seen.cookie).toBe('other=1');
    expect(seen.authorization).toBeNull();
    expect(seen.prefix).toBeNull();
    expect(seen.host).toBe(new URL(app.local.loop.statusOf('root.web')!.url!).host);
    expect(res.headers['referrer-policy']).toBe('no-referrer');
    const page = await rawRequest(base, { headers: { host: webHost() } });
    expect(page.body).toContain('Hello from the web work');
    // The whole origin is the work's: the UI API does not exist there.
    const api = await rawRequest(`${base}api/state`, { headers: { host: webHost(), ...bearer } });
    expect(api.status).toBe(404);
    expect(api.body).toBe('no such page');
  });

  it('keeps redirects on the work origin', async () => {
    const home = await rawRequest(`${base}go-home`, { headers: { host: webHost() } });
    expect(home.status).toBe(302);
    expect(home.headers.location).toBe('/');
  });

  it('refuses wrong work hosts, unknown works and works without a server', async () => {
    const forged = webHost().replace(/--[0-9a-f]+/, `--${'0'.repeat(32)}`);
    expect((await rawRequest(`${base}echo`, { headers: { host: forged } })).status).toBe(404);
    const trainHost = `${ui.auth.workLabel('root.train')}.w.localhost`;
    expect((await rawRequest(`${base}echo`, { headers: { host: trainHost } })).status).toBe(503);
    const unknown = await rawRequest(`${base}w/root.nope/`, { headers: bearer });
    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.body).error.fix).toContain('root.web');
    const noUrl = await rawRequest(`${base}w/root.train/`, { headers: bearer });
    expect(noUrl.status).toBe(503);
    expect(JSON.parse(noUrl.body).error.message).toContain('no server url');
  });

  it('forwards WebSocket upgrades on the work origin, and under /w/ for clients with the UI token in a header', async () => {
    expect(await websocketEcho('/socket', webHost(), 'ping')).toBe('echo ping');
    const uiHost = new URL(base).host;
    expect(await websocketEcho('/w/root.web/socket', uiHost, 'ping', bearer)).toBe('echo ping');
    // A browser (cookie only: it cannot set headers on a WebSocket) gets no upgrade there.
    const cookie = { cookie: `lightning_ui=${ui.auth.token}` };
    await expect(websocketEcho('/w/root.web/socket', uiHost, 'ping', cookie)).rejects.toThrow(/HTTP 404/);
    const forged = webHost().replace(/--[0-9a-f]+/, `--${'0'.repeat(32)}`);
    await expect(websocketEcho('/socket', forged, 'ping')).rejects.toThrow(/HTTP 404/);
  });
});
