/**
 * The transfer view, in a real browser against `lightning-local run`: a work that uploads an
 * output to the Drive shows the transfer on its card (key, bytes of the total, a bar, and how
 * long it took once done), from the `state.transfer` its daemon reports. A transfer still
 * under way shows its rate and time left; a local upload of a few MiB is over before a page
 * could look, so that case is given to the page as a work state a transfer reports midway.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BrowserRun, runAppInBrowser } from './browser-fixture.ts';

const APP = {
  'big.sh': '#!/usr/bin/env bash\nhead -c 20971520 /dev/urandom > weights.bin\n',
  'app.ts': `
    import { Flow, LightningApp, ScriptWork } from '@api';
    class Root extends Flow {
      readonly w = new ScriptWork(this, 'w', { script: 'big.sh', outputs: ['weights.bin'], parallel: true });
      constructor(app: LightningApp) { super(app, 'root'); }
      override run() { this.w.run({}); }
    }
    const app = new LightningApp({ name: 'transfers' });
    new Root(app);
    export default app;`,
};

/** Set LIGHTNING_UI_SCREENSHOT=/path.png to keep a screenshot of the cards (for a look at them). */
const SCREENSHOT = process.env.LIGHTNING_UI_SCREENSHOT;

let run: BrowserRun;
let page: Page;

beforeAll(async () => {
  run = await runAppInBrowser(APP);
  page = run.page;
});

afterAll(async () => {
  await run?.close();
});

describe('the transfer view', () => {
  it("shows a work's Drive upload with bytes, rate and ETA on its card", async () => {
    const [url] = await run.waitForOutput(/http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]+/, 60_000);
    await page.goto(url);
    await page.getByRole('status').filter({ hasText: 'live' }).waitFor({ timeout: 30_000 });
    const card = page.locator('li[data-work="root.w"]');

    // The real upload of the 20 MiB output, as its daemon reported it.
    const done = card.locator('.work-transfer[data-transfer="done"]');
    await done.waitFor({ timeout: 60_000 });
    await expect(done.locator('.transfer-key').textContent()).resolves.toMatch(/^works\/root\.w\//);
    await expect(done.locator('.transfer-amount').textContent()).resolves.toMatch(
      /^20\.0 MiB \/ 20\.0 MiB \(100%\) · done in \d+:\d\d$/,
    );
    await expect(done.locator('progress').getAttribute('value')).resolves.toBe('20971520');
    // Transfer progress is not a metric: no chart of it.
    await expect(page.locator('figure[data-series^="root.w:/transfer"]').count()).resolves.toBe(0);

    // Midway through a transfer: bytes of the total, the rate and the time left.
    const status = await page.evaluate(async () => {
      const midway = {
        key: 'works/root.w/data/shard-0.bin',
        bytes: 5 * 1024 * 1024,
        totalBytes: 20 * 1024 * 1024,
        bytesPerSecond: 1024 * 1024,
        etaSeconds: 15,
        elapsedSeconds: 5,
        done: false,
      };
      const res = await fetch('/api/state/root.w', {
        method: 'PATCH',
        headers: { 'content-type': 'application/json-patch+json' },
        body: JSON.stringify([{ op: 'add', path: '/transfer', value: midway }]),
      });
      return res.status;
    });
    expect(status).toBe(200);
    const active = card.locator('.work-transfer[data-transfer="active"]');
    await active.waitFor({ timeout: 30_000 });
    await expect(active.locator('.transfer-amount').textContent()).resolves.toBe(
      '5.0 MiB / 20.0 MiB (25%) · 1.0 MiB/s · ETA 0:15',
    );
    await expect(active.locator('progress').getAttribute('max')).resolves.toBe(String(20 * 1024 * 1024));
    if (SCREENSHOT) await page.screenshot({ path: SCREENSHOT });
  });
});
