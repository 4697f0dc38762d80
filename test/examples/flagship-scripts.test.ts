/**
 * The flagship's Python scripts work on their own, as a researcher runs them: train.py
 * trains and exports a model (and reports live state when given a state endpoint), serve.py
 * loads that model and answers predictions. Real interpreters, real files, real HTTP; the app
 * around them is tested separately. Needs the venv from scripts/setup-flagship.sh.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const REPO = resolve(import.meta.dirname, '../..');
const EXAMPLE = join(REPO, 'examples/flagship');
const PYTHON = process.env.LIGHTNING_PYTHON ?? join(EXAMPLE, '.venv/bin/python');
const HELPER_DIR = join(REPO, 'daemon/python');
// Importing torch, Lightning and scikit-learn takes seconds on an idle machine and minutes on a
// busy one; the tests wait that long rather than fail for it.
const SLOW = { timeout: 240_000 };
// Small enough to train in seconds, big enough to produce logs, a checkpoint and an export.
const TINY = ['--epochs', '3', '--hidden', '32'];
const DIGITS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a process to completion, collecting its output. */
function run(cmd: string, args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<Exit> {
  return new Promise((done, fail) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? cleanEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => {
      stdout += b;
    });
    child.stderr.on('data', (b: Buffer) => {
      stderr += b;
    });
    child.on('error', fail);
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

/** The environment of a script run by hand: no app variables, no helper on the path. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PYTHONUNBUFFERED: '1', ...extra };
  for (const key of Object.keys(env)) {
    if (key.startsWith('LIGHTNING_') && !(key in extra)) delete env[key];
  }
  if (!('PYTHONPATH' in extra)) delete env.PYTHONPATH;
  return env;
}

const tmpDirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'flagship-'));
  tmpDirs.push(dir);
  return dir;
}

beforeAll(() => {
  if (!existsSync(PYTHON)) {
    throw new Error(
      `${PYTHON} does not exist: run \`bash scripts/setup-flagship.sh\` first (or set LIGHTNING_PYTHON)`,
    );
  }
});

afterAll(async () => {
  for (const dir of tmpDirs) await rm(dir, { recursive: true, force: true });
});

describe('flagship train.py', () => {
  let trainedDir = '';

  it(
    'trains on the bundled digits outside an app (no state endpoint) and writes the model, TensorBoard logs, a checkpoint, metrics and samples',
    SLOW,
    async () => {
      const dir = await tempDir();
      const res = await run(PYTHON, [join(EXAMPLE, 'train.py'), ...TINY], { cwd: dir });
      expect(res.code, res.stderr).toBe(0);
      expect(res.stdout).toMatch(/^epoch 3\/3 step \d+ train_loss \S+ val_loss [\d.]+ val_acc [\d.]+$/m);
      expect(res.stdout).toContain('exported model.pt2');

      const metrics = JSON.parse(await readFile(join(dir, 'metrics.json'), 'utf8'));
      expect(metrics.epochs).toBe(3);
      expect(metrics.classes).toEqual(DIGITS);
      expect(metrics.input_dim).toBe(64);
      expect(metrics.hparams).toEqual({ epochs: 3, lr: 0.01, hidden: 32, batch_size: 64 });
      expect(metrics.run).toBe('version_0');
      // Real data: three epochs of an MLP on the digits are well above chance (10 %).
      expect(metrics.best_val_acc).toBeGreaterThan(0.5);
      expect(metrics.best_val_acc).toBeLessThanOrEqual(1);

      const samples = JSON.parse(await readFile(join(dir, 'samples.json'), 'utf8'));
      expect(samples.inputs).toHaveLength(20);
      expect(samples.labels).toHaveLength(20);
      for (const row of samples.inputs as number[][]) {
        expect(row).toHaveLength(64);
        expect(Math.min(...row)).toBeGreaterThanOrEqual(0);
        expect(Math.max(...row)).toBeLessThanOrEqual(1);
      }

      const version = join(dir, 'lightning_logs/version_0');
      expect((await readdir(version)).some((f) => f.startsWith('events.out.tfevents.'))).toBe(true);
      expect((await readdir(join(version, 'checkpoints'))).some((f) => f.endsWith('.ckpt'))).toBe(true);
      expect(existsSync(join(dir, 'model.pt2'))).toBe(true);
      trainedDir = dir;
    },
  );

  it(
    'saves its training state on SIGTERM (a preemption notice) and resumes from it at the epoch it stopped',
    SLOW,
    async () => {
      const dir = await tempDir();
      const ckpt = join(dir, 'checkpoints/preempted.ckpt');
      const args = [join(EXAMPLE, 'train.py'), '--epochs', '6', '--hidden', '32', '--checkpoint', ckpt];
      const child = spawn(PYTHON, args, { cwd: dir, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stderr.on('data', (b: Buffer) => {
        stderr += b;
      });
      let told = false;
      const code = await new Promise<number | null>((done) => {
        child.stdout.on('data', (b: Buffer) => {
          stdout += b;
          // Mid-run, as a notice comes: after the second epoch's line. Once, as GCE sends it.
          if (!told && /^epoch 2\/6 /m.test(stdout)) {
            told = true;
            child.kill('SIGTERM');
          }
        });
        child.on('close', (c) => done(c));
      });
      expect(code, `${stdout}\n${stderr}`).toBe(143);
      const saved = /SIGTERM: saved a checkpoint at epoch (\d+) step (\d+)/.exec(stdout);
      expect(saved, stdout).not.toBeNull();
      expect(existsSync(ckpt)).toBe(true);
      expect(existsSync(join(dir, 'model.pt2'))).toBe(false);

      const resumed = await run(PYTHON, [...args, '--resume-from', ckpt], { cwd: dir });
      expect(resumed.code, resumed.stderr).toBe(0);
      expect(resumed.stdout).toContain(`resuming from ${ckpt}`);
      // It continues: the epochs before the checkpoint are not trained again.
      expect(resumed.stdout).not.toMatch(/^epoch 1\/6 /m);
      expect(resumed.stdout).toMatch(/^epoch 6\/6 /m);
      const metrics = JSON.parse(await readFile(join(dir, 'metrics.json'), 'utf8'));
      expect(metrics.epochs).toBe(6);
      expect(metrics.best_val_acc).toBeGreaterThan(0.5);
      expect(existsSync(join(dir, 'model.pt2'))).toBe(true);
    },
  );

  it(
    'reports live progress as merge patches to LIGHTNING_STATE_URL with the bearer token',
    SLOW,
    async () => {
      const token = 'test-token-123';
      const patches: Record<string, unknown>[] = [];
      const rejected: string[] = [];
      const server: Server = createServer((req, res) => {
        let body = '';
        req.on('data', (b: Buffer) => {
          body += b;
        });
        req.on('end', () => {
          if (req.headers.authorization !== `Bearer ${token}`) {
            rejected.push(String(req.headers.authorization));
            res.writeHead(401).end();
            return;
          }
          patches.push(JSON.parse(body));
          res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        });
      });
      await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
      try {
        const { port } = server.address() as AddressInfo;
        const dir = await tempDir();
        const env = cleanEnv({
          LIGHTNING_STATE_URL: `http://127.0.0.1:${port}/state`,
          LIGHTNING_STATE_TOKEN: token,
          PYTHONPATH: HELPER_DIR,
        });
        const res = await run(PYTHON, [join(EXAMPLE, 'train.py'), ...TINY], { cwd: dir, env });
        expect(res.code, res.stderr).toBe(0);
        expect(res.stderr).not.toContain('live state reporting failed');
      } finally {
        await new Promise((ok) => server.close(ok));
      }
      expect(rejected).toEqual([]);
      const stages = patches.map((p) => p.stage).filter((s) => s !== undefined);
      expect(stages[0]).toBe('preparing data');
      expect(stages).toContain('training');
      expect(stages.at(-1)).toBe('done');
      const epochEnds = patches.filter((p) => typeof p.val_acc === 'number');
      expect(epochEnds.map((p) => p.epoch)).toEqual([0, 1, 2]);
      for (const p of epochEnds) {
        expect(p.val_acc).toBeGreaterThanOrEqual(0);
        expect(p.val_acc).toBeLessThanOrEqual(1);
        expect(p.best_val_acc).toBeGreaterThanOrEqual(p.val_acc as number);
        expect([0, 1, 2]).toContain(p.best_epoch);
        expect(typeof p.step).toBe('number');
        expect(typeof p.train_loss).toBe('number');
      }
      expect(patches.find((p) => p.stage === 'training')?.max_epochs).toBe(3);
      // A null in a merge patch deletes the key, so the script never sends one.
      expect(patches.flatMap((p) => Object.values(p)).includes(null)).toBe(false);
    },
  );

  it('refuses a learning rate that is not a positive number, before training', SLOW, async () => {
    const res = await run(PYTHON, [join(EXAMPLE, 'train.py'), '--lr', '-1'], { cwd: await tempDir() });
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('--lr must be a positive number, got -1.0');
  });

  it('says how to install its packages when they are missing', async () => {
    // -S hides site-packages, so the import fails as on a machine without the venv.
    const res = await run('python3', ['-S', join(EXAMPLE, 'train.py')], { cwd: await tempDir() });
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain('scripts/setup-flagship.sh');
  });

  describe('serve.py with the trained model', () => {
    let server: ChildProcess | undefined;
    let url = '';
    let output = '';

    beforeAll(async () => {
      expect(trainedDir, 'the training test must have produced a model').not.toBe('');
      server = spawn(
        PYTHON,
        [join(EXAMPLE, 'serve.py'), '--model', join(trainedDir, 'model.pt2'), '--port', '0'],
        {
          cwd: trainedDir,
          env: cleanEnv(),
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      url = await new Promise<string>((ok, fail) => {
        const onData = (b: Buffer) => {
          output += b;
          const m = /serving model\.pt2 on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
          if (m) ok(m[1]!);
        };
        server!.stdout!.on('data', onData);
        server!.stderr!.on('data', onData);
        server!.on('exit', (code) =>
          fail(new Error(`serve.py exited with ${code} before serving:\n${output}`)),
        );
      });
    }, SLOW.timeout);

    afterAll(() => {
      if (server && server.exitCode === null) server.kill('SIGKILL');
    });

    it('classifies held-out digits, returns probabilities and names the model that answered', async () => {
      const samples = JSON.parse(await readFile(join(trainedDir, 'samples.json'), 'utf8')) as {
        inputs: number[][];
        labels: number[];
      };
      const res = await fetch(`${url}/predict`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ inputs: samples.inputs }),
      });
      expect(res.status).toBe(200);
      const body = (await res.json()) as {
        predictions: number[];
        labels: string[];
        probabilities: number[][];
        model: { run: string; hparams: { epochs: number; hidden: number }; best_val_acc: number };
      };
      expect(body.predictions).toHaveLength(20);
      for (const [i, p] of body.predictions.entries()) {
        expect(body.labels[i]).toBe(DIGITS[p]);
        const probs = body.probabilities[i]!;
        expect(probs).toHaveLength(10);
        expect(probs.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
        expect(Math.max(...probs)).toBe(probs[p]);
      }
      const correct = body.predictions.filter((p, i) => p === samples.labels[i]).length;
      expect(correct).toBeGreaterThanOrEqual(10);
      expect(body.model.run).toBe('version_0');
      expect(body.model.hparams).toMatchObject({ epochs: 3, hidden: 32 });
      expect(body.model.best_val_acc).toBeGreaterThan(0.5);
      const info = (await (await fetch(`${url}/`)).json()) as { requests: number; classes: string[] };
      expect(info.requests).toBe(1);
      expect(info.classes).toEqual(DIGITS);
    });

    it('rejects malformed requests with 400 and a message, and keeps serving', async () => {
      const bad = await fetch(`${url}/predict`, { method: 'POST', body: '{"inputs": [[1]]}' });
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as { error: string }).error).toContain(
        'inputs[0] must be a list of 64 finite numbers',
      );
      const notJson = await fetch(`${url}/predict`, { method: 'POST', body: 'nope' });
      expect(notJson.status).toBe(400);
      expect((await fetch(`${url}/health`)).status).toBe(200);
    });

    it('stops cleanly on SIGTERM', async () => {
      const exited = new Promise<number | null>((ok) => server!.on('exit', ok));
      server!.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(output).toContain('serve.py: stopped');
    });
  });
});
