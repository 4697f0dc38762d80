import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UiServer } from '../../daemon/ui/ui-server.ts';
import type { RunningApp } from '../support/app-fixture.ts';
import { rawRequest, rootVars, startApp, UI_TEST_APP } from './ui-test-app.ts';

let app: RunningApp;
let ui: UiServer;
let base: string;
let auth: Record<string, string>;

beforeAll(async () => {
  app = await startApp(UI_TEST_APP);
  ui = new UiServer({ loop: app.local.loop, port: 0 });
  base = (await ui.listen()).url;
  auth = { authorization: `Bearer ${ui.auth.token}` };
});

afterAll(async () => {
  await app?.local.stop(0, 'test over');
  await ui?.close();
});

function patch(component: string, body: string, headers: Record<string, string> = {}) {
  return rawRequest(`${base}api/state/${encodeURIComponent(component)}`, {
    method: 'PATCH',
    headers: { ...auth, 'content-type': 'application/json-patch+json', ...headers },
    body,
  });
}

/** Reads SSE events from /api/events until `stop` says enough. */
function readEvents(
  stop: (events: { event: string; data: unknown }[]) => boolean,
): Promise<{ event: string; data: unknown }[]> {
  return new Promise((resolve, reject) => {
    const events: { event: string; data: unknown }[] = [];
    const req = request(`${base}api/events`, { headers: auth }, (res) => {
      expect(res.headers['content-type']).toContain('text/event-stream');
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        let i = buf.indexOf('\n\n');
        while (i >= 0) {
          const frame = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const event = /^event: (.*)$/m.exec(frame)?.[1];
          const data = /^data: (.*)$/m.exec(frame)?.[1];
          if (event && data) events.push({ event, data: JSON.parse(data) });
          i = buf.indexOf('\n\n');
        }
        if (stop(events)) {
          req.destroy();
          resolve(events);
        }
      });
    });
    req.on('error', (err) => {
      if (!req.destroyed) reject(err);
    });
    req.end();
  });
}

describe('the flow HTTP API', () => {
  it('refuses requests without the UI token, with a wrong one, or for a foreign Host', async () => {
    const none = await rawRequest(`${base}api/state`);
    expect(none.status).toBe(401);
    expect(JSON.parse(none.body).error.code).toBe('UNAUTHENTICATED');
    expect(
      (await rawRequest(`${base}api/state`, { headers: { authorization: 'Bearer wrong' } })).status,
    ).toBe(401);
    expect((await rawRequest(`${base}api/state`, { headers: { cookie: 'lightning_ui=wrong' } })).status).toBe(
      401,
    );
    // The app (daemon) token is not a UI token.
    expect(ui.auth.token).not.toBe('');
    const rebound = await rawRequest(`${base}api/state`, { headers: { ...auth, host: 'evil.example:7501' } });
    expect(rebound.status).toBe(403);
    expect(JSON.parse(rebound.body).error.message).toContain('DNS rebinding');
    const localhost = await rawRequest(`${base}api/state`, {
      headers: { ...auth, host: `localhost:${new URL(base).port}` },
    });
    expect(localhost.status).toBe(200);
    // The UI page itself needs a login too.
    const page = await rawRequest(base);
    expect(page.status).toBe(401);
    expect(page.body).toContain('login');
  });

  it('trades the one-time login link for an HttpOnly SameSite=Strict cookie, once', async () => {
    const link = ui.loginUrl();
    const first = await rawRequest(link);
    expect(first.status).toBe(303);
    expect(first.headers.location).toBe('/');
    const cookie = String(first.headers['set-cookie']);
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    const withCookie = await rawRequest(`${base}api/state`, { headers: { cookie: cookie.split(';')[0]! } });
    expect(withCookie.status).toBe(200);
    const page = await rawRequest(base, { headers: { cookie: cookie.split(';')[0]! } });
    expect(page.status).toBe(200);
    expect(page.body).toContain('<title>');
    const again = await rawRequest(link);
    expect(again.status).toBe(401);
    expect(again.body).toContain('already used');
  });

  it('serves the state tree', async () => {
    const res = await rawRequest(`${base}api/state`, { headers: auth });
    expect(res.status).toBe(200);
    const state = JSON.parse(res.body);
    expect(Object.keys(state).sort()).toEqual(['root', 'root.train', 'root.web']);
    expect(state['root.train'].status.phase).toBeDefined();
    expect(state.root.vars.finish).toBe(false);
  });

  it('rejects bad patches with the reason and changes nothing', async () => {
    const before = app.local.loop.snapshot().root;
    const proto = await patch('root', '[{"op":"add","path":"/x","value":{"__proto__":{"polluted":1}}}]');
    expect(proto.status).toBe(400);
    expect(JSON.parse(proto.body).error.message).toContain('__proto__');
    const protoPath = await patch('root', '[{"op":"add","path":"/__proto__/polluted","value":1}]');
    expect(protoPath.status).toBe(400);
    const notArray = await patch('root', '{"op":"add","path":"/x","value":1}');
    expect(notArray.status).toBe(400);
    expect(JSON.parse(notArray.body).error.message).toContain('not a JSON Patch array');
    expect(JSON.parse(notArray.body).error.fix).toContain('[{"op"');
    const notJson = await patch('root', '[{"op":');
    expect(notJson.status).toBe(400);
    // Atomic: the first op is valid, the second fails, neither is applied.
    const half = await patch(
      'root',
      '[{"op":"replace","path":"/finish","value":true},{"op":"remove","path":"/nope"}]',
    );
    expect(half.status).toBe(400);
    const unknown = await patch('root.nope', '[{"op":"add","path":"/x","value":1}]');
    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.body).error.fix).toContain('root.train');
    const big = await patch(
      'root',
      JSON.stringify([{ op: 'add', path: '/big', value: 'a'.repeat(2_000_000) }]),
    );
    expect(big.status).toBe(413);
    const form = await patch('root', 'finish=true', { 'content-type': 'application/x-www-form-urlencoded' });
    expect(form.status).toBe(415);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(app.local.loop.snapshot().root).toEqual(before);
  });

  it('applies a good patch to a work; the flow run() reacts', async () => {
    const res = await patch('root.web', '[{"op":"add","path":"/level","value":7}]');
    expect(res.status).toBe(200);
    await app.until(() => rootVars(app).level === 7, 30_000, 'the flow to copy web.level');
    expect(rootVars(app).reacted).toContain('level 7');
    expect(app.local.loop.snapshot()['root.web']!.vars).toEqual({ level: 7 });
  });

  it('serves recent log lines of a work', async () => {
    await app.until(() => app.logs.some((l) => l.work === 'root.train' && l.line.includes('step')), 30_000);
    const res = await rawRequest(`${base}api/logs/root.train?tail=50`, { headers: auth });
    expect(res.status).toBe(200);
    const body = JSON.parse(res.body) as { lines: { line: string; stream: string }[] };
    expect(body.lines.some((l) => l.line === 'train: starting' && l.stream === 'stdout')).toBe(true);
    expect((await rawRequest(`${base}api/logs/root.nope`, { headers: auth })).status).toBe(404);
    expect((await rawRequest(`${base}api/logs/root.train?tail=-1`, { headers: auth })).status).toBe(400);
  });

  it('lists runs with their arguments; refuses a stop for an unknown work or from a form', async () => {
    await app.until(() => app.local.loop.statusOf('root.train')?.phase === 'running', 30_000);
    const runs = JSON.parse((await rawRequest(`${base}api/runs`, { headers: auth })).body) as {
      runs: { work: string; run: number; args: unknown; phase: string }[];
    };
    expect(runs.runs.find((r) => r.work === 'root.train')).toMatchObject({
      run: 1,
      args: { round: 1 },
      phase: 'running',
    });
    const stop = (work: string, type: string) =>
      rawRequest(`${base}api/works/${work}/stop`, {
        method: 'POST',
        headers: { ...auth, 'content-type': type },
        body: '{}',
      });
    expect((await stop('root.nope', 'application/json')).status).toBe(404);
    expect((await stop('root.train', 'application/x-www-form-urlencoded')).status).toBe(415);
    expect(app.local.loop.statusOf('root.train')?.phase).toBe('running');
  });

  it('streams status transitions, log lines and coalesced state over SSE; a patch to the flow reaches the work', async () => {
    // Wait until train runs, so its end (running → succeeded) happens while we listen.
    await app.until(
      () => Object.keys(ui.events.historySnapshot()).includes('root.train:/step'),
      30_000,
      'train to report its first step',
    );
    const listening = readEvents((events) =>
      events.some(
        (e) =>
          e.event === 'status' &&
          (e.data as { work: string; status: { phase: string } }).work === 'root.train' &&
          (e.data as { status: { phase: string } }).status.phase === 'succeeded',
      ),
    );
    // The flow reacts to `finish` by setting train.state.stop, which the script reads and ends.
    const res = await patch('root', '[{"op":"replace","path":"/finish","value":true}]');
    expect(res.status).toBe(200);
    const events = await listening;
    expect(events[0]!.event).toBe('hello');
    const hello = events[0]!.data as { state: Record<string, unknown>; history: Record<string, unknown> };
    expect(Object.keys(hello.state)).toContain('root.train');
    expect(Object.keys(hello.history)).toContain('root.train:/step');
    expect(
      events.some(
        (e) =>
          e.event === 'log' && (e.data as { lines: string[] }).lines.includes('train: stopped by the flow'),
      ),
    ).toBe(true);
    const states = events.filter((e) => e.event === 'state');
    expect(states.length).toBeGreaterThan(0);
    expect(
      states.some(
        (e) => (e.data as { state: { root: { vars: RootVarsLike } } }).state.root.vars.finish === true,
      ),
    ).toBe(true);
    expect(rootVars(app).reacted).toContain('finish');
    await app.until(() => rootVars(app).reacted.includes('train succeeded'), 30_000);
  });
});

interface RootVarsLike {
  finish: boolean;
}
