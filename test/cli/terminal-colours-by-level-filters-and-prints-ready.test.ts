/**
 * `lightning-local run`'s terminal: lines coloured by their log level (not red for every
 * stderr line), --quiet / --only / --timestamps, the "ready" line once every server work
 * answers, and one log directory per run.
 */
import { execFile } from 'node:child_process';
import { readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify, stripVTControlCharacters } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { LogLevelReader } from '../../cli/log-level.ts';
import { CLI, writeApp } from '../support/app-fixture.ts';

const exec = promisify(execFile);
const RED = '\x1b[31m';
const YELLOW = '\x1b[33m';

async function cli(args: string[], color: boolean): Promise<{ code: number; out: string }> {
  const { NO_COLOR: _n, FORCE_COLOR: _f, ...rest } = process.env;
  const env = color ? { ...rest, FORCE_COLOR: '1' } : { ...rest, NO_COLOR: '1' };
  try {
    const r = await exec(process.execPath, [CLI, ...args], { env, timeout: 60_000 });
    return { code: 0, out: r.stdout + r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, out: e.stdout + e.stderr };
  }
}

const lineWith = (out: string, text: string): string => out.split('\n').find((l) => l.includes(text)) ?? '';

let dir: string;
beforeAll(async () => {
  dir = await writeApp({
    'noisy.py': `import sys, traceback
print("Seed set to 7", file=sys.stderr, flush=True)
print("WARNING: low memory", file=sys.stderr, flush=True)
try:
    raise ValueError("bad value")
except ValueError:
    traceback.print_exc()
sys.stderr.flush()
print("ERROR something failed", flush=True)
print("epoch 1 loss 0.5", flush=True)
`,
    'serve.py': `import http.server, os
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), http.server.SimpleHTTPRequestHandler).serve_forever()
`,
    'app.ts': `import { Flow, LightningApp, ScriptWork } from '@api';
      class Root extends Flow {
        readonly server = new ScriptWork(this, 'server', { script: 'serve.py', port: 'auto', parallel: true });
        readonly noisy = new ScriptWork(this, 'noisy', { script: 'noisy.py' });
        override run() {
          this.server.run({});
          this.noisy.run({});
          if (this.server.status.url) this.stopApp('done');
        }
      }
      const app = new LightningApp({ name: 'noisy' });
      new Root(app, 'root');
      export default app;`,
  });
});

describe('terminal output of lightning-local run', () => {
  it('colours lines by level: ordinary stderr stays plain, warnings yellow, errors and tracebacks red; then "ready"', async () => {
    const r = await cli(['run', join(dir, 'app.ts'), '--ui-port', '0'], true);
    expect(r.code, r.out).toBe(0);
    expect(lineWith(r.out, 'Seed set to 7')).not.toContain(RED);
    expect(lineWith(r.out, 'epoch 1 loss')).not.toContain(RED);
    expect(lineWith(r.out, 'WARNING: low memory')).toContain(`${YELLOW}WARNING: low memory`);
    for (const text of [
      'Traceback (most recent call last):',
      'File "',
      'ValueError: bad value',
      'ERROR something',
    ]) {
      expect(lineWith(r.out, text), text).toContain(RED);
    }
    const plain = stripVTControlCharacters(r.out);
    expect(plain).toMatch(/^ready: UI http:\/\/127\.0\.0\.1:\d+\/\?token=\S+$/m);
    // Printed once the server answers: after its url, before the end.
    const urlAt = plain.search(/root\.server .*running.*http:\/\/127\.0\.0\.1:\d+/);
    expect(urlAt).toBeGreaterThan(-1);
    expect(plain.indexOf('ready: UI')).toBeGreaterThan(urlAt);
    expect(plain.indexOf('ready: UI')).toBeLessThan(plain.indexOf('app ended'));
  });

  it('--quiet --only --timestamps: warnings and errors of one work, each line timed; the log file keeps all', async () => {
    const r = await cli(
      ['run', join(dir, 'app.ts'), '--no-ui', '--quiet', '--only', 'root.noisy', '--timestamps'],
      false,
    );
    expect(r.code, r.out).toBe(0);
    expect(r.out).not.toContain('Seed set to 7');
    expect(r.out).not.toContain('epoch 1 loss');
    expect(r.out).toContain('WARNING: low memory');
    expect(r.out).toContain('ValueError: bad value');
    expect(r.out).not.toMatch(/root\.server +│/);
    expect(lineWith(r.out, 'WARNING: low memory')).toMatch(/^\d\d:\d\d:\d\d\.\d{3} root\.noisy +│ /);
    // Without a UI the ready line lists the servers; the runner's own lines are timed too.
    expect(r.out).toMatch(/^\d\d:\d\d:\d\d\.\d{3} ready: root\.server http:\/\/127\.0\.0\.1:\d+$/m);
    expect(r.out).toMatch(/^\d\d:\d\d:\d\d\.\d{3} lightning app ended after/m);

    // One directory per run, `latest` is this one, and it holds every line of this run only.
    const logs = join(dir, '.lightning', 'logs');
    const runs = (await readdir(logs)).filter((d) => d !== 'latest').sort();
    expect(runs).toHaveLength(2);
    expect(await readlink(join(logs, 'latest'))).toBe(runs[1]);
    const text = await readFile(join(logs, 'latest', 'root.noisy.log'), 'utf8');
    expect(text.match(/Seed set to 7/g)).toHaveLength(1);
    expect(text).toContain('epoch 1 loss');
    expect(await readFile(join(logs, runs[0]!, 'root.noisy.log'), 'utf8')).toContain('Seed set to 7');
  });
});

describe('log levels read from the line', () => {
  it.each([
    ['Seed set to 7', 'info'],
    ['GPU available: False, used: False', 'info'],
    ['TensorBoard 2.20.0 at http://localhost:6006/ (Press CTRL+C to quit)', 'info'],
    ['Epoch 3: 100%|██████████| 20/20 [00:01<00:00, 15.2it/s, v_num=0, val_error=0.12]', 'info'],
    ['Error rate 0.1 after 3 epochs', 'info'],
    ['ERROR:root:could not open file', 'error'],
    ['2026-11-27 12:00:00,000 - train - ERROR - out of memory', 'error'],
    ['[ERROR] cannot bind', 'error'],
    ['RuntimeError: CUDA out of memory', 'error'],
    ['error: unrecognized arguments: --epoch', 'error'],
    ['E1127 12:00:00.000000 1 main.cc:1] failed', 'error'],
    ['WARNING: low memory', 'warning'],
    ['/x/train.py:3: UserWarning: The dataloader does not have many workers', 'warning'],
    ['time="…" level=warning msg="slow"', 'warning'],
  ])('%s → %s', (line, level) => {
    expect(new LogLevelReader().levelOf(line)).toBe(level);
  });

  it('a Python traceback is an error from its first line to the exception', () => {
    const r = new LogLevelReader();
    const lines = [
      'Traceback (most recent call last):',
      '  File "train.py", line 3, in <module>',
      '    main()',
      'KeyError: 1',
      'retrying in 5 s',
    ];
    expect(lines.map((l) => r.levelOf(l))).toEqual(['error', 'error', 'error', 'error', 'info']);
  });
});
