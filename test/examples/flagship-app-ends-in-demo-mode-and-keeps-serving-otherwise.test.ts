/**
 * The flagship app, run for real (CLI process or in-process runtime, real daemons, real
 * Python): in demo mode (the README's first command) it trains, starts TensorBoard, the model
 * server and the UI, scores demo predictions and ends on its own with exit 0, leaving no
 * server behind. With demo=false it keeps serving, and a new `epochs` value in the flow's
 * state (as a state PATCH from the UI would set it) trains again and restarts the server on
 * the new model. One file, so the runs never share examples/flagship/.lightning/ at once.
 * Needs the venv from scripts/setup-flagship.sh.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type LocalApp, startLocalApp } from '../../daemon/flow/local-app.ts';

const REPO = resolve(import.meta.dirname, '../..');
const EXAMPLE = join(REPO, 'examples/flagship');
const APP = join(EXAMPLE, 'app.ts');

beforeAll(() => {
  if (!process.env.LIGHTNING_PYTHON && !existsSync(join(EXAMPLE, '.venv/bin/python'))) {
    throw new Error('examples/flagship/.venv does not exist: run `bash scripts/setup-flagship.sh` first');
  }
});

function runApp(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [join(REPO, 'cli/bin.js'), 'run', APP, ...args], {
      cwd: REPO,
      env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (b: Buffer) => {
      output += b;
    });
    child.stderr.on('data', (b: Buffer) => {
      output += b;
    });
    child.on('error', fail);
    child.on('close', (code) => done({ code, output }));
  });
}

describe('flagship app in demo mode', () => {
  it('trains, serves the model, answers demo predictions and exits 0 without leftovers', {
    timeout: 300_000,
  }, async () => {
    const { code, output } = await runApp(['--set', 'epochs=15']);
    expect(code, output).toBe(0);

    // The Flow reacted to train.py's live state.
    expect(output).toMatch(/flagship: new best val_acc 0\.\d{4} at epoch \d+\/15/);
    // Every server answered on its port.
    const urls: Record<string, string> = {};
    for (const m of output.matchAll(/flagship: root\.(tensorboard|serve|ui) (http:\/\/127\.0\.0\.1:\d+)/g)) {
      urls[m[1]!] = m[2]!;
    }
    expect(Object.keys(urls).sort()).toEqual(['serve', 'tensorboard', 'ui']);
    // Paths moved from train to the consumers.
    expect(output).toContain('fetching works/root.train/model.pt2 (from root.train)');
    expect(output).toContain('fetching works/root.train/lightning_logs/ (from root.train)');
    // The demo scored the served model and the flow ended the app with it.
    const demo =
      /demo finished: best val_acc (0\.\d+|1\.0+) \(epoch \d+\); demo predictions (\d)\/9 correct/.exec(
        output,
      );
    expect(demo, output).not.toBeNull();
    expect(Number(demo![2])).toBeGreaterThanOrEqual(8);
    expect(existsSync(join(EXAMPLE, '.lightning/drive/default/works/root.train/model.pt2'))).toBe(true);

    // Stopping the app stopped its servers.
    for (const url of Object.values(urls)) {
      await expect(fetch(url, { signal: AbortSignal.timeout(5000) })).rejects.toThrow();
    }
  });
});

let local: LocalApp | undefined;
afterEach(async () => {
  await local?.stop(0, 'test over');
  local = undefined;
});

/** Waits for `cond`, re-checked on every state change of the loop (no fixed sleeps). */
function until(app: LocalApp, cond: () => boolean, what: string, timeoutMs = 240_000): Promise<void> {
  return new Promise((done, fail) => {
    const timer = setTimeout(() => {
      clearInterval(check);
      fail(new Error(`timed out waiting for ${what}: ${JSON.stringify(app.loop.snapshot()).slice(0, 2000)}`));
    }, timeoutMs);
    const check = setInterval(() => {
      if (!cond()) return;
      clearTimeout(timer);
      clearInterval(check);
      done();
    }, 100);
    app.loop.done.then((end) => {
      clearTimeout(timer);
      clearInterval(check);
      if (!cond()) fail(new Error(`the app ended (${end.exitCode}: ${end.message}) before ${what}`));
    });
  });
}

async function predictOne(url: string): Promise<number> {
  const res = await fetch(`${url}/predict`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ inputs: [[0.1, 0.5]] }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { predictions: number[] }).predictions[0]!;
}

describe('flagship app with demo=false', () => {
  it('keeps serving, and a new epochs value retrains and restarts the server', {
    timeout: 300_000,
  }, async () => {
    // serve.py's own "serving … on URL" lines, in order: the test follows the script's word
    // for which server is current.
    const served: string[] = [];
    const app = await startLocalApp({
      appFile: APP,
      set: { demo: false, epochs: 3 },
      onDaemonOutput: () => {},
      observer: {
        onLog: (work, _stream, lines) => {
          if (work !== 'root.serve') return;
          for (const line of lines) {
            const m = /^serving model\.pt2 on (http:\/\/127\.0\.0\.1:\d+)/.exec(line);
            if (m) served.push(m[1]!);
          }
        },
      },
    });
    local = app;
    const status = (w: string) => app.loop.statusOf(`root.${w}`)!;
    const serving = () => ['serve', 'tensorboard', 'ui'].every((w) => status(w).url !== null);
    await until(app, serving, 'the three servers');
    expect(status('demo').phase).toBe('not_started');
    const firstTrain = status('train').callHash;
    const firstServe = status('serve');
    expect(await predictOne(firstServe.url!)).toBeGreaterThanOrEqual(0);

    app.loop.post(() => {
      (app.loop.app.root.state as { epochs: number }).epochs = 4;
    });
    await until(
      app,
      () => status('train').callHash !== firstTrain && status('train').phase === 'succeeded',
      'the second training',
    );
    expect(served).toHaveLength(1);
    await until(
      app,
      () => status('serve').callHash !== firstServe.callHash && served.length === 2,
      'the server to restart on the new model',
    );
    await until(app, () => status('serve').url === served[1], 'the restarted server to answer');
    const trainVars = app.loop.snapshot()['root.train']?.vars as { max_epochs?: number } | undefined;
    expect(trainVars?.max_epochs).toBe(4);
    expect(await predictOne(served[1]!)).toBeGreaterThanOrEqual(0);
    // Still serving: nothing ended the app.
    expect(app.loop.hasEnded).toBe(false);
  });
});
