/**
 * Synthesis entry: an app file in, Terraform JSON out (`cdktf.out/stacks/<app>/cdk.tf.json`,
 * the bundle as an asset beside it). Used by `lightning-local synth`, by cdktf.json's app
 * command, and by tests. Synthesis only: loads cdktf and the provider submodules.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { GoogleProvider } from '@cdktf/provider-google/lib/provider/index.js';
import { App, LocalBackend, TerraformStack } from 'cdktf';
import type { LightningApp } from '../app.ts';
import { ValidationError } from '../errors.ts';
import { type AppBundle, buildAppBundle } from './app-bundle.ts';
import type { DeployTargetSources } from './deploy-target.ts';
import { LightningGcp, type PrebuiltBundle } from './lightning-gcp.ts';
import { type AppPlan, planApp } from './plan.ts';

export interface SynthOptions {
  /** The app file (its directory is bundled). */
  readonly appFile: string;
  /** @default $CDKTF_OUTDIR (set by the cdktf CLI), else 'cdktf.out' */
  readonly outdir?: string;
  /** A prebuilt bundle (tests); @default built from appFile */
  readonly bundle?: PrebuiltBundle;
  /** `--project`: used when neither the app nor GOOGLE_CLOUD_PROJECT sets one. @default none */
  readonly project?: string;
  /** `--region`: used when neither the app nor GOOGLE_CLOUD_REGION sets one. @default none */
  readonly region?: string;
  /**
   * cdktf context (cdktf.json `context`) besides $CDKTF_CONTEXT_JSON, which the cdktf CLI
   * sets and which wins. @default {}
   */
  readonly context?: Readonly<Record<string, unknown>>;
  /** Environment for GOOGLE_CLOUD_PROJECT / GOOGLE_CLOUD_REGION. @default process.env */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

export interface SynthResult {
  readonly outdir: string;
  /** Path of the stack's Terraform JSON. */
  readonly stackFile: string;
  readonly bundle: PrebuiltBundle | AppBundle;
  /** What was deployed where, and where project/region came from. */
  readonly plan: AppPlan;
  readonly timings: { readonly bundleMs: number; readonly synthMs: number };
}

/**
 * Synthesizes `app` into a stack named after it. Validation runs first and throws a
 * ValidationError listing every problem; nothing is written then.
 */
export async function synthesizeApp(app: LightningApp, options: SynthOptions): Promise<SynthResult> {
  const cloud = app.props.cloud;
  const outdir = resolve(options.outdir ?? process.env.CDKTF_OUTDIR ?? 'cdktf.out');
  // As cdktf's App does: $CDKTF_CONTEXT_JSON (set by the cdktf CLI) over `context`. Read here,
  // not through an App, because creating an App creates the outdir and validation comes first.
  const context = { ...(options.context ?? {}), ...cdktfContextFromEnv() };
  const target: DeployTargetSources = {
    env: options.env ?? process.env,
    ...(options.project !== undefined ? { project: options.project } : {}),
    ...(options.region !== undefined ? { region: options.region } : {}),
    context,
  };
  // Validate before the (slow) bundling so a wrong setting fails fast.
  const plan = planApp(app, cloud, { target });
  const t0 = performance.now();
  let tmp: string | undefined;
  let bundle: PrebuiltBundle | AppBundle;
  if (options.bundle) {
    bundle = options.bundle;
  } else {
    tmp = mkdtempSync(join(tmpdir(), 'lightning-synth-'));
    // A fixed file name: the asset path in the Terraform JSON includes it.
    bundle = await buildAppBundle({
      appFile: options.appFile,
      outFile: join(tmp, 'app-bundle.tar.gz'),
      ...(cloud?.bundleExclude ? { exclude: cloud.bundleExclude } : {}),
    });
  }
  const t1 = performance.now();
  try {
    const cdk = new App({ outdir, context });
    const stack = new TerraformStack(cdk, plan.app);
    // cdktf's default backend records the absolute working directory, so the output differed
    // per checkout. Same file as that default (beside the output directory, i.e. the project
    // root for ./cdktf.out), named relative to the stack directory Terraform runs in.
    new LocalBackend(stack, { path: `../../../terraform.${plan.app}.tfstate` });
    new GoogleProvider(stack, 'google', { project: plan.project, region: plan.region, zone: plan.zone });
    new LightningGcp(stack, 'lightning', { app, bundle, target });
    cdk.synth();
    const stackFile = join(outdir, 'stacks', plan.app, 'cdk.tf.json');
    readFileSync(stackFile); // fail loudly here if cdktf wrote somewhere else
    return {
      outdir,
      stackFile,
      bundle,
      plan,
      timings: { bundleMs: t1 - t0, synthMs: performance.now() - t1 },
    };
  } finally {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }
}

function cdktfContextFromEnv(): Record<string, unknown> {
  const raw = process.env.CDKTF_CONTEXT_JSON;
  if (!raw) return {};
  try {
    const parsed = JSON.parse(raw) as unknown;
    return parsed && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : {};
  } catch {
    throw new ValidationError(
      [
        {
          path: 'CDKTF_CONTEXT_JSON',
          message: 'is not JSON',
          fix: 'unset it, or fix the "context" in cdktf.json',
        },
      ],
      'Cannot read the cdktf context',
    );
  }
}
