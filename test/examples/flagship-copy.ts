/**
 * A private copy of examples/flagship for one test file: its own directory, so its
 * `.lightning/` (works, Drive, journal, logs) is shared with no other test running at the same
 * time. The copy uses the example's Python venv and imports `lightning-local` from this
 * checkout, as an app in a user's project would after `npm install`.
 */
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const REPO = resolve(import.meta.dirname, '../..');
export const EXAMPLE = join(REPO, 'examples/flagship');
export const CLI = join(REPO, 'cli/bin.js');
/** The Python the copies use: $LIGHTNING_PYTHON, else the example's venv. */
export const FLAGSHIP_PYTHON = process.env.LIGHTNING_PYTHON ?? join(EXAMPLE, '.venv/bin/python');

/** Fails with how to fix it when the flagship's Python environment is missing. */
export function requireFlagshipPython(): void {
  if (!existsSync(FLAGSHIP_PYTHON)) {
    throw new Error(
      `${FLAGSHIP_PYTHON} does not exist: run \`bash scripts/setup-flagship.sh\` first (or set LIGHTNING_PYTHON)`,
    );
  }
}

export interface FlagshipCopy {
  readonly dir: string;
  readonly appFile: string;
  remove(): Promise<void>;
}

export async function copyFlagship(): Promise<FlagshipCopy> {
  const dir = await mkdtemp(join(tmpdir(), 'flagship-app-'));
  await writeFile(join(dir, 'package.json'), '{ "type": "module", "private": true }\n');
  for (const name of await readdir(EXAMPLE)) {
    if (/\.(ts|py)$/.test(name)) await copyFile(join(EXAMPLE, name), join(dir, name));
  }
  // The app finds its Python beside itself (.venv), in the flow process and in every daemon,
  // unless LIGHTNING_PYTHON names one.
  if (!process.env.LIGHTNING_PYTHON) await symlink(join(EXAMPLE, '.venv'), join(dir, '.venv'), 'dir');
  await mkdir(join(dir, 'node_modules'));
  await symlink(REPO, join(dir, 'node_modules/lightning-local'), 'dir');
  return {
    dir,
    appFile: join(dir, 'app.ts'),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

/** Environment for a copy: the example's Python, no colours. */
export function flagshipEnv(): NodeJS.ProcessEnv {
  return { ...process.env, LIGHTNING_PYTHON: FLAGSHIP_PYTHON, NO_COLOR: '1', FORCE_COLOR: '0' };
}
