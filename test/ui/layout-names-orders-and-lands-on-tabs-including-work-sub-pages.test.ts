/**
 * The layout API (constructs/layout.ts): an app names and orders the UI's tabs, picks the
 * landing tab, and shows a page at a sub-path of a work's server. Checked in a real browser;
 * a wrong layout is refused with what, why and how to fix, before anything is served.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Construct,
  Flow,
  LightningApp,
  resolveLayout,
  ScriptWork,
  type UiLayout,
} from '../../constructs/index.ts';
import { type BrowserRun, runAppInBrowser } from './browser-fixture.ts';
import { UI_TEST_APP } from './ui-test-app.ts';

const LAYOUT = `
      override configureLayout() {
        return {
          tabs: [
            { name: 'Echo', content: { work: this.web, path: '/echo?from=layout' } },
            { name: 'Training', content: 'overview' as const },
            { name: 'Web page', content: this.web },
          ],
          landing: 'Echo',
        };
      }
      override run() {`;

const LAID_OUT_APP = { ...UI_TEST_APP, 'app.ts': UI_TEST_APP['app.ts']!.replace('override run() {', LAYOUT) };

let run: BrowserRun;
let page: Page;

beforeAll(async () => {
  run = await runAppInBrowser(LAID_OUT_APP);
  page = run.page;
});

afterAll(async () => {
  await run?.close();
});

describe('the layout of the UI', () => {
  it('names and orders tabs, opens the landing tab, and shows a sub-path of a work server', async () => {
    const [url] = await run.waitForOutput(/http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]+/, 60_000);
    await page.goto(url);
    // The landing tab is a work page: it opens by itself once the work's server answers.
    const echo = page.getByRole('tab', { name: 'Echo' });
    await expect.poll(() => echo.getAttribute('aria-selected'), { timeout: 30_000 }).toBe('true');
    const frame = page.frameLocator('#panel-l-0 iframe');
    await frame.getByText('"url":"/echo?from=layout"').waitFor({ timeout: 30_000 });
    // The layout's tabs first, in its order; the views it does not name follow; no second web tab.
    await page.getByRole('tab', { name: 'Web page' }).waitFor();
    const names = (await page.getByRole('tab').allTextContents()).map((n) => n.replace('◧', '').trim());
    expect(names).toEqual(['Echo', 'Training', 'Web page', 'Runs', 'State', 'Logs']);
    await page.getByRole('tab', { name: 'Web page' }).click();
    await page.frameLocator('#panel-l-2 iframe').locator('#hello').waitFor({ timeout: 30_000 });
    await page.setViewportSize({ width: 1280, height: 800 });
    if (process.env.LIGHTNING_UI_SCREENSHOT) {
      await echo.click();
      await page.screenshot({ path: process.env.LIGHTNING_UI_SCREENSHOT.replace(/\.png$/, '-layout.png') });
    }
  });

  it('refuses a wrong layout with each problem and its fix', () => {
    class Root extends Flow {
      readonly web = new ScriptWork(this, 'web', { script: 'web.mjs', port: 'auto' });
      constructor(
        scope: Construct,
        readonly layout: (root: Root) => UiLayout,
      ) {
        super(scope, 'root');
      }
      override configureLayout() {
        return this.layout(this);
      }
      override run() {}
    }
    const layoutOf = (layout: (root: Root) => UiLayout) => {
      const app = new LightningApp({ name: 'layouts' });
      new Root(app, layout);
      return () => resolveLayout(app);
    };
    expect(
      layoutOf((r) => ({
        tabs: [
          { name: 'Board', content: 'overview' },
          { name: 'W', content: r.web },
        ],
      }))(),
    ).toEqual({
      tabs: [
        { name: 'Board', view: 'overview' },
        { name: 'W', work: 'root.web', path: '/' },
      ],
      landing: 'Board',
    });
    const elsewhere = new Root(new LightningApp({ name: 'other' }), () => ({ tabs: [] })).web;
    const bad = layoutOf((r) => ({
      tabs: [
        { name: 'A', content: 'charts' as 'overview' },
        { name: 'A', content: 'logs' },
        { name: 'B', content: { work: elsewhere } },
        { name: 'C', content: { work: r.web, path: 'docs' } },
      ],
      landing: 'Nope',
    }));
    expect(bad).toThrow(/Invalid UI layout \(5 problems\)/);
    expect(bad).toThrow(/content "charts" is not a view/);
    expect(bad).toThrow(/repeats the name "A"/);
    expect(bad).toThrow(/work root\.web is not part of app layouts/);
    expect(bad).toThrow(/path "docs" does not start with a single "\/"/);
    expect(bad).toThrow(/"Nope" is not the name of a tab/);
  });
});
