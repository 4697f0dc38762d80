/**
 * The flagship outside demo mode is interactive: with `demo=false` it keeps serving, and a
 * new `epochs` value in the flow's state (as a state PATCH from the UI would set it) trains
 * again and restarts the model server on the new model. The real app file, real daemons and
 * Python processes, started in-process through the runtime so the test can change state.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type LocalApp, startLocalApp } from '../../daemon/flow/local-app.ts';

const REPO = resolve(import.meta.dirname, '../..');
const APP = join(REPO, 'examples/flagship/app.ts');

beforeAll(() => {
  if (!process.env.LIGHTNING_PYTHON && !existsSync(join(REPO, 'examples/flagship/.venv/bin/python'))) {
    throw new Error('examples/flagship/.venv does not exist: run `bash scripts/setup-flagship.sh` first');
  }
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
