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

/** Opens a WebSocket through the proxy by hand (Node 20 has no WebSocket client), sends one text frame. */
function websocketEcho(path: string, headers: Record<string, string>, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path.slice(1)}`, {
      headers: {
        ...headers,
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': randomBytes(16).toString('base64'),
        origin: base.replace(/\/$/, ''),
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

describe('the work proxy /w/<work>/', () => {
  it('forwards HTTP to the work server without the UI credentials', async () => {
    const res = await rawRequest(`${base}w/root.web/echo?x=1`, {
      headers: { cookie: `other=1; lightning_ui=${ui.auth.token}` },
    });
    expect(res.status).toBe(200);
    const seen = JSON.parse(res.body);
    expect(seen.url).toBe('/echo?x=1');
    expect(seen.cookie).toBe('other=1');
    expect(seen.prefix).toBe('/w/root.web');
    expect(seen.host).toBe(new URL(app.local.loop.statusOf('root.web')!.url!).host);
    const viaBearer = JSON.parse((await rawRequest(`${base}w/root.web/echo`, { headers: bearer })).body);
    expect(viaBearer.authorization).toBeNull();
    const page = await rawRequest(`${base}w/root.web/`, { headers: bearer });
    expect(page.body).toContain('Hello from the web work');
  });

  it('keeps redirects and absolute links under the prefix', async () => {
    const bare = await rawRequest(`${base}w/root.web`, { headers: bearer });
    expect(bare.status).toBe(308);
    expect(bare.headers.location).toBe('/w/root.web/');
    const home = await rawRequest(`${base}w/root.web/go-home`, { headers: bearer });
    expect(home.status).toBe(302);
    expect(home.headers.location).toBe('/w/root.web/');
    // A page in the tab asked for /echo (an absolute path): sent back under its prefix.
    const absolute = await rawRequest(`${base}echo`, {
      headers: { ...bearer, referer: `${base}w/root.web/` },
    });
    expect(absolute.status).toBe(307);
    expect(absolute.headers.location).toBe('/w/root.web/echo');
  });

  it('refuses without a token, for unknown works and for works without a server', async () => {
    expect((await rawRequest(`${base}w/root.web/echo`)).status).toBe(401);
    const unknown = await rawRequest(`${base}w/root.nope/`, { headers: bearer });
    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.body).error.fix).toContain('root.web');
    const noUrl = await rawRequest(`${base}w/root.train/`, { headers: bearer });
    expect(noUrl.status).toBe(503);
    expect(JSON.parse(noUrl.body).error.message).toContain('no server url');
  });

  it('forwards a WebSocket upgrade both ways, and refuses one without a token', async () => {
    expect(await websocketEcho('/w/root.web/socket', bearer, 'ping')).toBe('echo ping');
    await expect(websocketEcho('/w/root.web/socket', {}, 'ping')).rejects.toThrow();
  });
});
