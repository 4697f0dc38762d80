/**
 * Synthesis entry: an app file in, Terraform JSON out (`cdktf.out/stacks/<app>/cdk.tf.json`,
 * the bundle as an asset beside it). Used by `lightning-local synth`, by cdktf.json's app
 * command, and by tests. Synthesis only: loads cdktf and the provider submodules.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { GoogleProvider } from '@cdktf/provider-google/lib/provider/index.js';
import { App, TerraformStack } from 'cdktf';
import type { LightningApp } from '../app.ts';
import { type AppBundle, buildAppBundle } from './app-bundle.ts';
import type { GcpCloudProps } from './cloud-props.ts';
import { LightningGcp, type PrebuiltBundle } from './lightning-gcp.ts';
import { planApp } from './plan.ts';

export interface SynthOptions {
  /** The app file (its directory is bundled). */
  readonly appFile: string;
  /** @default $CDKTF_OUTDIR (set by the cdktf CLI), else 'cdktf.out' */
  readonly outdir?: string;
  /** A prebuilt bundle (tests); @default built from appFile */
  readonly bundle?: PrebuiltBundle;
}

export interface SynthResult {
  readonly outdir: string;
  /** Path of the stack's Terraform JSON. */
  readonly stackFile: string;
  readonly bundle: PrebuiltBundle | AppBundle;
  readonly timings: { readonly bundleMs: number; readonly synthMs: number };
}

/**
 * Synthesizes `app` into a stack named after it. Validation runs first and throws a
 * ValidationError listing every problem; nothing is written then.
 */
export async function synthesizeApp(app: LightningApp, options: SynthOptions): Promise<SynthResult> {
  const cloud = app.props.cloud as GcpCloudProps | undefined;
  // Validate before the (slow) bundling so a wrong setting fails fast.
  const plan = planApp(app, cloud);
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
    const outdir = resolve(options.outdir ?? process.env.CDKTF_OUTDIR ?? 'cdktf.out');
    const cdk = new App({ outdir });
    const stack = new TerraformStack(cdk, plan.app);
    new GoogleProvider(stack, 'google', { project: plan.project, region: plan.region, zone: plan.zone });
    new LightningGcp(stack, 'lightning', { app, bundle });
    cdk.synth();
    const stackFile = join(outdir, 'stacks', plan.app, 'cdk.tf.json');
    readFileSync(stackFile); // fail loudly here if cdktf wrote somewhere else
    return { outdir, stackFile, bundle, timings: { bundleMs: t1 - t0, synthMs: performance.now() - t1 } };
  } finally {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }
}
