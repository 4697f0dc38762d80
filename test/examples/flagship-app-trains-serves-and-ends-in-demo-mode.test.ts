/**
 * The README's first command: `lightning-local run examples/flagship/app.ts` trains, starts
 * TensorBoard, the model server and the UI, sends demo predictions, and ends on its own with
 * exit 0, leaving no server behind. A real CLI process, real daemons, real Python.
 * Needs the venv from scripts/setup-flagship.sh.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

const REPO = resolve(import.meta.dirname, '../..');
const EXAMPLE = join(REPO, 'examples/flagship');

beforeAll(() => {
  if (!process.env.LIGHTNING_PYTHON && !existsSync(join(EXAMPLE, '.venv/bin/python'))) {
    throw new Error('examples/flagship/.venv does not exist: run `bash scripts/setup-flagship.sh` first');
  }
});

function runApp(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((done, fail) => {
    const child = spawn(
      process.execPath,
      [join(REPO, 'cli/bin.js'), 'run', join(EXAMPLE, 'app.ts'), ...args],
      {
        cwd: REPO,
        env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
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
