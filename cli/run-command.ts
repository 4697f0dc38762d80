import { dirname, join, relative, resolve } from 'node:path';
import type { Command } from 'commander';
import pc from 'picocolors';
import { ValidationError } from '../constructs/errors.ts';
import { type LocalApp, startLocalApp } from '../daemon/flow/local-app.ts';
import { UiServer } from '../daemon/ui/ui-server.ts';
import { LogPrinter } from './log-printer.ts';
import { collect, parseEnvPairs } from './options.ts';

interface RunOptions {
  env: string[];
  set: string[];
  drive?: string;
  resume?: boolean;
  journalFsync?: boolean;
  uiPort: string;
  ui: boolean;
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
    .option(
      '--journal-fsync',
      'fsync the journal on every change, so --resume survives power loss too (default: it survives the flow process dying)',
    )
    .option('--ui-port <n>', 'port of the web UI and HTTP API on 127.0.0.1 (0: any free port)', '7501')
    .option('--no-ui', 'do not serve the web UI and HTTP API')
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
  const uiPort = Number(opts.uiPort);
  if (opts.ui && (!Number.isInteger(uiPort) || uiPort < 0 || uiPort > 65535)) {
    throw new ValidationError(
      [
        {
          path: '--ui-port',
          message: `"${opts.uiPort}" is not a port number`,
          fix: 'e.g. --ui-port 7502, or --no-ui',
        },
      ],
      'Invalid option',
    );
  }
  const printer = new LogPrinter(dirname(resolve(appFile)));
  const started = Date.now();
  const local: LocalApp = await startLocalApp({
    appFile,
    env,
    setPairs: opts.set,
    resume: opts.resume ?? false,
    ...(opts.journalFsync ? { journalFsync: true } : {}),
    ...(opts.drive ? { driveUrl: opts.drive } : {}),
    observer: printer,
    onDaemonOutput: (work, line) => printer.daemonLine(work, line),
  });
  // Created before anything awaits, so the UI sees the loop's first events.
  const ui = opts.ui
    ? new UiServer({
        loop: local.loop,
        port: uiPort,
        fallbackToFreePort: true,
        tokenFile: join(local.appDir, '.lightning', 'ui-token'),
      })
    : undefined;
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
  if (ui) {
    try {
      const address = await ui.listen();
      if (address.fellBack) {
        process.stdout.write(
          `${pc.yellow('lightning')} port ${uiPort} is busy, so the UI is on port ${address.port} (choose one with --ui-port)\n`,
        );
      }
      process.stdout.write(
        `${pc.bold('lightning')} UI ${pc.underline(ui.loginUrl())}  ${pc.dim('(the link works once)')}\n`,
      );
    } catch (err) {
      // The app runs on without its UI rather than dying over a port.
      process.stdout.write(`${pc.yellow('lightning')} no UI: ${(err as Error).message}\n`);
    }
  }
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
  await ui?.close();
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const color = end.exitCode === 0 ? pc.green : pc.red;
  process.stdout.write(
    `${color('lightning')} app ended after ${seconds} s (exit ${end.exitCode}): ${end.message}\n`,
  );
  await printer.close();
  return end.exitCode;
}
