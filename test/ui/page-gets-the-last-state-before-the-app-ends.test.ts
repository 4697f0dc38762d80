/**
 * When the app ends, a page must get its final state before the `end` event: the flow's last
 * write (here a summary set in the same pass as stopApp) would otherwise wait in the coalesced
 * state timer and be lost when the CLI closes the UI server right after the end.
 */
import { request } from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import { UiServer } from '../../daemon/ui/ui-server.ts';
import { type RunningApp, startApp } from '../support/app-fixture.ts';

const APP = {
  'wait.py': 'import time\ntime.sleep(1.5)\n',
  'app.ts': `
    import { Flow, LightningApp, ScriptWork } from '@api';
    class Root extends Flow<{ summary: string | null }> {
      readonly wait = new ScriptWork(this, 'wait', { script: 'wait.py' });
      constructor(app: LightningApp) { super(app, 'root', { state: { summary: null } }); }
      override run() {
        this.wait.run({});
        this.state.summary = 'all done';
        this.stopApp('finished');
      }
    }
    const app = new LightningApp({ name: 'lastwords' });
    new Root(app);
    export default app;`,
};

let app: RunningApp | undefined;
let ui: UiServer | undefined;

afterAll(async () => {
  await ui?.close();
  await app?.local.stop(0, 'test over').catch(() => {});
});

describe('the end of the app on the page', () => {
  it('sends the final state, then `end` with the reason', async () => {
    app = await startApp(APP);
    ui = new UiServer({ loop: app.local.loop, port: 0, log: () => {} });
    const base = (await ui.listen()).url;
    const events = await new Promise<{ event: string; data: Record<string, unknown> }[]>(
      (resolve, reject) => {
        const seen: { event: string; data: Record<string, unknown> }[] = [];
        const req = request(
          `${base}api/events`,
          { headers: { authorization: `Bearer ${ui!.auth.token}` } },
          (res) => {
            let buf = '';
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => {
              buf += chunk;
              for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
                const frame = buf.slice(0, i);
                buf = buf.slice(i + 2);
                const event = /^event: (.*)$/m.exec(frame)?.[1];
                const data = /^data: (.*)$/m.exec(frame)?.[1];
                if (event && data) seen.push({ event, data: JSON.parse(data) });
                if (event === 'end') {
                  req.destroy();
                  resolve(seen);
                }
              }
            });
          },
        );
        req.on('error', (err) => {
          if (!req.destroyed) reject(err);
        });
        req.end();
        setTimeout(() => reject(new Error(`no end event in 30 s: ${JSON.stringify(seen)}`)), 30_000).unref();
      },
    );
    const end = events[events.length - 1]!;
    expect(end.data).toMatchObject({ exitCode: 0, message: 'finished' });
    const states = events.filter((e) => e.event === 'state' || e.event === 'hello');
    const last = states[states.length - 1]!.data.state as Record<string, { vars: { summary?: string } }>;
    expect(last.root!.vars.summary).toBe('all done');
  });
});
