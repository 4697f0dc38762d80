/**
 * `lightning-local`: run an app locally, and the roles the same app plays elsewhere
 * (a work daemon, the flow on a VM).
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import pc from 'picocolors';
import { LightningError } from '../constructs/errors.ts';
import { registerCostCommand } from './cost-command.ts';
import { registerDaemonCommands } from './daemon-command.ts';
import { registerDriveCommand } from './drive-command.ts';
import { registerInitCommand } from './init-command.ts';
import { registerRunCommand } from './run-command.ts';
import { registerSynthCommand } from './synth-command.ts';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

export function buildProgram(): Command {
  const program = new Command('lightning-local')
    .description(
      'Wire existing scripts into one Flow/Work app: run it locally as processes, deploy the same code to GCP with CDKTF.',
    )
    .version(pkg.version)
    .showHelpAfterError('(run with --help for usage)')
    // Commander exits by itself with 1 on a bad command line; the help promises 2 for every
    // bad input, so its errors come back here (subcommands inherit this setting).
    .exitOverride()
    .addOption(new Option('--no-color', 'disable colours'));
  registerInitCommand(program);
  registerRunCommand(program);
  registerSynthCommand(program);
  registerCostCommand(program);
  registerDriveCommand(program);
  registerDaemonCommands(program);
  return program;
}

try {
  await buildProgram().parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : 2);
  if (err instanceof LightningError) {
    // The message says what and why, and how to fix it; the code is for scripts and searches.
    process.stderr.write(`${pc.red('error')} ${err.message}\n  ${pc.dim(`code: ${err.code}`)}\n`);
    process.exit(2);
  }
  throw err;
}
