/**
 * The path a new user takes: the package packed as npm would publish it (`npm pack`, which
 * builds the .d.ts files), `lightning-local init` into a fresh directory, one real
 * `npm install` of the tarball (deps from the registry), then the project's own `tsc` and
 * `npx lightning-local run app.ts`. One install is shared by every assertion.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, REPO } from '../support/app-fixture.ts';

const exec = promisify(execFile);

/** The environment of a user's shell: no npm_* variables inherited from `npm test`. */
const userEnv: NodeJS.ProcessEnv = {
  ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('npm_'))),
  npm_config_audit: 'false',
  npm_config_fund: 'false',
  npm_config_update_notifier: 'false',
};

interface Result {
  code: number;
  out: string;
}

async function sh(file: string, args: string[], cwd: string, timeout = 120_000): Promise<Result> {
  try {
    const r = await exec(file, args, { cwd, env: userEnv, timeout, maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, out: r.stdout + r.stderr };
  } catch (err) {
    const e = err as { code: number | string; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

let work: string;
let tarball: string;
let project: string;
let tarEntries: string[];
let installOutput: string;

// prepack builds REPO/dist/types and postpack removes it; if the pack is cut short, stale
// declarations there would shadow the sources for the checkout's own tsc.
const distExisted = existsSync(join(REPO, 'dist'));

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lightning-init-'));
  const pack = await sh('npm', ['pack', '--pack-destination', work], REPO);
  expect(pack.code, pack.out).toBe(0);
  tarball = join(work, 'lightning-local-0.1.0.tgz');
  tarEntries = (await sh('tar', ['tzf', tarball], work)).out.split('\n').filter(Boolean);
  // The checkout's CLI writes the project, depending on the tarball (a user gets the same
  // from `npx lightning-local init` once installed, checked below).
  const init = await sh(
    process.execPath,
    [CLI, 'init', 'my-app', '--from', `file:../${basename(tarball)}`],
    work,
  );
  expect(init.code, init.out).toBe(0);
  project = join(work, 'my-app');
  const install = await sh(
    'npm',
    ['install', '--no-audit', '--no-fund', '--prefer-offline'],
    project,
    170_000,
  );
  expect(install.code, install.out).toBe(0);
  installOutput = install.out;
}, 200_000);

afterAll(async () => {
  if (!distExisted) await rm(join(REPO, 'dist'), { recursive: true, force: true });
  if (work) await rm(work, { recursive: true, force: true });
});

function basename(p: string): string {
  return p.slice(p.lastIndexOf('/') + 1);
}

describe('a project made by lightning-local init, installed from the packed tarball', () => {
  it('the tarball ships the runtime, its types and templates, and no tests, bench or examples', async () => {
    // Every tracked runtime file (code, UI static files, the Python helper, templates, the
    // VM boot script), so narrowing `files` cannot drop one unnoticed.
    const tracked = (await sh('git', ['ls-files', 'cli', 'constructs', 'daemon', 'proto/gen'], REPO)).out
      .split('\n')
      .filter((f) => f && !/\.test\.ts$|__snapshots__/.test(f));
    expect(tracked.length).toBeGreaterThan(50);
    expect(tracked.map((f) => `package/${f}`).filter((f) => !tarEntries.includes(f))).toEqual([]);
    for (const f of ['package/dist/types/constructs/index.d.ts', 'package/cli/templates/app/gitignore']) {
      expect(tarEntries).toContain(f);
    }
    expect(tarEntries.filter((e) => /^package\/(test|bench|examples)\/|\.test\.ts$/.test(e))).toEqual([]);
  });

  it('has the project files, a "type": "module" package and a .gitignore', async () => {
    for (const f of ['app.ts', 'train.py', 'tsconfig.json', 'cdktf.json', 'README.md', '.gitignore']) {
      expect(existsSync(join(project, f)), f).toBe(true);
    }
    const pkg = JSON.parse(await readFile(join(project, 'package.json'), 'utf8'));
    expect(pkg).toMatchObject({ name: 'my-app', type: 'module' });
    expect(pkg.dependencies['lightning-local']).toBe('file:../lightning-local-0.1.0.tgz');
    // The runtime dependencies' install scripts are approved, so npm has nothing to warn about.
    expect(installOutput).not.toMatch(/install-scripts|allowScripts/);
  });

  it("passes the project's own tsc, which does check app code against the package's types", async () => {
    const ok = await sh('npx', ['tsc'], project);
    expect(ok.out).toBe('');
    expect(ok.code).toBe(0);
    // Control: a wrong prop is caught, so the types really come from lightning-local.
    await writeFile(
      join(project, 'wrong.ts'),
      "import { LightningApp } from 'lightning-local';\nexport default new LightningApp({ nam: 'x' });\n",
    );
    const bad = await sh('npx', ['tsc'], project);
    await rm(join(project, 'wrong.ts'));
    expect(bad.code).not.toBe(0);
    expect(bad.out).toMatch(/wrong\.ts.*'nam' does not exist in type 'LightningAppProps'/);
  });

  it('runs with npx lightning-local run app.ts: the script trains, reports live state and the app ends 0', async () => {
    const r = await sh('npx', ['lightning-local', 'run', 'app.ts', '--no-ui', '--set', 'epochs=8'], project);
    expect(r.out).toMatch(/root\.train +│ epoch 8\/8 loss/);
    expect(r.out).toMatch(/app ended after .* \(exit 0\): trained 8 epochs, loss 0\.\d+/);
    expect(r.code).toBe(0);
    expect(
      existsSync(join(project, '.lightning', 'drive', 'default', 'works', 'root.train', 'model.json')),
    ).toBe(true);
  });

  it('init from the installed package depends on the same tarball, and refuses a non-empty directory', async () => {
    const again = await sh('npx', ['lightning-local', 'init', '../second'], project);
    expect(again.code, again.out).toBe(0);
    const pkg = JSON.parse(await readFile(join(work, 'second', 'package.json'), 'utf8'));
    expect(pkg.dependencies['lightning-local']).toBe('file:../lightning-local-0.1.0.tgz');

    const refused = await sh('npx', ['lightning-local', 'init', '.'], project);
    expect(refused.code).toBe(2);
    expect(refused.out).toMatch(/the directory is not empty/);
    expect(refused.out).toMatch(/fix: pick a new directory/);
  });
});
