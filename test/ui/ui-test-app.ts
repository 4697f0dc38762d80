/**
 * A small app for the UI tests, run with the real runtime:
 * - `train` (Python) reports step/loss through LIGHTNING_STATE_URL and prints lines until its
 *   state says `stop` (which the flow sets once the root's `finish` becomes true); it is
 *   called with the root's `round`, so changing `round` (and `finish` back to false) retrains;
 * - `web` (Node) serves a page, a JSON echo of what it received, a redirect and a WebSocket
 *   echo on its port, so the proxy can be checked against a real work server;
 * - the root flow copies `web`'s `level` into its own state and records what it reacted to.
 */
import { request } from 'node:http';
import { type AppFiles, type RunningApp, startApp } from '../support/app-fixture.ts';

export const TRAIN_PY = `
import time
from lightning_state import report, read
print("train: starting", flush=True)
step = 0
while not read().get("stop") and step < 5000:
    step += 1
    report(step=step, loss=round(1.0 / step, 4))
    if step % 5 == 1:
        print(f"train: step {step} loss {1.0 / step:.3f}", flush=True)
    time.sleep(0.2)
print("train: stopped by the flow", flush=True)
`;

/** Minimal HTTP + WebSocket (text frames < 126 bytes) echo server. */
export const WEB_MJS = `
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
const port = Number(process.env.PORT);
const page = \`<!doctype html><html><head><title>web work</title></head><body>
<h1 id="hello">Hello from the web work</h1><p id="ws">ws: connecting</p>
<script src="page.js"></script></body></html>\`;
const script = \`const ws = new WebSocket(new URL('socket', location.href).href.replace(/^http/, 'ws'));
ws.onopen = () => ws.send('ping');
ws.onmessage = (e) => { document.getElementById('ws').textContent = 'ws: ' + e.data; };
ws.onerror = () => { document.getElementById('ws').textContent = 'ws: error'; };\`;
const server = createServer((req, res) => {
  if (req.url === '/') { res.writeHead(200, { 'content-type': 'text/html' }); res.end(page); return; }
  if (req.url === '/page.js') { res.writeHead(200, { 'content-type': 'text/javascript' }); res.end(script); return; }
  if (req.url.startsWith('/echo')) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ url: req.url, method: req.method, host: req.headers.host,
      cookie: req.headers.cookie ?? null, authorization: req.headers.authorization ?? null,
      prefix: req.headers['x-forwarded-prefix'] ?? null }));
    return;
  }
  if (req.url === '/go-home') { res.writeHead(302, { location: '/' }); res.end(); return; }
  res.writeHead(404); res.end('no such page');
});
server.on('upgrade', (req, socket) => {
  const accept = createHash('sha1').update(req.headers['sec-websocket-key'] + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
  socket.write('HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\nSec-WebSocket-Accept: ' + accept + '\\r\\n\\r\\n');
  socket.on('data', (d) => {
    if ((d[0] & 0x0f) !== 1) return; // text frames only
    const len = d[1] & 0x7f, mask = d.subarray(2, 6), text = Buffer.alloc(len);
    for (let i = 0; i < len; i++) text[i] = d[6 + i] ^ mask[i % 4];
    const reply = Buffer.from('echo ' + text.toString());
    socket.write(Buffer.concat([Buffer.from([0x81, reply.length]), reply]));
  });
  socket.on('error', () => {});
});
server.listen(port, '127.0.0.1', () => console.log('web: listening on ' + port));
`;

export const UI_TEST_APP: AppFiles = {
  'train.py': TRAIN_PY,
  'web.mjs': WEB_MJS,
  'app.ts': `
    import { Flow, LightningApp, ScriptWork } from '@api';
    interface RootState { finish: boolean; level: number | null; reacted: string[]; round: number }
    class Root extends Flow<RootState> {
      readonly train = new ScriptWork<{ step?: number; loss?: number; stop?: boolean }>(
        this, 'train', { script: 'train.py', parallel: true, state: {} });
      readonly web = new ScriptWork<{ level?: number }>(
        this, 'web', { script: 'web.mjs', port: 'auto', parallel: true, state: {} });
      constructor(app: LightningApp) {
        super(app, 'root', { state: { finish: false, level: null, reacted: [], round: 1 } });
      }
      override run() {
        if (!this.state.finish && this.train.state.stop) this.train.state.stop = false;
        this.train.run({ round: this.state.round });
        this.web.run({});
        if (this.state.finish && !this.train.state.stop) {
          this.train.state.stop = true;
          this.state.reacted.push('finish');
        }
        if (this.train.hasSucceeded && !this.state.reacted.includes('train succeeded')) {
          this.state.reacted.push('train succeeded');
        }
        const level = this.web.state.level;
        if (typeof level === 'number' && level !== this.state.level) {
          this.state.level = level;
          this.state.reacted.push('level ' + level);
        }
      }
    }
    const app = new LightningApp({ name: 'uitest' });
    new Root(app);
    export default app;`,
};

export interface RootVars {
  finish: boolean;
  level: number | null;
  reacted: string[];
  round: number;
}

export function rootVars(app: RunningApp): RootVars {
  return app.local.loop.snapshot().root!.vars as unknown as RootVars;
}

export { startApp };

/** An HTTP request with full control of the headers (fetch may not set Host). */
export function rawRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: options.method ?? 'GET', headers: options.headers ?? {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString(),
        }),
      );
    });
    req.on('error', reject);
    req.end(options.body);
  });
}
