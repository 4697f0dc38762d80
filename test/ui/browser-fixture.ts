/**
 * Runs an app with `lightning-local run --ui-port 0` and opens a fresh headless Chromium
 * (Debian's, through playwright-core: no browser download) for the UI tests.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { type AppFiles, CLI, writeApp } from '../support/app-fixture.ts';

const CHROMIUM = '/usr/bin/chromium';

export interface BrowserRun {
  readonly child: ChildProcess;
  readonly page: Page;
  /** Everything the CLI printed so far (stdout and stderr). */
  output(): string;
  waitForOutput(pattern: RegExp, ms: number): Promise<RegExpExecArray>;
  /** Ctrl-C the app (waits for it to exit), close the browser, remove the profile. */
  close(): Promise<void>;
}

/**
 * Debian's Chromium, headless, with a fresh profile (launchPersistentContext is how playwright
 * takes --user-data-dir) and none of the background traffic this closed network refuses.
 * The caller closes the context and removes `profile`.
 */
export async function launchChromium(
  profilePrefix: string,
  viewport: { width: number; height: number } = { width: 1280, height: 900 },
): Promise<{ browser: BrowserContext; profile: string }> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} is missing: install it with \`apt-get install -y chromium\` (scripts/setup.sh does)`,
    );
  }
  const profile = await mkdtemp(join(tmpdir(), profilePrefix));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    viewport,
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
  return { browser, profile };
}

export async function runAppInBrowser(
  files: AppFiles,
  viewport = { width: 1280, height: 900 },
): Promise<BrowserRun> {
  const dir = await writeApp(files);
  const child = spawn(process.execPath, [CLI, 'run', join(dir, 'app.ts'), '--ui-port', '0'], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1' },
  });
  let output = '';
  child.stdout!.setEncoding('utf8');
  child.stderr!.setEncoding('utf8');
  child.stdout!.on('data', (d: string) => {
    output += d;
  });
  child.stderr!.on('data', (d: string) => {
    output += d;
  });
  const { browser, profile } = await launchChromium('lightning-ui-chromium-', viewport);
  const page = browser.pages()[0] ?? (await browser.newPage());
  const waitForOutput = (pattern: RegExp, ms: number) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
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
  return {
    child,
    page,
    output: () => output,
    waitForOutput,
    async close() {
      await browser.close();
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGINT');
        await exited;
      }
      await rm(profile, { recursive: true, force: true });
    },
  };
}
