/**
 * The UI in a real browser (Debian's chromium through playwright-core, no browser download):
 * `lightning-local run` a small app, open the URL it prints, and use the UI like a person.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BrowserRun, runAppInBrowser } from './browser-fixture.ts';
import { UI_TEST_APP } from './ui-test-app.ts';

/** Set LIGHTNING_UI_SCREENSHOT=/path.png to keep a screenshot of the UI (for a look at it). */
const SCREENSHOT = process.env.LIGHTNING_UI_SCREENSHOT;

let run: BrowserRun;
let page: Page;

beforeAll(async () => {
  run = await runAppInBrowser(UI_TEST_APP, { width: 1400, height: 900 });
  page = run.page;
});

afterAll(async () => {
  await run?.close();
});

describe('the web UI in a browser', () => {
  it('shows works, live status, logs, charts and work tabs, and edits state the flow reacts to', async () => {
    const [url] = await run.waitForOutput(/http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]+/, 60_000);
    const base = url.slice(0, url.indexOf('?'));

    // The printed link logs in and lands on the clean URL.
    await page.goto(url);
    await page.waitForURL(base);
    await page.getByRole('status').filter({ hasText: 'live' }).waitFor({ timeout: 30_000 });
    await expect(page.title()).resolves.toContain('uitest');

    // Both works listed; train runs (its status changed live from not started).
    const train = page.locator('li[data-work="root.train"]');
    const web = page.locator('li[data-work="root.web"]');
    await train.locator('[data-phase="running"]').waitFor({ timeout: 30_000 });
    await web.waitFor();

    // A chart of train's loss, drawn by uPlot (its canvas) against train's step.
    await page
      .locator('figure[data-series="root.train:/loss"][data-axis="step"] canvas')
      .waitFor({ timeout: 30_000 });

    // Log lines stream into the Logs tab.
    await page.getByRole('tab', { name: 'Logs' }).click();
    await page
      .getByRole('log')
      .getByText(/train: step \d+ loss/)
      .first()
      .waitFor({ timeout: 30_000 });
    if (SCREENSHOT) await page.screenshot({ path: SCREENSHOT.replace(/\.png$/, '-logs.png') });

    // The web work's tab embeds its page through the proxy, WebSocket included.
    const webTab = page.getByRole('tab', { name: 'web' });
    await webTab.waitFor({ timeout: 30_000 });
    await webTab.click();
    const frame = page.frameLocator('iframe[data-frame="root.web"]');
    await frame.locator('#hello').waitFor({ timeout: 30_000 });
    await frame.getByText('ws: echo ping').waitFor({ timeout: 30_000 });
    if (SCREENSHOT) await page.screenshot({ path: SCREENSHOT.replace(/\.png$/, '-tab.png') });

    // Change state through the UI: a bad value is refused with the reason, a good one applied.
    await page.getByRole('tab', { name: 'State' }).click();
    await page.getByLabel('Component').selectOption('root');
    await page.getByLabel('Path').fill('/nope/deeper');
    await page.getByLabel('Value (JSON)').fill('1');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.locator('#edit-result.result-bad').waitFor({ timeout: 10_000 });
    await expect(page.locator('#edit-result').textContent()).resolves.toContain('Not applied (400)');

    // Keyboard: pick the value by clicking root's `finish`, then Enter in the form.
    await page.locator('[data-component="root"] .leaf-boolean').first().click();
    await expect(page.getByLabel('Path').inputValue()).resolves.toBe('/finish');
    await page.getByLabel('Value (JSON)').fill('true');
    await page.getByLabel('Value (JSON)').press('Enter');
    await page.locator('#edit-result.result-ok').waitFor({ timeout: 10_000 });

    // The flow reacted (root.reacted), train got `stop`, ended, and the UI shows it succeeded.
    await page
      .locator('[data-component="root"] .leaf-string', { hasText: '"finish"' })
      .waitFor({ timeout: 30_000 });
    await train.locator('[data-phase="succeeded"]').waitFor({ timeout: 30_000 });
    await page.locator('[data-component="root"]').getByText('"train succeeded"').waitFor({ timeout: 30_000 });

    await page.getByRole('tab', { name: 'Overview' }).click();
    if (SCREENSHOT) await page.screenshot({ path: SCREENSHOT });
  });
});
