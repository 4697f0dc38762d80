/**
 * A user deploys the app.ts they run locally, unchanged: the GCP project (and region) come
 * from the app, else GOOGLE_CLOUD_PROJECT, else `--project`, else the cdktf context, in that
 * order; none of them is an error naming every way. `cdktf deploy`'s app command
 * (cdktf.json) synthesizes every example from the project root.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Construct } from 'constructs';
import { describe, expect, it } from 'vitest';
import { type PlanOverrides, planApp } from '../../constructs/cloud/plan.ts';
import { Flow, LightningApp } from '../../constructs/index.ts';
import hello from '../../examples/hello/app.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
/** The environment without any GCP project/region a developer's shell may carry. */
const CLEAN_ENV = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => !/^(GOOGLE_CLOUD_|CDKTF_)/.test(k)),
);

class Root extends Flow {
  constructor(scope: Construct) {
    super(scope, 'root');
  }
  override run(): void {}
}

function withCloud(project?: string): LightningApp {
  const app = new LightningApp({ name: 'order', ...(project ? { cloud: { project } } : {}) });
  new Root(app);
  return app;
}

describe('project and region without editing the app', { timeout: 240_000 }, () => {
  it('takes the project from the app, then GOOGLE_CLOUD_PROJECT, then --project, then cdktf context', () => {
    const env = { GOOGLE_CLOUD_PROJECT: 'from-env-1' };
    const project = 'from-flag-1';
    const context = { lightningProject: 'from-context-1' };
    const of = (app: LightningApp, target: PlanOverrides['target']) => {
      const plan = planApp(app, undefined, { target });
      return `${plan.project} ${plan.projectFrom}`;
    };
    expect(of(withCloud('from-app-1'), { env, project, context })).toBe('from-app-1 app');
    expect(of(withCloud(), { env, project, context })).toBe('from-env-1 GOOGLE_CLOUD_PROJECT');
    expect(of(withCloud(), { project, context })).toBe('from-flag-1 --project');
    expect(of(withCloud(), { context })).toBe('from-context-1 cdktf context lightningProject');
  });

  it('takes the region in the same order, defaulting to us-central1, and picks the zone from it', () => {
    const target = {
      env: { GOOGLE_CLOUD_PROJECT: 'p-123456', GOOGLE_CLOUD_REGION: 'europe-west4' },
      region: 'us-east4',
    };
    const fromEnv = planApp(withCloud(), undefined, { target });
    expect([fromEnv.region, fromEnv.regionFrom]).toEqual(['europe-west4', 'GOOGLE_CLOUD_REGION']);
    expect(fromEnv.zone.startsWith('europe-west4-')).toBe(true);
    const fromFlag = planApp(withCloud(), undefined, { target: { project: 'p-123456', region: 'us-east4' } });
    expect([fromFlag.region, fromFlag.regionFrom]).toEqual(['us-east4', '--region']);
    const byDefault = planApp(withCloud(), undefined, { target: { project: 'p-123456' } });
    expect([byDefault.region, byDefault.regionFrom]).toEqual(['us-central1', 'default']);
  });

  it('names every way to set a project when none is set', () => {
    let message = '';
    try {
      planApp(hello, undefined, { target: { env: {}, context: {} } });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/hello\.cloud: no GCP project is set/);
    for (const way of [
      "cloud: { project: 'my-project' }",
      'GOOGLE_CLOUD_PROJECT=',
      '--project ',
      'lightningProject',
    ])
      expect(message).toContain(way);
  });

  it('lightning-local synth --project deploys examples/hello as it is, and says where the project came from', () => {
    const out = mkdtempSync(join(tmpdir(), 'lightning-synth-project-'));
    const r = spawnSync(
      'node',
      ['cli/bin.js', 'synth', 'examples/hello/app.ts', '--project', 'flag-proj-1', '--out', out],
      {
        cwd: ROOT,
        encoding: 'utf8',
        env: CLEAN_ENV,
      },
    );
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/project flag-proj-1 \(from --project\), region us-central1 \(from default\)/);
    const tf = JSON.parse(readFileSync(join(out, 'stacks', 'hello', 'cdk.tf.json'), 'utf8'));
    expect(tf.provider.google[0].project).toBe('flag-proj-1');
  });

  it('lightning-local cost without a project fails with the ways to set one; GOOGLE_CLOUD_PROJECT is enough', () => {
    const run = (env: NodeJS.ProcessEnv) =>
      spawnSync('node', ['cli/bin.js', 'cost', 'examples/hello/app.ts', '--json'], {
        cwd: ROOT,
        encoding: 'utf8',
        env,
      });
    const none = run(CLEAN_ENV);
    expect(none.status).not.toBe(0);
    expect(none.stderr).toMatch(/GOOGLE_CLOUD_PROJECT=my-project in the environment; --project my-project/);
    const withEnv = run({ ...CLEAN_ENV, GOOGLE_CLOUD_PROJECT: 'env-proj-1' });
    expect(withEnv.stderr).toBe('');
    expect(JSON.parse(withEnv.stdout).lines.length).toBe(3);
  });
});

describe("cdktf.json's app command (what `cdktf deploy` runs) from the project root", {
  timeout: 240_000,
}, () => {
  // Every example app, as committed. The cdktf CLI runs cdktf.json's "app" with the
  // "context" in CDKTF_CONTEXT_JSON; the app file is LIGHTNING_APP or context.lightningApp.
  const examples = [
    ['examples/hello/app.ts', 'hello'],
    ['examples/flagship/app.ts', 'flagship'],
    ['examples/existing-stack/app.ts', 'trainer'],
  ] as const;
  it.each(examples)('synthesizes %s with the project from the cdktf context', (appFile, stackName) => {
    const cdktfJson = JSON.parse(readFileSync(join(ROOT, 'cdktf.json'), 'utf8'));
    const out = mkdtempSync(join(tmpdir(), 'lightning-cdktf-example-'));
    const context = { ...cdktfJson.context, lightningApp: appFile, lightningProject: 'ctx-proj-1' };
    const [cmd, ...args] = (cdktfJson.app as string).split(' ');
    const r = spawnSync(cmd!, args, {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...CLEAN_ENV, CDKTF_OUTDIR: out, CDKTF_CONTEXT_JSON: JSON.stringify(context) },
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const stackFile = join(out, 'stacks', stackName, 'cdk.tf.json');
    expect(existsSync(stackFile)).toBe(true);
    const tf = JSON.parse(readFileSync(stackFile, 'utf8'));
    // existing-stack's app sets its own project; the app wins over the context.
    expect(tf.provider.google[0].project).toBe(stackName === 'trainer' ? 'acme-ml' : 'ctx-proj-1');
  });
});
