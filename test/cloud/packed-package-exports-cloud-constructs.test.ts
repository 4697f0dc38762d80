/**
 * The package as npm ships it: `npm pack`, installed into a fresh IaC project next to that
 * project's own cdktf, @cdktf/provider-google and constructs (peer dependencies). The
 * project imports `lightning-local/cloud`, adds the app to its own stack and synthesizes;
 * `lightning-local synth` works from the install; without cdktf it says what to install.
 *
 * Slow (an npm install of ~370 MB, from the npm cache when warm): one install for the file.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = new URL('../..', import.meta.url).pathname;
const ownPackage = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
const peer = (name: string) => `${name}@${ownPackage.peerDependencies[name]}`;
let project: string;

const APP = `import type { Construct } from 'constructs';
import { CloudCompute, Flow, LightningApp, ScriptWork } from 'lightning-local';
class Root extends Flow {
  readonly hi = new ScriptWork(this, 'hi', { command: ['echo', 'hi'], compute: CloudCompute.named('cpu') });
  constructor(scope: Construct) {
    super(scope, 'root');
  }
  override run(): void {
    this.hi.run();
  }
}
const app = new LightningApp({ name: 'packed' });
new Root(app);
export default app;
`;

// The IaC repo's own stack: its provider, its App; the app's constructs from the package.
const MAIN = `import { GoogleProvider } from '@cdktf/provider-google/lib/provider/index.js';
import { App, TerraformStack } from 'cdktf';
import { buildAppBundle, LightningGcp } from 'lightning-local/cloud';
import app from './app/app.ts';
const cdk = new App({ outdir: 'out' });
const stack = new TerraformStack(cdk, 'iac');
new GoogleProvider(stack, 'google', { project: 'iac-proj-1', region: 'us-central1' });
const bundle = await buildAppBundle({ appFile: 'app/app.ts', outFile: 'bundle.tar.gz' });
new LightningGcp(stack, 'packed', { app, bundle, target: { project: 'iac-proj-1' } });
cdk.synth();
`;

beforeAll(() => {
  project = mkdtempSync(join(tmpdir(), 'lightning-packed-'));
  execFileSync('npm', ['pack', '--pack-destination', project, '--silent'], { cwd: ROOT, stdio: 'pipe' });
  writeFileSync(join(project, 'package.json'), '{ "name": "iac", "private": true, "type": "module" }\n');
  execFileSync(
    'npm',
    [
      'install',
      '--no-audit',
      '--no-fund',
      '--prefer-offline',
      `./lightning-local-${ownPackage.version}.tgz`,
      peer('cdktf'),
      peer('@cdktf/provider-google'),
      peer('constructs'),
    ],
    { cwd: project, stdio: 'pipe' },
  );
  mkdirSync(join(project, 'app'));
  writeFileSync(join(project, 'app', 'app.ts'), APP);
  writeFileSync(join(project, 'main.ts'), MAIN);
}, 600_000);

afterAll(() => {
  if (project) rmSync(project, { recursive: true, force: true });
});

describe('the packed package in an IaC project', { timeout: 240_000 }, () => {
  it('ships the sources the exports name, and no tests, benchmarks or examples', () => {
    const pkg = join(project, 'node_modules', 'lightning-local');
    // Every file an export names, conditions included (`types` are built at pack time).
    const targets = (v: unknown): string[] =>
      typeof v === 'string' ? [v] : Object.values(v as Record<string, unknown>).flatMap(targets);
    for (const target of targets(ownPackage.exports))
      expect(existsSync(join(pkg, target)), target).toBe(true);
    for (const dir of ['test', 'bench', 'examples']) expect(existsSync(join(pkg, dir))).toBe(false);
  });

  it("imports lightning-local/cloud and synthesizes into the project's own stack with its own cdktf", () => {
    const r = spawnSync('npx', ['tsx', 'main.ts'], { cwd: project, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const tf = JSON.parse(readFileSync(join(project, 'out', 'stacks', 'iac', 'cdk.tf.json'), 'utf8'));
    const vms = Object.values(tf.resource.google_compute_instance as Record<string, { name: string }>);
    expect(vms.map((v) => v.name).sort()).toEqual(['packed-flow', 'packed-hi']);
    expect(tf.provider.google).toEqual([{ project: 'iac-proj-1', region: 'us-central1' }]);
    // One copy of each peer: the project's. A second cdktf or constructs inside the package
    // would make the stack reject our constructs ("not a construct" / two App roots).
    for (const name of ['cdktf', 'constructs', '@cdktf/provider-google'])
      expect(existsSync(join(project, 'node_modules', 'lightning-local', 'node_modules', name))).toBe(false);
  });

  it('runs lightning-local synth from the install, with the project from --project', () => {
    const r = spawnSync(
      'npx',
      ['lightning-local', 'synth', 'app/app.ts', '--project', 'flag-proj-1', '--out', 'out2'],
      {
        cwd: project,
        encoding: 'utf8',
        env: { ...process.env, GOOGLE_CLOUD_PROJECT: '' },
      },
    );
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/project flag-proj-1 \(from --project\)/);
    expect(existsSync(join(project, 'out2', 'stacks', 'packed', 'cdk.tf.json'))).toBe(true);
  });

  it('says which peer dependency to install when cdktf is missing (a local-only user)', () => {
    const cdktf = join(project, 'node_modules', 'cdktf');
    renameSync(cdktf, `${cdktf}.aside`);
    try {
      const r = spawnSync('npx', ['lightning-local', 'synth', 'app/app.ts', '--project', 'flag-proj-1'], {
        cwd: project,
        encoding: 'utf8',
      });
      expect(r.status).not.toBe(0);
      expect(r.stderr).toMatch(/cdktf is not installed/);
      expect(r.stderr).toMatch(/npm install --save-dev cdktf@\^0\.21\.0 @cdktf\/provider-google@\^16\.12\.1/);
    } finally {
      renameSync(`${cdktf}.aside`, cdktf);
    }
  });
});
