/**
 * The `flow` role: the event loop, its gRPC server and optionally the UI, without local
 * daemons: work daemons dial in (started by systemd on the flow VM). In the cloud it also
 * starts and stops the work VMs and creates and deletes the run-time (WorkMap) VMs, and on the
 * way out records how the app ended for vm-boot.mjs (ADR 0012).
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { Command } from 'commander';
import pc from 'picocolors';
import { ValidationError } from '../constructs/errors.ts';
import { loadAppFile } from '../constructs/load-app.ts';
import { ensureStateDir } from '../daemon/drive/open-drive.ts';
import type { LoopObserver } from '../daemon/flow/event-loop.ts';
import { startFlowRuntime } from '../daemon/flow/flow-runtime.ts';
import { UiServer } from '../daemon/ui/ui-server.ts';
import { flowCloudVms } from './flow-cloud-vms.ts';
import { LogPrinter } from './log-printer.ts';
import { collect, requireToken } from './options.ts';

interface FlowOptions {
  listen: string;
  resume?: boolean;
  journalFsync?: boolean;
  set: string[];
  tlsCert?: string;
  tlsKey?: string;
  ui?: string;
  keepVms?: boolean;
  restartWorkVms?: boolean;
  endFile?: string;
}

/** What the flow role writes to `--end-file` once the app has ended (vm-boot.mjs reads it). */
export interface FlowEndRecord {
  readonly exitCode: number;
  readonly message: string;
  /** The app ended because a new bundle was deployed (SIGHUP from vm-boot): restart on it. */
  readonly redeploy: boolean;
  /**
   * What became of the work VMs: all stopped, kept (--keep-vms), some could not be stopped
   * (they keep billing without a daemon; the next app restarts them), or none (not in the cloud).
   */
  readonly workVms: 'stopped' | 'kept' | 'stop-failed' | 'none';
}

/** `flow`: the flow role without local daemons (the flow VM; ADR 0012 for its lifecycle). */
export function registerFlowCommand(program: Command): void {
  program
    .command('flow')
    .description(
      'Run the flow role only: the event loop and its gRPC server, waiting for work daemons to dial in (the flow VM in the cloud).',
    )
    .argument('<app>', 'the app file')
    .option('--listen <host:port>', 'address for the gRPC server', '127.0.0.1:7500')
    .option(
      '-s, --set <key=value>',
      "initial value of a key in the root flow's state (repeatable)",
      collect,
      [],
    )
    .option(
      '--resume',
      'continue from the journal of the previous run, if there is one (what systemd restarts use)',
    )
    .option('--journal-fsync', 'fsync the journal on every change (survives power loss, not only a crash)')
    .option('--tls-cert <file>', 'PEM certificate chain: serve gRPC over TLS')
    .option('--tls-key <file>', 'PEM private key for --tls-cert')
    .option('--ui <host:port>', 'serve the web UI and HTTP API there, e.g. 127.0.0.1:7501 (default: no UI)')
    .option(
      '--keep-vms',
      'cloud: leave the work VMs running after the app ends (default: stop them all; a redeploy stops them regardless)',
    )
    .option(
      '--restart-work-vms',
      'cloud: stop every work VM before the app starts (an earlier app left them running with --keep-vms)',
    )
    .option('--end-file <file>', 'write how the app ended there (JSON) just before exiting')
    .addHelpText(
      'after',
      '\nThe app token is read from $LIGHTNING_TOKEN. SIGTERM/SIGINT end the app; SIGHUP ends it for a\nredeploy (vm-boot sends it when the bundle in the VM metadata changed, see ADR 0012).',
    )
    .action(async (appFile: string, opts: FlowOptions) => {
      // A redeploy may be signalled while the app still loads: remember it, end once running.
      let redeploy = false;
      let endForRedeploy = () => {};
      process.on('SIGHUP', () => {
        redeploy = true;
        endForRedeploy();
      });
      const token = requireToken();
      const { app, appDir } = await loadAppFile(appFile);
      await ensureStateDir(appDir);
      const printer = new LogPrinter(appDir);
      // In the cloud: the work VMs Terraform created and the WorkMap members' VMs the flow
      // creates (started, stopped, replaced and deleted as calls need them); else nothing.
      const cloud = await flowCloudVms({
        printer,
        loop: () => loop,
        restartWorkVms: opts.restartWorkVms === true,
      });
      const observer: LoopObserver = {
        onLog: (w, st, lines) => printer.onLog(w, st, lines),
        onNotice: (m) => printer.onNotice(m),
        onStatus: (work, status, previous) => {
          printer.onStatus(work, status, previous);
          cloud.onStatus(work, status);
        },
        onHeartbeat: (work, beat) => cloud.onHeartbeat(work, beat),
      };
      const host = cloud.host;
      // A bad --ui fails before the flow starts listening.
      const uiAddress = opts.ui ? parseHostPort('--ui', opts.ui) : undefined;
      const credentials =
        opts.tlsCert && opts.tlsKey
          ? grpc.ServerCredentials.createSsl(null, [
              { cert_chain: readFileSync(opts.tlsCert), private_key: readFileSync(opts.tlsKey) },
            ])
          : undefined;
      const flow = await startFlowRuntime({
        app,
        appDir,
        token,
        listen: opts.listen,
        ...(credentials ? { credentials } : {}),
        setPairs: opts.set,
        ...(opts.resume ? { resume: true } : {}),
        ...(opts.journalFsync ? { journalFsync: true } : {}),
        observer,
        host,
      });
      const { loop, port } = flow;
      if (flow.resumed) process.stdout.write('lightning: resuming from the journal\n');
      // Created before the loop starts, so it sees the first events.
      const ui = uiAddress
        ? new UiServer({
            loop,
            ...uiAddress,
            tokenFile: join(appDir, '.lightning', 'ui-token'),
            onWorkRequest: (work) => cloud.onUiRequest(work),
          })
        : undefined;
      process.stdout.write(
        `${pc.bold('lightning')} flow of ${app.name} listening on ${opts.listen.replace(/:\d+$/, `:${port}`)}\n`,
      );
      if (ui) {
        await ui.listen();
        process.stdout.write(`${pc.bold('lightning')} UI ${ui.loginUrl()} (the link works once)\n`);
      }
      process.on('SIGTERM', () => loop.requestEnd(143, 'SIGTERM'));
      process.on('SIGINT', () => loop.requestEnd(130, 'SIGINT'));
      endForRedeploy = () =>
        loop.requestEnd(0, 'a new bundle was deployed: the app ends and every VM restarts on it');
      loop.start();
      if (redeploy) endForRedeploy();
      const end = await loop.done;
      // Daemons got Shutdown with the end: their last logs and statuses arrive while their
      // scripts stop; wait for every stream to close (bounded by the longest grace period)
      // before their VMs stop.
      const graceMs = Math.max(10_000, ...app.works().map((w) => (w.props.stopGraceSeconds ?? 10) * 1000));
      await loop.goodbyes(graceMs + 2000);
      // A redeploy stops the VMs even with --keep-vms: they must boot the new bundle.
      const workVms = await cloud.end(opts.keepVms === true && !redeploy);
      await flow.close();
      await ui?.close();
      await printer.close();
      process.stdout.write(`lightning app ended (exit ${end.exitCode}): ${end.message}\n`);
      if (opts.endFile) {
        const record: FlowEndRecord = { exitCode: end.exitCode, message: end.message, redeploy, workVms };
        writeFileSync(`${opts.endFile}.tmp`, `${JSON.stringify(record)}\n`);
        renameSync(`${opts.endFile}.tmp`, opts.endFile);
      }
      process.exitCode = end.exitCode;
    });
}

/** `--ui host:port` → host (brackets of an IPv6 literal removed) and port. */
function parseHostPort(option: string, address: string): { host: string; port: number } {
  const m = /^(.+):(\d+)$/.exec(address);
  const port = Number(m?.[2]);
  if (!m || port > 65535) {
    throw new ValidationError(
      [{ path: option, message: `"${address}" is not host:port`, fix: `e.g. ${option} 127.0.0.1:7501` }],
      'Invalid option',
    );
  }
  return { host: m[1]!.replace(/^\[(.*)\]$/, '$1'), port };
}
