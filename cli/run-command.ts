import { dirname, relative, resolve } from 'node:path';
import type { Command } from 'commander';
import pc from 'picocolors';
import { type LocalApp, startLocalApp } from '../daemon/flow/local-app.ts';
import { LogPrinter } from './log-printer.ts';
import { collect, parseEnvPairs } from './options.ts';

interface RunOptions {
  env: string[];
  set: string[];
  drive?: string;
  resume?: boolean;
}

export function registerRunCommand(program: Command): void {
  program
    .command('run')
    .description('Run an app locally: the flow loop here, one daemon process per Work.')
    .argument('<app>', 'the app file (TypeScript), e.g. examples/hello/app.ts')
    .option('-e, --env <KEY=VALUE>', 'environment variable for every work (repeatable)', collect, [])
    .option(
      '-s, --set <key=value>',
      "initial value of a key in the root flow's state (repeatable; JSON or text)",
      collect,
      [],
    )
    .option('--drive <url>', 'Drive to use instead of the local one, e.g. gs://bucket/prefix')
    .option(
      '--resume',
      "continue from the previous run's journal (.lightning/journal/): state, statuses and calls",
    )
    .addHelpText(
      'after',
      `
Ctrl-C stops every work (SIGTERM, then SIGKILL after the grace period) and exits 130;
a second Ctrl-C kills everything at once.
Exit codes: 0 the flow called stopApp(), 1 the app failed (failApp(), an error in run(),
a blocking work failed), 2 bad input (app file, options), 130/143 interrupted.

Examples:
  lightning-local run examples/hello/app.ts
  lightning-local run app.ts --set epochs=3 --env CUDA_VISIBLE_DEVICES=0`,
    )
    .action(async (appFile: string, opts: RunOptions) => {
      process.exitCode = await runApp(appFile, opts);
    });
}

async function runApp(appFile: string, opts: RunOptions): Promise<number> {
  const env = parseEnvPairs(opts.env);
  const printer = new LogPrinter(dirname(resolve(appFile)));
  const started = Date.now();
  const local: LocalApp = await startLocalApp({
    appFile,
    env,
    setPairs: opts.set,
    resume: opts.resume ?? false,
    ...(opts.drive ? { driveUrl: opts.drive } : {}),
    observer: printer,
    onDaemonOutput: (work, line) => printer.daemonLine(work, line),
  });
  const works = local.loop.workNames();
  if (opts.resume) {
    process.stdout.write(
      local.resumed
        ? `${pc.bold('lightning')} resuming from .lightning/journal/\n`
        : `${pc.yellow('lightning')} --resume: no journal from an earlier run, starting fresh\n`,
    );
  }
  printer.register(works);
  const shownDir = relative(process.cwd(), local.appDir) || '.';
  process.stdout.write(
    `${pc.bold('lightning')} app ${pc.bold(local.loop.app.name)}: ${works.length} work${works.length === 1 ? '' : 's'} ` +
      `(${works.join(', ')}), flow on ${local.flowAddress}\n` +
      `${pc.dim(`  logs ${relative(process.cwd(), printer.logDir) || printer.logDir}/   drive ${local.driveUrl}   (${shownDir})`)}\n`,
  );
  let interrupts = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    interrupts++;
    if (interrupts === 1) {
      process.stdout.write(
        `\n${pc.yellow('lightning')} ${signal}: stopping every work (Ctrl-C again to kill at once)\n`,
      );
      local.loop.requestEnd(signal === 'SIGINT' ? 130 : 143, `interrupted (${signal})`);
    } else {
      process.stdout.write(`${pc.red('lightning')} killing everything\n`);
      void local.kill().then(() => process.exit(signal === 'SIGINT' ? 130 : 143));
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const end = await local.finished;
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const color = end.exitCode === 0 ? pc.green : pc.red;
  process.stdout.write(
    `${color('lightning')} app ended after ${seconds} s (exit ${end.exitCode}): ${end.message}\n`,
  );
  await printer.close();
  return end.exitCode;
}
