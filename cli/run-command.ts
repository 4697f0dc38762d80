import { dirname, join, relative, resolve } from 'node:path';
import type { Command } from 'commander';
import pc from 'picocolors';
import type { LightningApp } from '../constructs/app.ts';
import { componentName } from '../constructs/component-name.ts';
import { ValidationError } from '../constructs/errors.ts';
import { loadAppFile } from '../constructs/load-app.ts';
import type { LoopObserver } from '../daemon/flow/event-loop.ts';
import type { BundlePaths } from '../daemon/flow/fresh-bundle.mjs';
import { type LocalApp, startLocalApp } from '../daemon/flow/local-app.ts';
import { UiServer } from '../daemon/ui/ui-server.ts';
import { LogPrinter } from './log-printer.ts';
import { collect, parseEnvPairs } from './options.ts';
import { ReadyLine } from './ready-line.ts';

interface RunOptions {
  env: string[];
  set: string[];
  drive?: string;
  resume?: boolean;
  journalFsync?: boolean;
  uiPort: string;
  ui: boolean;
  quiet?: boolean;
  only: string[];
  timestamps?: boolean;
  worksPerProcess?: string;
}

/**
 * `run`. `startedFromBundle`: the app's fresh bundle cli/bin.js started this CLI from
 * (ADR 0022), or none when it started through tsx.
 */
export function registerRunCommand(program: Command, startedFromBundle?: BundlePaths): void {
  program
    .command('run')
    .description('Run an app locally: the flow loop here, the works in a few daemon processes.')
    .argument('<app>', 'the app file (TypeScript), e.g. examples/hello/app.ts')
    .option('-e, --env <KEY=VALUE>', 'environment variable for every work (repeatable)', collect, [])
    .option(
      '-s, --set <key=value>',
      "initial value of a key in the root flow's state, typed like its default (repeatable; nested: opt.lr=0.1)",
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
    .option('-q, --quiet', "show works' warnings, errors and status changes only (log files keep every line)")
    .option(
      '--only <work>',
      'show only this work, or the works of this flow, e.g. root.train (repeatable)',
      collect,
      [],
    )
    .option('--timestamps', 'start each terminal line with the time')
    .option(
      '--works-per-process <n>',
      'most works one daemon process serves (default 50); 1 gives every work its own process',
    )
    .addHelpText(
      'after',
      `
Ctrl-C stops every work (SIGTERM, then SIGKILL after the grace period) and exits 130;
a second Ctrl-C kills everything at once. When every work with a port answers, a "ready"
line prints the UI link again. Log files: .lightning/logs/<run>/<work>.log, the newest run
linked as .lightning/logs/latest/.
Exit codes: 0 the flow called stopApp(), 1 the app failed (failApp(), an error in run(),
a blocking work failed), 2 bad input (app file, options), 130/143 interrupted.

Examples:
  lightning-local run examples/hello/app.ts
  lightning-local run app.ts --set epochs=3 --env CUDA_VISIBLE_DEVICES=0
  lightning-local run app.ts --quiet --only root.train --timestamps`,
    )
    .action(async (appFile: string, opts: RunOptions) => {
      process.exitCode = await runApp(appFile, opts, startedFromBundle);
    });
}

async function runApp(appFile: string, opts: RunOptions, startedFromBundle?: BundlePaths): Promise<number> {
  const env = parseEnvPairs(opts.env);
  const uiPort = Number(opts.uiPort);
  const worksPerProcess = opts.worksPerProcess === undefined ? undefined : Number(opts.worksPerProcess);
  if (worksPerProcess !== undefined && !(Number.isInteger(worksPerProcess) && worksPerProcess >= 1)) {
    throw new ValidationError(
      [
        {
          path: '--works-per-process',
          message: `"${opts.worksPerProcess}" is not a whole number of works (1 or more)`,
          fix: 'e.g. --works-per-process 1 for a process per work',
        },
      ],
      'Invalid option',
    );
  }
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
  // Loaded here first (the runtime gets the same module from the import cache) so that
  // --only is checked before any process starts.
  const compiled = startedFromBundle?.appFile === resolve(appFile) ? startedFromBundle.app : undefined;
  const { app } = await loadAppFile(appFile, { requireScripts: true, ...(compiled ? { compiled } : {}) });
  checkOnly(opts.only, app);
  const printer = new LogPrinter(dirname(resolve(appFile)), undefined, {
    quiet: opts.quiet ?? false,
    only: opts.only,
    timestamps: opts.timestamps ?? false,
  });
  let ui: UiServer | undefined;
  const ready = new ReadyLine((servers) => {
    const links = ui
      ? `UI ${pc.underline(ui.loginUrl())}`
      : [...servers].map(([w, url]) => `${w} ${pc.underline(url)}`).join('  ');
    printer.say(`${pc.green(pc.bold('ready:'))} ${links}\n`);
  });
  const observer: LoopObserver = {
    onLog: (work, stream, lines) => printer.onLog(work, stream, lines),
    onStatus: (work, status, previous) => {
      printer.onStatus(work, status, previous);
      ready.onStatus(work, status);
    },
    onNotice: (message) => printer.onNotice(message),
  };
  const started = Date.now();
  const local: LocalApp = await startLocalApp({
    appFile,
    env,
    setPairs: opts.set,
    resume: opts.resume ?? false,
    ...(opts.journalFsync ? { journalFsync: true } : {}),
    ...(opts.drive ? { driveUrl: opts.drive } : {}),
    observer,
    onDaemonOutput: (work, line) => printer.daemonLine(work, line),
    ...(worksPerProcess !== undefined ? { worksPerProcess } : {}),
    ...(startedFromBundle ? { startedFromBundle } : {}),
  });
  ready.setServers(
    local.loop.app
      .works()
      .filter((w) => (w.props as { port?: unknown }).port !== undefined)
      .map((w) => w.name),
  );
  // Created before anything awaits, so the UI sees the loop's first events.
  ui = opts.ui
    ? new UiServer({
        loop: local.loop,
        port: uiPort,
        fallbackToFreePort: true,
        tokenFile: join(local.appDir, '.lightning', 'ui-token'),
      })
    : undefined;
  const works = local.loop.workNames();
  if (opts.resume) {
    printer.say(
      local.resumed
        ? `${pc.bold('lightning')} resuming from .lightning/journal/: calls that succeeded are kept; ` +
            'local daemons end with the flow, so calls that were running, stopped or failed run again ' +
            '(their scripts see LIGHTNING_RERUN=resume; a cloud flow restart re-attaches running daemons instead)\n'
        : `${pc.yellow('lightning')} --resume: no journal from an earlier run, starting fresh\n`,
    );
  }
  printer.register(works);
  const shownDir = relative(process.cwd(), local.appDir) || '.';
  printer.say(
    `${pc.bold('lightning')} app ${pc.bold(local.loop.app.name)}: ${works.length} work${works.length === 1 ? '' : 's'} ` +
      `(${works.join(', ')}), flow on ${local.flowAddress}\n` +
      `${pc.dim(`  logs ${relative(process.cwd(), printer.logDir) || printer.logDir}/   drive ${local.driveUrl}   (${shownDir})`)}\n` +
      `${pc.dim(`  ${bundleLine(local)}`)}\n`,
  );
  if (ui) {
    try {
      const address = await ui.listen();
      if (address.fellBack) {
        printer.say(
          `${pc.yellow('lightning')} port ${uiPort} is busy, so the UI is on port ${address.port} (choose one with --ui-port)\n`,
        );
      }
      printer.say(
        `${pc.bold('lightning')} UI ${pc.underline(ui.loginUrl())}  ${pc.dim('(the link works once)')}\n`,
      );
    } catch (err) {
      // The app runs on without its UI rather than dying over a port.
      printer.say(`${pc.yellow('lightning')} no UI: ${(err as Error).message}\n`);
      ui = undefined;
    }
  }
  ready.uiReady();
  let interrupts = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    interrupts++;
    if (interrupts === 1) {
      printer.say(
        `\n${pc.yellow('lightning')} ${signal}: stopping every work (Ctrl-C again to kill at once)\n`,
      );
      local.loop.requestEnd(signal === 'SIGINT' ? 130 : 143, `interrupted (${signal})`);
    } else {
      printer.say(`${pc.red('lightning')} killing everything\n`);
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
  printer.say(`${color('lightning')} app ended after ${seconds} s (exit ${end.exitCode}): ${end.message}\n`);
  await printer.close();
  return end.exitCode;
}

/** Says how the daemons (and this flow) start: ADR 0022's bundle, fresh or rebuilt, or tsx. */
function bundleLine(local: LocalApp): string {
  if (local.bundle === 'none') return 'daemons compile the app with tsx (it could not be bundled)';
  const bundle = `.lightning/bundle ${local.bundle === 'reused' ? 'reused (no source changed)' : 'rebuilt'}`;
  return local.flowFromBundle ? `${bundle}; the flow runs from it too` : bundle;
}

/** Every --only names a work or a flow of the app (a typo would silently hide everything). */
function checkOnly(only: readonly string[], app: LightningApp): void {
  const works = app.works().map((w) => w.name);
  const maps = app.workMaps().map((m) => componentName(m));
  const known = (o: string) =>
    works.some((w) => w === o || w.startsWith(`${o}.`)) ||
    app.flows().some((f) => f.name === o) ||
    // Members of a WorkMap exist only once the flow creates them (app.find would create one).
    maps.some((m) => o === m || o.startsWith(`${m}.`));
  const problems = only
    .filter((o) => !known(o))
    .map((o) => ({
      path: '--only',
      message: `"${o}" names no work or flow of app ${app.name}`,
      fix: `use one of: ${[...works, ...maps].join(', ')}`,
    }));
  if (problems.length) throw new ValidationError(problems, 'Invalid option');
}
