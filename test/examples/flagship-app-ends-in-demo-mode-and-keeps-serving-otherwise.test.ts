/**
 * The flagship app, run for real (CLI process or in-process runtime, real daemons, real
 * Python) on private copies of the example. In demo mode (what CI runs) it trains, serves,
 * scores held-out digits and ends on its own with exit 0, leaving no server behind. By
 * default it keeps serving, and new training parameters in the flow's state (as the
 * Streamlit page's Retrain or a state PATCH sets them) train again and swap the model behind
 * the stable endpoint: no request to the endpoint fails meanwhile, and the flow's best
 * validation accuracy is the new run's. Needs the venv from scripts/setup-flagship.sh.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type LocalApp, startLocalApp } from '../../daemon/flow/local-app.ts';
import { CLI, copyFlagship, type FlagshipCopy, flagshipEnv, requireFlagshipPython } from './flagship-copy.ts';

const copies: FlagshipCopy[] = [];
beforeAll(requireFlagshipPython);
afterAll(async () => {
  for (const copy of copies) await copy.remove();
});

function runCli(appFile: string, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [CLI, 'run', appFile, '--no-ui', ...args], {
      env: flagshipEnv(),
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
  it('trains on the digits, serves the model, scores held-out digits and exits 0 without leftovers', {
    timeout: 600_000,
  }, async () => {
    const copy = await copyFlagship();
    copies.push(copy);
    const { code, output } = await runCli(copy.appFile, ['--set', 'demo=true', '--set', 'epochs=2']);
    expect(code, output).toBe(0);

    // The Flow reacted to train.py's live state.
    expect(output).toMatch(/flagship: new best val_acc 0\.\d{4} at epoch \d\/2/);
    const urls: Record<string, string> = {};
    for (const m of output.matchAll(/flagship: root\.(tensorboard|ui|gradio) (http:\/\/127\.0\.0\.1:\d+)/g)) {
      urls[m[1]!] = m[2]!;
    }
    expect(Object.keys(urls).sort()).toEqual(['gradio', 'tensorboard', 'ui']);
    const endpoint = /flagship: model endpoint (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
    expect(endpoint, output).not.toBeNull();
    urls.endpoint = endpoint![1]!;
    expect(output).toContain('flagship: the endpoint now sends requests to root.serve_blue');
    // Paths moved from train to the consumers.
    expect(output).toContain('fetching works/root.train/model.pt2 (from root.train)');
    expect(output).toContain('fetching works/root.train/lightning_logs/ (from root.train)');
    expect(output).toContain('fetching works/root.train/samples.json (from root.train)');
    const demo =
      /demo finished: best val_acc (0\.\d+|1\.0+) \(epoch \d\); demo predictions (\d+)\/20 correct .*\(model version_0\)/.exec(
        output,
      );
    expect(demo, output).not.toBeNull();
    expect(Number(demo![2])).toBeGreaterThanOrEqual(16);

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

/** Waits for `cond`, checked on every state change of the loop (no fixed sleeps). */
function until(app: LocalApp, cond: () => boolean, what: string, timeoutMs = 420_000): Promise<void> {
  return new Promise((done, fail) => {
    const timer = setTimeout(() => {
      clearInterval(check);
      fail(new Error(`timed out waiting for ${what}: ${JSON.stringify(app.loop.snapshot()).slice(0, 3000)}`));
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

interface Answer {
  status: number;
  run: string | null;
  error?: string;
}

async function predict(url: string, inputs: number[][]): Promise<Answer> {
  try {
    const res = await fetch(`${url}/predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ inputs }),
      signal: AbortSignal.timeout(15_000),
    });
    const body = (await res.json()) as { model?: { run?: string }; error?: string };
    return { status: res.status, run: body.model?.run ?? null, ...(body.error ? { error: body.error } : {}) };
  } catch (err) {
    return { status: 0, run: null, error: String(err) };
  }
}

interface RootState {
  epochs: number;
  lr: number;
  hidden: number;
  bestValAcc: number | null;
  live: 'blue' | 'green' | null;
}

describe('flagship app by default', () => {
  it('keeps serving; new parameters retrain and swap the model behind the stable endpoint with no failed request', {
    timeout: 900_000,
  }, async () => {
    const copy = await copyFlagship();
    copies.push(copy);
    const app = await startLocalApp({
      appFile: copy.appFile,
      set: { epochs: 2 },
      onDaemonOutput: () => {},
    });
    local = app;
    const root = () => app.loop.app.root.state as unknown as RootState;
    const vars = (work: string) => (app.loop.snapshot()[work]?.vars ?? {}) as Record<string, unknown>;
    const status = (w: string) => app.loop.statusOf(`root.${w}`)!;
    const serving = () =>
      root().live !== null && ['tensorboard', 'ui', 'gradio'].every((w) => status(w).url !== null);
    await until(app, serving, 'the first model and the servers');
    expect(status('demo').phase).toBe('not_started');
    expect(root().live).toBe('blue');
    const endpoint = vars('root.endpoint').url as string;
    expect(endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const samples = JSON.parse(
      await readFile(join(copy.dir, '.lightning/works/root.train/samples.json'), 'utf8'),
    ) as { inputs: number[][] };
    const first = await predict(endpoint, samples.inputs.slice(0, 1));
    expect(first).toEqual({ status: 200, run: 'version_0' });
    const firstBest = root().bestValAcc!;
    expect(firstBest).toBeGreaterThan(0.5);
    const blueUrl = status('serve_blue').url;

    // Poll the stable URL for the whole retrain, one request at a time, 20 a second at most.
    const answers: Answer[] = [];
    let polling = true;
    const poller = (async () => {
      while (polling) {
        answers.push(await predict(endpoint, samples.inputs.slice(0, 1)));
        await new Promise((r) => setTimeout(r, 50));
      }
    })();

    // A much weaker setting (1 epoch, tiny network, low learning rate): a lower best val_acc.
    app.loop.post(() => {
      Object.assign(app.loop.app.root.state as unknown as RootState, { epochs: 1, lr: 0.0005, hidden: 8 });
    });
    await until(app, () => root().live === 'green', 'the endpoint to switch to the green server');
    await until(app, () => status('serve_blue').phase === 'stopped', 'the blue server to stop');
    // Keep polling a moment after the switch, so requests that met the old server stopping count.
    const switchedAt = answers.length;
    await until(app, () => answers.length >= switchedAt + 20, 'requests after the switch');
    polling = false;
    await poller;

    const failed = answers.filter((a) => a.status !== 200);
    expect(failed, JSON.stringify(failed.slice(0, 5))).toEqual([]);
    const runs = answers.map((a) => a.run);
    // The old model answered until the new one took over, and never again after.
    expect(runs[0]).toBe('version_0');
    expect(runs.at(-1)).toBe('version_1');
    expect(runs.lastIndexOf('version_0')).toBeLessThan(runs.indexOf('version_1'));
    expect(runs.indexOf('version_1')).toBeGreaterThan(0);
    await expect(fetch(blueUrl!, { signal: AbortSignal.timeout(5000) })).rejects.toThrow();

    // The flow's best validation accuracy is the new run's, not the old run's higher one.
    const trainVars = vars('root.train') as { best_val_acc: number; max_epochs: number };
    expect(trainVars.max_epochs).toBe(1);
    expect(root().bestValAcc).toBe(trainVars.best_val_acc);
    expect(root().bestValAcc!).toBeLessThan(firstBest);
    expect(app.loop.hasEnded).toBe(false);
    expect(existsSync(join(copy.dir, '.lightning/works/root.train/lightning_logs/version_1'))).toBe(true);
  });
});
