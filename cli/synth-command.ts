/**
 * `lightning-local synth app.ts`: the app's Terraform JSON for GCP without the cdktf CLI
 * (same output as `cdktf synth`). The synthesis modules (cdktf, Google provider bindings,
 * esbuild) are imported only inside the action, so no other command pays for them.
 */
import { relative } from 'node:path';
import type { Command } from 'commander';
import pc from 'picocolors';
import { loadApp } from './load-app.ts';

interface SynthCliOptions {
  readonly out: string;
}

export function registerSynthCommand(program: Command): void {
  program
    .command('synth')
    .description(
      'Synthesize Terraform JSON for GCP (Drive bucket, service accounts, network, flow VM, one VM per Work).',
    )
    .argument('<app>', 'the app file (with cloud settings: new LightningApp({ name, cloud: { project } }))')
    .option('-o, --out <dir>', 'output directory', 'cdktf.out')
    .addHelpText(
      'after',
      '\nThen deploy with `cdktf deploy` (cdktf.json) or: cd <out>/stacks/<app> && terraform init && terraform apply.\nSee docs/deploy-gcp.md.',
    )
    .action(async (appFile: string, opts: SynthCliOptions) => {
      const app = await loadApp(appFile);
      const { synthesizeApp } = await import('../constructs/cloud/synth.ts');
      const result = await synthesizeApp(app, { appFile, outdir: opts.out });
      const stack = relative(process.cwd(), result.stackFile);
      const kb = 'bytes' in result.bundle ? `${Math.round(result.bundle.bytes / 1024)} KiB` : 'prebuilt';
      process.stdout.write(
        `${pc.bold('lightning')} synthesized ${app.name}: ${stack}\n` +
          `  bundle ${kb} (sha256 ${result.bundle.sha256.slice(0, 16)}), bundling ${Math.round(result.timings.bundleMs)} ms, synthesis ${Math.round(result.timings.synthMs)} ms\n` +
          `  deploy: (cd ${relative(process.cwd(), result.stackFile).replace(/\/cdk\.tf\.json$/, '')} && terraform init && terraform apply)   or   LIGHTNING_APP=${appFile} cdktf deploy\n`,
      );
    });
}
