import { afterEach, describe, expect, it } from 'vitest';
import { type RunningApp, startApp } from '../support/app-fixture.ts';

let running: RunningApp | undefined;
afterEach(async () => {
  await running?.local.stop(0, 'test over');
  running = undefined;
});

describe('LIGHTNING_STATE_URL', () => {
  it('the Python helper merges state; the flow sees it live and can send state back', async () => {
    running = await startApp({
      'train.py': `
import time
from lightning_state import report, read
for epoch in range(3):
    report(epoch=epoch, metrics={"loss": 1.0 / (epoch + 1)})
    time.sleep(0.05)
# wait for the flow to send a value back through the work's state
for _ in range(200):
    if read().get("ack"):
        break
    time.sleep(0.05)
report(done=True, metrics={"loss": None})  # None removes a key (merge patch)
print("got ack", read().get("ack"))
`,
      'app.ts': `
        import { Flow, LightningApp, ScriptWork } from '@api';
        class Root extends Flow<{ epochs: number[] }> {
          readonly t = new ScriptWork<{ epoch?: number; metrics?: { loss?: number }; done?: boolean; ack?: boolean }>(
            this, 't', { script: 'train.py', parallel: true, state: {} });
          constructor(app: LightningApp) { super(app, 'root', { state: { epochs: [] } }); }
          override run() {
            this.t.run({});
            const e = this.t.state.epoch;
            if (e !== undefined && !this.state.epochs.includes(e)) this.state.epochs.push(e);
            if (e === 2 && !this.t.state.ack) this.t.state.ack = true;
            if (this.t.hasSucceeded) this.stopApp('done');
          }
        }
        const app = new LightningApp({ name: 'stateurl' });
        new Root(app);
        export default app;`,
    });
    const end = await running.local.finished;
    expect(end.exitCode).toBe(0);
    const snap = running.local.loop.snapshot();
    // Changes coalesce (a pass sees the latest state, not every step): under load two reports
    // can land in one drain, so the flow may skip an epoch, but never goes back, and it saw 2
    // while the script ran (the script waited for the ack the flow sends on seeing it).
    const epochs = (snap.root!.vars as { epochs: number[] }).epochs;
    expect(epochs.at(-1)).toBe(2);
    expect(epochs.every((e, i) => [0, 1, 2].includes(e) && (i === 0 || e > epochs[i - 1]!))).toBe(true);
    expect(snap['root.t']!.vars).toEqual({ epoch: 2, metrics: {}, done: true, ack: true });
    expect(running.logs.some((l) => l.line === 'got ack True')).toBe(true);
  });

  it('refuses a wrong token, a non-object body and oversized bodies, and applies nothing', async () => {
    running = await startApp({
      'probe.sh': `#!/usr/bin/env bash
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
echo "wrong-token $(code -X PATCH -H 'Authorization: Bearer nope' -d '{"x":1}' "$LIGHTNING_STATE_URL")"
echo "array $(code -X PATCH -H "Authorization: Bearer $LIGHTNING_STATE_TOKEN" -d '[1]' "$LIGHTNING_STATE_URL")"
echo "proto $(code -X PATCH -H "Authorization: Bearer $LIGHTNING_STATE_TOKEN" -d '{"__proto__":{"x":1}}' "$LIGHTNING_STATE_URL")"
head -c 2000000 /dev/zero | tr '\\0' 'a' | sed 's/^/{"x":"/; s/$/"}/' > big.json
echo "big $(code -X PATCH -H "Authorization: Bearer $LIGHTNING_STATE_TOKEN" --data-binary @big.json "$LIGHTNING_STATE_URL")"
echo "ok $(code -X PATCH -H "Authorization: Bearer $LIGHTNING_STATE_TOKEN" -d '{"ok":true}' "$LIGHTNING_STATE_URL")"
`,
      'app.ts': `
        import { Flow, LightningApp, ScriptWork } from '@api';
        class Root extends Flow {
          readonly p = new ScriptWork(this, 'p', { script: 'probe.sh', parallel: true });
          constructor(app: LightningApp) { super(app, 'root'); }
          override run() { this.p.run({}); if (this.p.hasSucceeded) this.stopApp('probed'); }
        }
        const app = new LightningApp({ name: 'stateprobe' });
        new Root(app);
        export default app;`,
    });
    await running.local.finished;
    const lines = running.logs.filter((l) => l.stream === 'stdout').map((l) => l.line);
    expect(lines).toEqual(['wrong-token 401', 'array 400', 'proto 400', 'big 413', 'ok 204']);
    expect(running.local.loop.snapshot()['root.p']!.vars).toEqual({ ok: true });
  });
});

describe('the environment of a script', () => {
  it('gets --env and the work env, its port, but never the app token', async () => {
    running = await startApp(
      {
        'env.sh': `#!/usr/bin/env bash
echo "app=$FROM_CLI work=$FROM_WORK port=$PORT token=\${LIGHTNING_TOKEN:-none} name=$LIGHTNING_WORK_NAME"
`,
        'app.ts': `
        import { Flow, LightningApp, ScriptWork } from '@api';
        class Root extends Flow {
          readonly e = new ScriptWork(this, 'e', { script: 'env.sh', env: { FROM_WORK: 'w1' }, port: 'auto' });
          constructor(app: LightningApp) { super(app, 'root'); }
          override run() { this.e.run({}); this.stopApp('done'); }
        }
        const app = new LightningApp({ name: 'envs' });
        new Root(app);
        export default app;`,
      },
      { env: { FROM_CLI: 'c1' } },
    );
    await running.local.finished;
    const line = running.logs.find((l) => l.stream === 'stdout')?.line ?? '';
    expect(line).toMatch(/^app=c1 work=w1 port=\d+ token=none name=root\.e$/);
  });
});

describe('a work that serves on a port', () => {
  it('gets its url once the port answers, and loses it while a new call restarts the server', async () => {
    running = await startApp({
      'serve.py': `
import http.server, os, sys
print("serving version", sys.argv[-1], flush=True)
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), http.server.SimpleHTTPRequestHandler).serve_forever()
`,
      'app.ts': `
        import { Flow, LightningApp, ScriptWork } from '@api';
        class Root extends Flow<{ version: number }> {
          readonly s = new ScriptWork(this, 's', { script: 'serve.py', port: 'auto', parallel: true,
            args: (a: { version: number }) => [String(a.version)] });
          constructor(app: LightningApp) { super(app, 'root', { state: { version: 1 } }); }
          override run() { this.s.run({ version: this.state.version }); }
        }
        const app = new LightningApp({ name: 'serving' });
        new Root(app);
        export default app;`,
    });
    const { local, until, statuses } = running;
    await until(() => local.loop.statusOf('root.s')?.url !== null, 30_000, 'a url');
    const first = local.loop.statusOf('root.s')!;
    expect(first.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(first.phase).toBe('running');
    const seen = statuses.length;
    local.loop.post(() => {
      (local.loop.app.root.state as { version: number }).version = 2;
    });
    await until(
      () =>
        local.loop.statusOf('root.s')!.callHash !== first.callHash &&
        local.loop.statusOf('root.s')!.url !== null,
      30_000,
      'the new server',
    );
    // Between the two, the flow never saw the old URL on the new call.
    const newCall = statuses.slice(seen).filter((s) => s.status.callHash !== first.callHash);
    expect(newCall[0]!.status.url).toBeNull();
    expect(running.logs.some((l) => l.line === 'serving version 2')).toBe(true);
  });
});
