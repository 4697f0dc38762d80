/**
 * `lightning-local synth app.ts`: the app's Terraform JSON for GCP without the cdktf CLI
 * (same output as `cdktf synth`). The synthesis modules (cdktf, Google provider bindings,
 * esbuild) are imported only inside the action, so no other command pays for them.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Command } from 'commander';
import pc from 'picocolors';
import { ValidationError } from '../constructs/errors.ts';
import { loadApp } from '../constructs/load-app.ts';

interface SynthCliOptions {
  readonly out: string;
  readonly project?: string;
  readonly region?: string;
}

/** Help text of --project/--region, shared with `cost`. */
export const TARGET_OPTION_HELP = {
  project:
    'GCP project when the app sets none (order: app cloud.project, GOOGLE_CLOUD_PROJECT, --project, cdktf.json context lightningProject)',
  region:
    "GCP region when the app sets none (order: app cloud.region, GOOGLE_CLOUD_REGION, --region, cdktf.json context lightningRegion, 'us-central1')",
} as const;

/**
 * The `context` of ./cdktf.json, so `lightning-local synth` and `cdktf synth` in the same
 * directory deploy to the same project. Missing file: {}.
 */
export function cdktfJsonContext(dir = process.cwd()): Record<string, unknown> {
  const file = join(dir, 'cdktf.json');
  if (!existsSync(file)) return {};
  try {
    const json = JSON.parse(readFileSync(file, 'utf8')) as { context?: unknown };
    return json.context && typeof json.context === 'object' ? (json.context as Record<string, unknown>) : {};
  } catch (err) {
    throw new ValidationError(
      [
        {
          path: file,
          message: `is not valid JSON (${(err as Error).message})`,
          fix: 'fix or remove cdktf.json',
        },
      ],
      'Cannot read cdktf.json',
    );
  }
}

/**
 * The synthesis modules. cdktf and @cdktf/provider-google are optional peer dependencies (a
 * user who only runs locally does not need them), so their absence is a clear error here.
 */
async function importSynthesis(): Promise<typeof import('../constructs/cloud/synth.ts')> {
  try {
    return await import('../constructs/cloud/synth.ts');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const missing =
      /Cannot find (?:package|module) '((?:@cdktf\/provider-google|cdktf|constructs)[^']*)'/.exec(
        e.message ?? '',
      );
    if (e.code !== 'ERR_MODULE_NOT_FOUND' || !missing) throw err;
    throw new ValidationError(
      [
        {
          path: 'synth',
          message: `${missing[1]} is not installed (cdktf, @cdktf/provider-google and constructs are peer dependencies, needed only to synthesize)`,
          fix: 'npm install --save-dev cdktf@^0.21.0 @cdktf/provider-google@^16.12.1 constructs@^10.8.1',
        },
      ],
      'Cannot synthesize',
    );
  }
}

export function registerSynthCommand(program: Command): void {
  program
    .command('synth')
    .description(
      'Synthesize Terraform JSON for GCP (Drive bucket, service accounts, network, flow VM, one VM per Work).',
    )
    .argument('<app>', 'the app file')
    .option('-o, --out <dir>', 'output directory', 'cdktf.out')
    .option('--project <id>', TARGET_OPTION_HELP.project)
    .option('--region <region>', TARGET_OPTION_HELP.region)
    .addHelpText(
      'after',
      '\nThen deploy with `cdktf deploy` (cdktf.json) or: cd <out>/stacks/<app> && terraform init && terraform apply.\nSee docs/deploy-gcp.md.',
    )
    .action(async (appFile: string, opts: SynthCliOptions) => {
      const app = await loadApp(appFile);
      const { synthesizeApp } = await importSynthesis();
      const result = await synthesizeApp(app, {
        appFile,
        outdir: opts.out,
        context: cdktfJsonContext(),
        ...(opts.project !== undefined ? { project: opts.project } : {}),
        ...(opts.region !== undefined ? { region: opts.region } : {}),
      });
      const { plan } = result;
      const stack = relative(process.cwd(), result.stackFile);
      const kb = 'bytes' in result.bundle ? `${Math.round(result.bundle.bytes / 1024)} KiB` : 'prebuilt';
      process.stdout.write(
        `${pc.bold('lightning')} synthesized ${app.name}: ${stack}\n` +
          `  project ${plan.project} (from ${plan.projectFrom}), region ${plan.region} (from ${plan.regionFrom}), zone ${plan.zone}\n` +
          `  bundle ${kb} (sha256 ${result.bundle.sha256.slice(0, 16)}), bundling ${Math.round(result.timings.bundleMs)} ms, synthesis ${Math.round(result.timings.synthMs)} ms\n` +
          `  deploy: (cd ${relative(process.cwd(), result.stackFile).replace(/\/cdk\.tf\.json$/, '')} && terraform init && terraform apply)   or   LIGHTNING_APP=${appFile} cdktf deploy\n`,
      );
    });
}
