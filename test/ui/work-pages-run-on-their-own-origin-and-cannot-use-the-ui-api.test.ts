/**
 * Issue 10 item 8, in Chromium: a page a work serves (TensorBoard, Streamlit, a model demo;
 * here a deliberately hostile one) runs on its own origin, so its scripts can neither read
 * the UI's API nor change the flow's state with the user's session, while the tab still
 * renders in the UI, WebSocket included. Checked with the UI opened as 127.0.0.1 and as
 * localhost (the two names the login link and a tunnel use).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, eventually, writeApp } from '../support/app-fixture.ts';
import { launchChromium } from './browser-fixture.ts';
import { WEB_MJS } from './ui-test-app.ts';

/** The hostile page: tries the UI API every way a script can, then reports what it got. */
const EVIL_MJS = `
import { createServer } from 'node:http';
const page = \`<!doctype html><html><body><h1 id="evil">evil work</h1><pre id="result">running</pre>
<script src="/attack.js"></script></body></html>\`;
const attack = \`
(async () => {
  const out = {};
  const tryIt = async (name, f) => { try { out[name] = await f(); } catch (e) { out[name] = 'blocked: ' + e.name; } };
  const patch = (base) => fetch(base + '/api/state/root', { method: 'PATCH', credentials: 'include',
    headers: { 'content-type': 'application/json-patch+json' },
    body: JSON.stringify([{ op: 'replace', path: '/owned', value: true }]) }).then((r) => 'status ' + r.status);
  const read = (base) => fetch(base + '/api/state', { credentials: 'include' }).then(async (r) => 'status ' + r.status + ' ' + (await r.text()).slice(0, 300));
  await tryIt('read own origin', () => read(''));
  await tryIt('patch own origin', () => patch(''));
  for (const host of ['127.0.0.1', 'localhost']) {
    const base = 'http://' + host + ':' + location.port;
    await tryIt('read ' + host, () => read(base));
    await tryIt('patch ' + host, () => patch(base));
    await tryIt('read ' + host + ' via the old proxy path', () => read(base + '/w/root.web/..'));
  }
  document.getElementById('result').textContent = JSON.stringify(out, null, 1);
})();\`;
createServer((req, res) => {
  if (req.url === '/attack.js') { res.writeHead(200, { 'content-type': 'text/javascript' }); res.end(attack); return; }
  if (req.url.startsWith('/api/')) { res.writeHead(404, { 'content-type': 'text/plain' }); res.end('the work itself has no ' + req.url); return; }
  res.writeHead(200, { 'content-type': 'text/html' }); res.end(page);
}).listen(Number(process.env.PORT), '127.0.0.1');
`;

const APP = {
  'web.mjs': WEB_MJS,
  'evil.mjs': EVIL_MJS,
  'app.ts': `
    import { Flow, LightningApp, ScriptWork } from '@api';
    class Root extends Flow<{ owned: boolean; secret: string }> {
      readonly web = new ScriptWork(this, 'web', { script: 'web.mjs', port: 'auto', parallel: true });
      readonly evil = new ScriptWork(this, 'evil', { script: 'evil.mjs', port: 'auto', parallel: true });
      constructor(app: LightningApp) { super(app, 'root', { state: { owned: false, secret: 'do-not-leak-4711' } }); }
      override run() { this.web.run({}); this.evil.run({}); }
    }
    const app = new LightningApp({ name: 'origins' });
    new Root(app);
    export default app;`,
};

let child: ChildProcess;
let output = '';
let browser: BrowserContext;
let profile: string;
let dir: string;

beforeAll(async () => {
  dir = await writeApp(APP);
  child = spawn(process.execPath, [CLI, 'run', join(dir, 'app.ts'), '--ui-port', '0'], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1' },
  });
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  ({ browser, profile } = await launchChromium('lightning-origin-chromium-'));
});

afterAll(async () => {
  await browser?.close();
  if (child && child.exitCode === null) {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGINT');
    await exited;
  }
  if (profile) await rm(profile, { recursive: true, force: true });
});

async function rootState(port: string, token: string): Promise<{ owned: boolean }> {
  const res = await fetch(`http://127.0.0.1:${port}/api/state`, {
    headers: { authorization: `Bearer ${token}` },
  });
  return ((await res.json()) as { root: { vars: { owned: boolean } } }).root.vars;
}

describe('work pages in the UI', () => {
  it.each(['127.0.0.1', 'localhost'])(
    'run on their own origin (UI opened as %s): no API access, the tab and its WebSocket still work',
    async (uiHost) => {
      const [, port] =
        /http:\/\/127\.0\.0\.1:(\d+)\/\?token=/.exec(
          await eventually(
            async () => output,
            (o) => /\?token=/.test(o),
            60_000,
          ),
        ) ?? [];
      const token = (await readFile(join(dir, '.lightning', 'ui-token'), 'utf8')).trim();
      const page = await browser.newPage();
      await page.goto(`http://${uiHost}:${port}/?token=${token}`);
      await page.getByRole('status').filter({ hasText: 'live' }).waitFor({ timeout: 30_000 });

      // The ordinary work's tab renders, WebSocket included.
      await page.getByRole('tab', { name: 'web' }).click({ timeout: 30_000 });
      const web = page.frameLocator('iframe[data-frame="root.web"]');
      await web.getByText('ws: echo ping').waitFor({ timeout: 30_000 });

      // The hostile work's tab renders too, and its script reports what it could do.
      await page.getByRole('tab', { name: 'evil' }).click({ timeout: 30_000 });
      const evil = page.frameLocator('iframe[data-frame="root.evil"]');
      await evil.locator('#evil').waitFor({ timeout: 30_000 });
      const result = evil.locator('#result');
      await expect.poll(() => result.textContent(), { timeout: 30_000 }).not.toBe('running');
      const report = JSON.parse((await result.textContent())!) as Record<string, string>;
      // It runs on its own origin, not the UI's.
      const frame = await (await page
        .locator('iframe[data-frame="root.evil"]')
        .elementHandle())!.contentFrame();
      expect(new URL(frame!.url()).host).not.toBe(`${uiHost}:${port}`);
      for (const [attempt, outcome] of Object.entries(report)) {
        expect(outcome, attempt).not.toContain('do-not-leak-4711');
        expect(outcome, attempt).not.toMatch(/^status 200/);
      }
      expect(report['read own origin']).toMatch(/the work itself has no \/api\/state/);
      expect(await rootState(port!, token)).toMatchObject({ owned: false });
      await page.close();
    },
  );
});
