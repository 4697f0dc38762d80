/**
 * `lightning-local drive ls|cp|rm` in real processes, against the app's local Drive and a
 * bucket on the real emulator: files and directories in and out, Drive to Drive, progress
 * on stderr, and clear errors.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDrive } from '../../daemon/drive/open-drive.ts';
import { type GcsEmulator, startGcsEmulator } from '../support/gcs-emulator.ts';

const TSX = new URL('../../node_modules/.bin/tsx', import.meta.url).pathname;
const CLI = new URL('./fixtures/drive-cli.ts', import.meta.url).pathname;

let emu: GcsEmulator;
let app: string;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      TSX,
      [CLI, 'drive', ...args],
      { cwd: app, env: { ...process.env, STORAGE_EMULATOR_HOST: emu.endpoint } },
      (err, stdout, stderr) => {
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

beforeAll(async () => {
  emu = await startGcsEmulator();
  app = await mkdtemp(join(tmpdir(), 'drive-cli-'));
  await mkdir(join(app, '.lightning', 'drive', 'default'), { recursive: true });
});
afterAll(async () => {
  await emu.stop();
  await rm(app, { recursive: true, force: true });
});

// Each call is a fresh tsx process: generous per-test time on a loaded 2-core machine.
describe('lightning-local drive', { timeout: 240_000 }, () => {
  it('cp a file and a directory into the local Drive, ls them, cp back out', async () => {
    const big = randomBytes(12 * 1024 * 1024);
    await writeFile(join(app, 'model.pt'), big);
    await mkdir(join(app, 'logs', 'v0'), { recursive: true });
    await writeFile(join(app, 'logs', 'v0', 'events'), 'ev');
    await writeFile(join(app, 'logs', 'top'), 'top');

    const up = await cli('cp', 'model.pt', 'drive:works/root.train/');
    expect(up.code).toBe(0);
    expect(up.stderr).toMatch(/copied 1 file, 12\.0 MiB/);
    expect(up.stderr).toMatch(/works\/root\.train\/model\.pt .*iB\/s/); // progress line: bytes, rate, ETA/time
    expect((await cli('cp', 'logs', 'drive:works/root.train/logs')).code).toBe(0);

    const ls = await cli('ls', 'works/root.train/');
    expect(ls.stdout.trim().split('\n')).toEqual([
      'works/root.train/logs/top',
      'works/root.train/logs/v0/events',
      'works/root.train/model.pt',
    ]);
    expect(ls.stderr).toContain('3 objects');
    const long = await cli('ls', '-l', 'drive:works/root.train/model.pt');
    expect(long.stdout).toMatch(/12\.0 MiB .* works\/root\.train\/model\.pt/);

    expect((await cli('cp', 'drive:works/root.train/model.pt', 'out/')).code).toBe(0);
    expect((await readFile(join(app, 'out', 'model.pt'))).equals(big)).toBe(true);
    expect((await cli('cp', 'drive:works/root.train/logs', 'out/logs')).code).toBe(0);
    expect(await readFile(join(app, 'out', 'logs', 'v0', 'events'), 'utf8')).toBe('ev');
  });

  it('cp between the local Drive and a bucket, ls and rm in the bucket', async () => {
    await openDrive('gs://cli-bucket', { apiEndpoint: emu.endpoint, create: true });
    await writeFile(join(app, 'a.txt'), 'A');
    expect((await cli('cp', 'a.txt', 'drive:x/a.txt')).code).toBe(0);
    const cp = await cli('cp', 'drive:x/', 'gs://cli-bucket/copy/');
    expect(cp.code).toBe(0);
    expect((await cli('ls', 'gs://cli-bucket/copy/')).stdout.trim()).toBe('copy/a.txt');
    expect((await cli('cp', 'gs://cli-bucket/copy/a.txt', 'back.txt')).code).toBe(0);
    expect(await readFile(join(app, 'back.txt'), 'utf8')).toBe('A');

    const rmOne = await cli('rm', 'gs://cli-bucket/copy/a.txt');
    expect(rmOne.stderr).toContain('deleted 1 object');
    expect((await cli('ls', 'gs://cli-bucket/')).stdout).toBe('');
    await cli('cp', 'a.txt', 'drive:tree/one');
    await cli('cp', 'a.txt', 'drive:tree/two');
    const rmTree = await cli('rm', '-r', 'tree');
    expect(rmTree.stderr).toContain('deleted 2 objects');
    expect((await cli('ls', 'tree/')).stdout).toBe('');
  });

  it('bad keys, missing objects and a missing local Drive are clear errors with exit code 2', async () => {
    const bad = await cli('cp', 'a.txt', 'drive:../escape');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('Invalid Drive key "../escape"');
    const missing = await cli('cp', 'drive:no/such/key', 'x');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('No object "no/such/key"');
    const elsewhere = await new Promise<Run>((resolve) => {
      execFile(TSX, [CLI, 'drive', 'ls'], { cwd: tmpdir() }, (err, stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
    expect(elsewhere.code).toBe(2);
    expect(elsewhere.stderr).toContain('No local Drive at');
    const dirRm = await cli('rm', 'tree/');
    expect(dirRm.stderr).toContain('drive rm -r');
  });
});
