/**
 * `lightning-local`: run an app locally, and the roles the same app plays elsewhere
 * (a work daemon, the flow on a VM).
 */
import { readFileSync, realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Command, CommanderError, Option } from 'commander';
import pc from 'picocolors';
import { LightningError } from '../constructs/errors.ts';
import type { BundlePaths } from '../daemon/flow/fresh-bundle.mjs';
import { registerCostCommand } from './cost-command.ts';
import { registerDaemonCommands } from './daemon-command.ts';
import { registerDriveCommand } from './drive-command.ts';
import { registerInitCommand } from './init-command.ts';
import { registerRunCommand } from './run-command.ts';
import { registerSynthCommand } from './synth-command.ts';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

/** How cli/bin.js started this CLI: facts it found before any of our modules loaded. */
export interface CliLaunch {
  /**
   * `run` of an app whose fresh bundle (ADR 0022) this CLI was started from: the run loads the
   * bundled app and its daemons reuse the bundle. @default none: started through tsx
   */
  readonly bundledRun?: BundlePaths;
}

export function buildProgram(launch: CliLaunch = {}): Command {
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
  registerRunCommand(program, launch.bundledRun);
  registerSynthCommand(program);
  registerCostCommand(program);
  registerDriveCommand(program);
  registerDaemonCommands(program);
  return program;
}

/** Runs the command line `argv` (as in process.argv); bad input exits 2 with the error's fix. */
export async function main(argv: readonly string[], launch: CliLaunch = {}): Promise<void> {
  try {
    await buildProgram(launch).parseAsync([...argv]);
  } catch (err) {
    if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : 2);
    if (err instanceof LightningError) {
      // The message says what and why, and how to fix it; the code is for scripts and searches.
      process.stderr.write(`${pc.red('error')} ${err.message}\n  ${pc.dim(`code: ${err.code}`)}\n`);
      process.exit(2);
    }
    throw err;
  }
}

/**
 * True when this module is the program Node was started with: the bundled CLI
 * (`lightning-runtime/cli/main.mjs`), which the local daemons and the VMs run directly.
 * cli/bin.js imports this module instead and calls main() with what it found.
 */
function isProcessEntry(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return pathToFileURL(realpathSync(entry)).href === import.meta.url;
  } catch {
    return false;
  }
}

if (isProcessEntry()) await main(process.argv);
