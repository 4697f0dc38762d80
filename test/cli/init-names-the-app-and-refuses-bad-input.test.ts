/**
 * `lightning-local init` run from the checkout (no npm install: the tarball test covers the
 * installed path): the app name from the directory, the dependency on this checkout, and
 * exit 2 with a fix for a bad name or a directory that already holds files.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { CLI, REPO } from '../support/app-fixture.ts';

const exec = promisify(execFile);

async function init(args: string[], cwd: string): Promise<{ code: number; out: string }> {
  try {
    const r = await exec(process.execPath, [CLI, 'init', ...args], { cwd, timeout: 60_000 });
    return { code: 0, out: r.stdout + r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, out: e.stdout + e.stderr };
  }
}

describe('lightning-local init', () => {
  it('names the app after the directory and depends on the checkout it ran from', async () => {
    const base = await mkdtemp(join(tmpdir(), 'lightning-init-'));
    const r = await init(['My_Project 2'], base);
    expect(r.code, r.out).toBe(0);
    const pkg = JSON.parse(await readFile(join(base, 'My_Project 2', 'package.json'), 'utf8'));
    expect(pkg.name).toBe('my-project-2');
    const spec: string = pkg.dependencies['lightning-local'];
    expect(spec).toMatch(/^file:/);
    expect(resolve(base, 'My_Project 2', spec.slice('file:'.length))).toBe(REPO);
    expect(await readFile(join(base, 'My_Project 2', 'app.ts'), 'utf8')).toContain("name: 'my-project-2'");
    expect(await readFile(join(base, 'My_Project 2', '.gitignore'), 'utf8')).toContain('.lightning/');
  });

  it('accepts an empty directory or a fresh clone (only .git) in place', async () => {
    const base = await mkdtemp(join(tmpdir(), 'lightning-init-'));
    await mkdir(join(base, 'clone', '.git'), { recursive: true });
    const r = await init(['--name', 'cloned'], join(base, 'clone'));
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/created cloned in \./);
  });

  it('refuses a directory with files and an invalid --name, exit 2 with the fix', async () => {
    const base = await mkdtemp(join(tmpdir(), 'lightning-init-'));
    await mkdir(join(base, 'mine'));
    await writeFile(join(base, 'mine', 'train.py'), 'print(1)\n');
    const busy = await init(['mine'], base);
    expect(busy.code).toBe(2);
    expect(busy.out).toMatch(
      /mine: the directory is not empty \(train\.py\)[\s\S]*fix: pick a new directory/,
    );
    expect(await readFile(join(base, 'mine', 'train.py'), 'utf8')).toBe('print(1)\n');

    const bad = await init(['fresh', '--name', 'Bad_Name'], base);
    expect(bad.code).toBe(2);
    expect(bad.out).toMatch(/--name: "Bad_Name" is not a valid app name[\s\S]*lowercase/);
  });
});
