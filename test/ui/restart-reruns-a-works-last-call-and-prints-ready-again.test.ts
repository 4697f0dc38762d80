/**
 * The Restart button of a work, in a real browser against `lightning-local run`: a work whose
 * call ended (here: stopped from its card) runs its last call again with the same arguments
 * (EventLoop.rerun), as a new run in the Runs tab; a server work that comes back makes the
 * terminal print the "ready" line again. The run history takes each call's arguments from
 * the loop's onCall event, so works a WorkMap creates at run time list theirs too. The
 * endpoint has the stop button's checks (JSON content type, unknown work) and refuses a
 * call that has not ended.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BrowserRun, runAppInBrowser } from './browser-fixture.ts';
import { TRAIN_PY, WEB_MJS } from './ui-test-app.ts';

const APP = {
  'train.py': TRAIN_PY,
  'web.mjs': WEB_MJS,
  'trial.py': 'import sys\nprint("trial done", flush=True)\n',
  'app.ts': `
    import { Flow, LightningApp, ScriptWork, WorkMap } from '@api';
    class Root extends Flow {
      readonly train = new ScriptWork(this, 'train', { script: 'train.py', parallel: true, state: {} });
      readonly web = new ScriptWork(this, 'web', { script: 'web.mjs', port: 'auto', parallel: true });
      readonly trials = new WorkMap(this, 'trials', (s, k) => new ScriptWork(s, k, { script: 'trial.py', parallel: true }));
      constructor(app: LightningApp) { super(app, 'root'); }
      override run() {
        this.train.run({ round: 7, lr: 0.5 });
        this.web.run({});
        this.trials.get('a').run({ lr: 0.01 });
      }
    }
    const app = new LightningApp({ name: 'restart' });
    new Root(app);
    export default app;`,
};

let run: BrowserRun;
let page: Page;

beforeAll(async () => {
  run = await runAppInBrowser(APP);
  page = run.page;
});

afterAll(async () => {
  await run?.close();
});

/** POSTs a work action from the page (with its cookie), as the buttons do. */
function post(work: string, action: string, type = 'application/json') {
  return page.evaluate(
    async ([w, a, t]) => {
      const res = await fetch(`/api/works/${encodeURIComponent(w!)}/${a}`, {
        method: 'POST',
        headers: { 'content-type': t! },
        body: '{}',
      });
      return { status: res.status, body: await res.text() };
    },
    [work, action, type],
  );
}

const readyLines = () => run.output().match(/^ready: /gm)?.length ?? 0;

describe('restarting a work from the UI', () => {
  it('re-runs the last call with its arguments, lists it as a new run, and prints ready again', async () => {
    const [url] = await run.waitForOutput(/http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]+/, 60_000);
    await page.goto(url);
    await page.getByRole('status').filter({ hasText: 'live' }).waitFor({ timeout: 30_000 });
    await run.waitForOutput(/^ready: /m, 60_000);
    expect(readyLines()).toBe(1);

    // A running call cannot be restarted (stop it first); bad requests get the stop's checks.
    const train = page.locator('li[data-work="root.train"]');
    await train.locator('[data-phase="running"]').waitFor({ timeout: 30_000 });
    const refused = await post('root.train', 'restart');
    expect(refused.status).toBe(409);
    expect(refused.body).toMatch(/only a call that ended .* can be run again.*Stop it first/);
    expect((await post('root.nope', 'restart')).status).toBe(404);
    expect((await post('root.train', 'restart', 'application/x-www-form-urlencoded')).status).toBe(415);
    await expect(train.getByRole('button', { name: 'restart' }).count()).resolves.toBe(0);

    // Stop train, then Restart it: a second run of the same call, with the same arguments.
    await train.getByRole('button', { name: 'stop' }).click();
    await train.locator('[data-phase="stopped"]').waitFor({ timeout: 30_000 });
    await train.getByRole('button', { name: 'restart' }).click();
    await train.locator('[data-phase="running"]').waitFor({ timeout: 30_000 });
    await run.waitForOutput(/work root\.train restarted from UI/, 10_000);
    await page.getByRole('tab', { name: 'Runs' }).click();
    const runs = page.locator('#runs tr[data-work="root.train"]');
    await page.locator('#runs tr[data-work="root.train"][data-run="2"] [data-phase="running"]').waitFor({
      timeout: 30_000,
    });
    await expect(runs.count()).resolves.toBe(2);
    await expect(
      page.locator('#runs tr[data-work="root.train"][data-run="1"] [data-phase="stopped"]').count(),
    ).resolves.toBe(1);
    for (const n of ['1', '2']) {
      const text = await page.locator(`#runs tr[data-work="root.train"][data-run="${n}"]`).textContent();
      expect(text).toContain('round=7');
      expect(text).toContain('lr=0.5');
    }
    // A WorkMap member, created while the app runs, lists its arguments too.
    await page
      .locator('#runs tr[data-work="root.trials.a"][data-run="1"] [data-phase="succeeded"]')
      .waitFor({ timeout: 30_000 });
    await expect(page.locator('#runs tr[data-work="root.trials.a"]').textContent()).resolves.toContain(
      'lr=0.01',
    );

    // The server work: stop and restart it; once it answers again, "ready" is printed again.
    await page.getByRole('tab', { name: 'Overview' }).click();
    const web = page.locator('li[data-work="root.web"]');
    await web.getByRole('button', { name: 'stop' }).click();
    await web.locator('[data-phase="stopped"]').waitFor({ timeout: 30_000 });
    expect(readyLines()).toBe(1);
    await web.getByRole('button', { name: 'restart' }).click();
    await web.locator('[data-phase="running"]').waitFor({ timeout: 30_000 });
    await web.locator('.url').waitFor({ timeout: 30_000 });
    await run.waitForOutput(/^ready: [\s\S]*^ready: /m, 30_000);
    expect(readyLines()).toBe(2);
  });
});
