/**
 * The UI in a real browser (Debian's chromium through playwright-core, no browser download):
 * `lightning-local run` a small app, open the URL it prints, and use the UI like a person.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, writeApp } from '../support/app-fixture.ts';
import { UI_TEST_APP } from './ui-test-app.ts';

const CHROMIUM = '/usr/bin/chromium';
/** Set LIGHTNING_UI_SCREENSHOT=/path.png to keep a screenshot of the UI (for a look at it). */
const SCREENSHOT = process.env.LIGHTNING_UI_SCREENSHOT;

let child: ChildProcess;
let output = '';
let browser: BrowserContext;
let page: Page;
let profile: string;

function waitForOutput(pattern: RegExp, ms: number): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const m = pattern.exec(output);
      if (m) {
        clearTimeout(timer);
        child.stdout?.off('data', check);
        resolve(m);
      }
    };
    const timer = setTimeout(() => {
      child.stdout?.off('data', check);
      reject(new Error(`no ${pattern} in the output within ${ms} ms:\n${output}`));
    }, ms);
    child.stdout?.on('data', check);
    check();
  });
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} is missing: install it with \`apt-get install -y chromium\` (scripts/setup.sh does)`,
    );
  }
  const dir = await writeApp(UI_TEST_APP);
  child = spawn(process.execPath, [CLI, 'run', join(dir, 'app.ts'), '--ui-port', '0'], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1' },
  });
  child.stdout!.setEncoding('utf8');
  child.stderr!.setEncoding('utf8');
  child.stdout!.on('data', (d: string) => {
    output += d;
  });
  child.stderr!.on('data', (d: string) => {
    output += d;
  });
  profile = await mkdtemp(join(tmpdir(), 'lightning-ui-chromium-'));
  // A fresh profile each run (launchPersistentContext is how playwright takes --user-data-dir).
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    viewport: { width: 1400, height: 900 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  page = browser.pages()[0] ?? (await browser.newPage());
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

describe('the web UI in a browser', () => {
  it('shows works, live status, logs, charts and work tabs, and edits state the flow reacts to', async () => {
    const [url] = await waitForOutput(/http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]+/, 60_000);
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

    // Charts of numeric state: train's step and loss.
    await page.locator('figure[data-series="root.train:/loss"] svg path').waitFor({ timeout: 30_000 });
    await page.locator('figure[data-series="root.train:/step"] svg path').waitFor();

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
