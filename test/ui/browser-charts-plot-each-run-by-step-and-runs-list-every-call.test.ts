/**
 * Charts and run history in a real browser: the test app's `train` reports step and loss;
 * a retrain (a new `round`) must start a second line on the same step axis, not a line back
 * across the chart, and the Runs tab must list both calls with their parameters, status,
 * duration and last metrics. Logs can be searched and downloaded, a work stopped from its card,
 * changes made in the UI are printed in the terminal, and when the app ends the page says so
 * (not "reconnecting…").
 */
import { readFile } from 'node:fs/promises';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BrowserRun, runAppInBrowser } from './browser-fixture.ts';
import { UI_TEST_APP } from './ui-test-app.ts';

/** Set LIGHTNING_UI_SCREENSHOT=/path.png to keep screenshots of the UI (for a look at it). */
const SCREENSHOT = process.env.LIGHTNING_UI_SCREENSHOT;

let run: BrowserRun;
let page: Page;

beforeAll(async () => {
  run = await runAppInBrowser(UI_TEST_APP);
  page = run.page;
});

afterAll(async () => {
  await run?.close();
});

/** PATCHes the root flow's state from the page (with its cookie), as the UI's editor does. */
async function patchRoot(ops: unknown[]): Promise<number> {
  return page.evaluate(async (body) => {
    const res = await fetch('/api/state/root', {
      method: 'PATCH',
      headers: { 'content-type': 'application/json-patch+json' },
      body,
    });
    return res.status;
  }, JSON.stringify(ops));
}

describe('charts and runs in the browser', () => {
  it('plots each run of a work by step, lists every call, and shows the end of the app', async () => {
    const [url] = await run.waitForOutput(/http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]+/, 60_000);
    await page.goto(url);
    await page.getByRole('status').filter({ hasText: 'live' }).waitFor({ timeout: 30_000 });

    // The loss chart is drawn by uPlot against train's step; step itself is the axis, not a chart.
    const loss = page.locator('figure[data-series="root.train:/loss"]');
    await loss.locator('canvas').waitFor({ timeout: 30_000 });
    await expect(loss.getAttribute('data-axis')).resolves.toBe('step');
    await expect(loss.getAttribute('data-runs')).resolves.toBe('1');
    await expect(page.locator('figure[data-series="root.train:/step"]').count()).resolves.toBe(0);

    // Run 1 is listed with its parameters while it runs.
    await page.getByRole('tab', { name: 'Runs' }).click();
    const run1 = page.locator('#runs tr[data-work="root.train"][data-run="1"]');
    await run1.locator('[data-phase="running"]').waitFor({ timeout: 30_000 });
    await expect(run1.textContent()).resolves.toContain('round=1');

    // End run 1: it succeeds, with a duration and its last loss.
    expect(await patchRoot([{ op: 'replace', path: '/finish', value: true }])).toBe(200);
    await run1.locator('[data-phase="succeeded"]').waitFor({ timeout: 30_000 });
    const row1 = (await run1.locator('td').allTextContents()).join(' | ');
    expect(row1).toMatch(/\d+ (ms|s)/);
    expect(row1).toMatch(/loss=0\.\d+/);
    expect(row1).toMatch(/step=\d+/);

    // Retrain with round 2: a second call, a second run, a second line on the same axis.
    expect(
      await patchRoot([
        { op: 'replace', path: '/finish', value: false },
        { op: 'replace', path: '/round', value: 2 },
      ]),
    ).toBe(200);
    const run2 = page.locator('#runs tr[data-work="root.train"][data-run="2"]');
    await run2.locator('[data-phase="running"]').waitFor({ timeout: 30_000 });
    await expect(run2.textContent()).resolves.toContain('round=2');

    await page.getByRole('tab', { name: 'Overview' }).click();
    await page
      .locator('figure[data-series="root.train:/loss"][data-runs="1,2"]')
      .waitFor({ timeout: 30_000 });
    // Wait for run 2 to report a few steps, then read what uPlot plots.
    // Each chart's figure carries its uPlot instance (charts.js).
    const lossData = 'document.querySelector(\'figure[data-series="root.train:/loss"]\')?.uplot?.data';
    await page.waitForFunction(`(${lossData})?.[2]?.filter((v) => v !== null).length >= 3`, undefined, {
      timeout: 30_000,
    });
    const data = await page.evaluate(lossData);
    const [steps, first, second] = data as [number[], (number | null)[], (number | null)[]];
    // Both runs start near step 1 on the one step axis (a retrain restarts its steps).
    const firstStep = (ys: (number | null)[]) => steps[ys.findIndex((v) => v !== null)]!;
    expect(firstStep(first)).toBeLessThanOrEqual(3);
    expect(firstStep(second)).toBeLessThanOrEqual(3);
    expect(steps).toEqual([...steps].sort((a, b) => a - b));
    await expect(
      page.locator('figure[data-series="root.train:/loss"] .u-legend').textContent(),
    ).resolves.toMatch(/run 1.*run 2/s);
    if (SCREENSHOT) await page.screenshot({ path: SCREENSHOT, fullPage: true });
    if (SCREENSHOT) {
      await page.getByRole('tab', { name: 'Runs' }).click();
      await page.screenshot({ path: SCREENSHOT.replace(/\.png$/, '-runs.png') });
    }

    // Changes made through the UI/API are printed in the terminal.
    await run.waitForOutput(/state set from UI: finish=false round=2/, 10_000);

    // Logs: search narrows the view, Download saves what the view shows.
    await page.getByRole('tab', { name: 'Logs' }).click();
    await page.getByLabel('Search').fill('STOPPED BY THE FLOW');
    const shown = page.getByRole('log').locator('.logline');
    await shown.first().waitFor({ timeout: 10_000 });
    for (const text of await shown.allTextContents()) expect(text).toContain('train: stopped by the flow');
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download' }).click(),
    ]);
    expect(download.suggestedFilename()).toBe('uitest.log');
    const saved = await readFile((await download.path())!, 'utf8');
    expect(saved).toMatch(/\[root\.train\] train: stopped by the flow/);
    expect(saved).not.toContain('train: starting');

    // Stop the web work from its card: its run ends `stopped`, and the terminal says who did it.
    await page.locator('li[data-work="root.web"]').getByRole('button', { name: 'stop' }).click();
    await page.locator('li[data-work="root.web"] [data-phase="stopped"]').waitFor({ timeout: 30_000 });
    await run.waitForOutput(/work root\.web stopped from UI/, 10_000);
    await page.getByRole('tab', { name: 'Runs' }).click();
    await page
      .locator('#runs tr[data-work="root.web"][data-run="1"] [data-phase="stopped"]')
      .waitFor({ timeout: 10_000 });

    // Ctrl-C: the page shows the app's end and why, and stops reconnecting.
    run.child.kill('SIGINT');
    await page.locator('#connection', { hasText: 'app ended' }).waitFor({ timeout: 30_000 });
    await expect(page.locator('#notice').textContent()).resolves.toContain('interrupted');
  });
});
