/**
 * The researcher's loop of the flagship, in a real browser (Debian's chromium through
 * playwright-core) on `lightning-local run` as a user starts it: in the lightning UI, the
 * Streamlit tab's form sets new training parameters and presses Retrain; the app trains
 * again; the Gradio tab then predicts with the new model. Meanwhile a client polls the
 * stable model endpoint: the old server answers every request until the new one takes over.
 * Needs the venv from scripts/setup-flagship.sh.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import type { BrowserContext, FrameLocator, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../ui/browser-fixture.ts';
import { CLI, copyFlagship, type FlagshipCopy, flagshipEnv, requireFlagshipPython } from './flagship-copy.ts';

/** Set LIGHTNING_UI_SCREENSHOT=/path.png to keep screenshots of the tabs (for a look at them). */
const SCREENSHOT = process.env.LIGHTNING_UI_SCREENSHOT;

let copy: FlagshipCopy;
let child: ChildProcess;
let output = '';
let browser: BrowserContext;
let page: Page;
let profile: string;

function waitForOutput(pattern: RegExp, ms: number): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const m = pattern.exec(output);
      if (!m) return;
      clearTimeout(timer);
      child.stdout?.off('data', check);
      resolve(m);
    };
    const timer = setTimeout(() => {
      child.stdout?.off('data', check);
      reject(new Error(`no ${pattern} in the output within ${ms} ms:\n${output.slice(-6000)}`));
    }, ms);
    child.stdout?.on('data', check);
    check();
  });
}

beforeAll(async () => {
  requireFlagshipPython();
  copy = await copyFlagship();
  // The default mode (no demo): the app keeps serving, as the README's first command runs it.
  child = spawn(process.execPath, [CLI, 'run', copy.appFile, '--ui-port', '0', '--set', 'epochs=2'], {
    cwd: copy.dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: flagshipEnv(),
  });
  child.stdout!.setEncoding('utf8');
  child.stderr!.setEncoding('utf8');
  child.stdout!.on('data', (d: string) => {
    output += d;
  });
  child.stderr!.on('data', (d: string) => {
    output += d;
  });
  ({ browser, profile } = await launchChromium('flagship-chromium-', { width: 1400, height: 1000 }));
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
  await copy?.remove();
});

/**
 * Opens a work's tab and waits for `ready` in its page. Reloads the frame (the tab's Reload
 * button) when it does not render in time: on a busy machine an asset load can be aborted
 * (chromium drops requests in flight when network interfaces change, e.g. while another test
 * creates network namespaces), and Gradio's page stays blank then.
 */
async function openTab(name: string, ready: (frame: FrameLocator) => Locator): Promise<FrameLocator> {
  await page.getByRole('tab', { name }).click();
  const frame = page.frameLocator(`iframe[data-frame="root.${name}"]`);
  for (let attempt = 1; ; attempt++) {
    try {
      await ready(frame).first().waitFor({ timeout: 60_000 });
      return frame;
    } catch (err) {
      if (attempt === 3) throw err;
      await page.getByRole('button', { name: 'Reload' }).click();
    }
  }
}

interface Answer {
  status: number;
  run: string | null;
  error?: string;
}

/** One prediction of an all-zero image: only who answers matters here. */
async function predict(url: string): Promise<Answer> {
  try {
    const res = await fetch(`${url}/predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: [new Array(64).fill(0)] }),
      signal: AbortSignal.timeout(15_000),
    });
    const body = (await res.json()) as { model?: { run?: string }; error?: string };
    return { status: res.status, run: body.model?.run ?? null, ...(body.error ? { error: body.error } : {}) };
  } catch (err) {
    return { status: 0, run: null, error: String(err) };
  }
}

describe('the flagship loop in a browser', () => {
  it('retrains from the Streamlit tab; the Gradio tab then predicts with the new model; the endpoint never fails', {
    timeout: 900_000,
  }, async () => {
    const [login] = await waitForOutput(/http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]+/, 60_000);
    const endpoint = (
      await waitForOutput(/flagship: model endpoint (http:\/\/127\.0\.0\.1:\d+)/, 120_000)
    )[1]!;
    // The app says when a person can use it, and keeps serving.
    await waitForOutput(/flagship: ready: /, 420_000);
    expect(child.exitCode).toBeNull();
    expect(await predict(endpoint)).toEqual({ status: 200, run: 'version_0' });

    await page.goto(login);
    await page.getByRole('status').filter({ hasText: 'live' }).waitFor({ timeout: 30_000 });

    // Streamlit tab: the live model, then new parameters and Retrain.
    const streamlit = await openTab('ui', (f) => f.getByText('version_0'));
    await streamlit.getByLabel('Epochs').fill('1');
    await streamlit.getByLabel('Learning rate').fill('0.0050');
    await streamlit.getByLabel('Hidden units').fill('16');
    await streamlit.getByLabel('Hidden units').press('Tab');

    const answers: Answer[] = [];
    let polling = true;
    const poller = (async () => {
      while (polling) {
        answers.push(await predict(endpoint));
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    await streamlit.getByRole('button', { name: 'Retrain' }).click();
    await streamlit.getByText('Retrain requested: epochs=1 lr=0.005 hidden=16').waitFor({ timeout: 30_000 });
    if (SCREENSHOT) await page.screenshot({ path: SCREENSHOT.replace(/\.png$/, '-streamlit.png') });
    await waitForOutput(
      /flagship: retrain requested from the Streamlit page: epochs=1 lr=0\.005 hidden=16/,
      30_000,
    );
    await waitForOutput(/flagship: the endpoint now sends requests to root\.serve_green/, 420_000);
    // The old server is stopped only after the switch: keep polling until it is gone.
    await waitForOutput(/root\.serve_blue +│ .*running → stopped/, 60_000);
    const after = answers.length;
    while (answers.length < after + 10) await new Promise((r) => setTimeout(r, 100));
    polling = false;
    await poller;

    const failed = answers.filter((a) => a.status !== 200);
    expect(failed, JSON.stringify(failed.slice(0, 5))).toEqual([]);
    const runs = answers.map((a) => a.run);
    expect(runs[0]).toBe('version_0');
    expect(runs.at(-1)).toBe('version_1');
    expect(runs.lastIndexOf('version_0')).toBeLessThan(runs.indexOf('version_1'));

    // Gradio tab: a digit from the dataset, answered by the retrained model.
    const gradio = await openTab('gradio', (f) => f.locator('#digit-index input'));
    await gradio.locator('#digit-index input').fill('7');
    await gradio.locator('#digit-index input').press('Tab');
    await gradio.getByRole('button', { name: 'Predict this digit' }).click();
    const card = gradio.locator('#model-card');
    await card.getByText('version_1').waitFor({ timeout: 60_000 });
    await expect(card.textContent()).resolves.toMatch(/Prediction: \d \(true label 7\)/);
    await expect(card.textContent()).resolves.toContain('epochs=1 lr=0.005 hidden=16');
    if (SCREENSHOT) await page.screenshot({ path: SCREENSHOT.replace(/\.png$/, '-gradio.png') });
    expect(child.exitCode).toBeNull();
  });
});
