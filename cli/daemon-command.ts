/**
 * The roles an app plays besides `run`: `daemon` (serve one Work; started by `run` locally
 * and by systemd on a work VM) and `flow` (the event loop and gRPC server without local
 * daemons; started by systemd on the flow VM).
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import type { Command } from 'commander';
import pc from 'picocolors';
import { ValidationError } from '../constructs/errors.ts';
import { loadAppFile } from '../constructs/load-app.ts';
import { ensureStateDir, localDriveDir, openDrive } from '../daemon/drive/open-drive.ts';
import type { LoopObserver } from '../daemon/flow/event-loop.ts';
import { startFlowRuntime } from '../daemon/flow/flow-runtime.ts';
import { UiServer } from '../daemon/ui/ui-server.ts';
import { flowCloudVms } from './flow-cloud-vms.ts';
import { LogPrinter } from './log-printer.ts';
import { collect } from './options.ts';

function requireToken(): string {
  const token = process.env.LIGHTNING_TOKEN;
  if (!token) {
    throw new ValidationError(
      [
        {
          path: 'LIGHTNING_TOKEN',
          message: 'the app token is not set',
          fix: 'export LIGHTNING_TOKEN=<the token the flow was started with>',
        },
      ],
      'Cannot start',
    );
  }
  return token;
}

interface DaemonOptions {
  work: string;
  appDir?: string;
  flow: string;
  drive?: string;
  exitWithParent?: boolean;
  tlsCa?: string;
  advertiseHost?: string;
}

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

/** `--advertise-host` goes into every work url: an IP or a DNS name, nothing else. */
function checkAdvertiseHost(host: string): void {
  if (
    isIP(host) !== 0 ||
    /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(
      host,
    )
  )
    return;
  throw new ValidationError(
    [
      {
        path: '--advertise-host',
        message: `${JSON.stringify(host)} is not an IP address or host name`,
        fix: "pass the address other machines reach this work at, e.g. the VM's internal IP 10.128.0.5",
      },
    ],
    'Cannot start',
  );
}

export function registerDaemonCommands(program: Command): void {
  program
    .command('daemon')
    .description(
      'Serve one Work of an app: dial the flow, run the calls it sends. (Started for you by `run` and on cloud VMs.)',
    )
    .argument('<app>', 'the app file')
    .requiredOption('--work <name>', 'the work to serve, by construct path (e.g. root.train)')
    .requiredOption('--flow <host:port>', "the flow's gRPC address")
    .option('--drive <url>', 'the Drive (file:///dir or gs://bucket/prefix)')
    .option('--app-dir <dir>', "directory scripts resolve against (default: the app file's)")
    .option('--tls-ca <file>', 'PEM CA certificate: connect with TLS and verify the flow against it')
    .option(
      '--advertise-host <address>',
      "address other machines reach this work's servers at (its url); the VM's internal IP in the cloud",
      '127.0.0.1',
    )
    .option('--exit-with-parent', 'stop when the parent process goes away (local mode)')
    .addHelpText('after', '\nThe app token is read from $LIGHTNING_TOKEN (never from the command line).')
    .action(async (appFile: string, opts: DaemonOptions) => {
      // The local host pings over IPC and replaces a daemon that stops answering (hung, SIGSTOP).
      if (opts.exitWithParent) process.on('message', () => process.send?.({ t: 'pong' }, () => {}));
      const token = requireToken();
      if (opts.advertiseHost !== undefined) checkAdvertiseHost(opts.advertiseHost);
      // Loaded here, not at the top: `run` and `flow` load this module too and never serve a
      // work (the daemon code and its dependencies cost a third of a second of start-up).
      const [{ WorkDaemon }, { killAllScriptsNow }, { watchPreemption }, { sampleGpuUtilization }] =
        await Promise.all([
          import('../daemon/work/work-daemon.ts'),
          import('../daemon/work/script-runner.ts'),
          import('../daemon/work/preemption-watcher.ts'),
          import('../daemon/work/gpu-sampler.ts'),
        ]);
      const cloud = process.env.LIGHTNING_CLOUD === '1';
      const loaded = await loadAppFile(appFile);
      const { app } = loaded;
      const appDir = opts.appDir ? resolve(opts.appDir) : loaded.appDir;
      await ensureStateDir(appDir);
      const drive = await openDrive(opts.drive ?? pathToFileURL(localDriveDir(appDir)).href);
      const env = process.env.LIGHTNING_APP_ENV_JSON
        ? (JSON.parse(process.env.LIGHTNING_APP_ENV_JSON) as Record<string, string>)
        : {};
      const daemon = new WorkDaemon({
        app,
        appDir,
        workName: opts.work,
        flowAddress: opts.flow,
        token,
        drive,
        env,
        ...(opts.advertiseHost ? { advertiseHost: opts.advertiseHost } : {}),
        ...(opts.tlsCa ? { credentials: grpc.credentials.createSsl(readFileSync(opts.tlsCa)) } : {}),
        // On a cloud VM the flow's idle stop weighs GPU use: sent with each heartbeat.
        ...(cloud ? { gpuUtilization: () => sampleGpuUtilization() } : {}),
        // Tests shorten heartbeats (and so GPU samples) with LIGHTNING_HEARTBEAT_MS.
        ...(Number(process.env.LIGHTNING_HEARTBEAT_MS) > 0
          ? { heartbeatMs: Number(process.env.LIGHTNING_HEARTBEAT_MS) }
          : {}),
      });
      const stop = (why: string) => void daemon.shutdown(why);
      // On GCE a preemption starts with an ACPI soft off: systemd's SIGTERM may arrive before
      // the metadata long poll answers. Ask the metadata server which one this is.
      process.on(
        'SIGTERM',
        () => void preemptedNow().then((p) => (p ? daemon.preemptionNotice() : stop('SIGTERM'))),
      );
      process.on('SIGINT', () => stop('SIGINT'));
      process.on('SIGUSR2', () => {
        killAllScriptsNow();
        process.exit(137);
      });
      if (opts.exitWithParent) process.on('disconnect', () => stop('the parent process exited'));
      // Say we are up before dialing the flow: the host holds a daemon to the short
      // unresponsive limit only after its first answer, and a daemon started from the bundle
      // can run its call before the host's first ping comes round (a SIGSTOP then went
      // unnoticed for the whole start-up allowance).
      if (opts.exitWithParent) process.send?.({ t: 'pong' }, () => {});
      await daemon.start();
      // On a cloud VM: a Spot VM's preemption notice lets the script flush a checkpoint and
      // the flow run the call again on the restarted VM (ADR 0026).
      const preemption = cloud
        ? watchPreemption({
            onNotice: () => void daemon.preemptionNotice(),
            onError: (m) => process.stderr.write(`lightning daemon: ${m}\n`),
          })
        : undefined;
      void daemon.exited.then(() => preemption?.close());
      // An orderly end exits 0 (systemd's Restart=on-failure leaves it ended); handles that
      // may linger (IPC channel, grpc) must not keep the process up.
      process.exit(await daemon.exited);
    });

  program
    .command('daemon-host', { hidden: true })
    .description(
      'Serve the works `run` asks for over IPC, several in one process (local mode only; ADR 0022).',
    )
    .argument('<app>', 'the bundled app file (app.mjs)')
    .requiredOption('--flow <host:port>', "the flow's gRPC address")
    .option('--drive <url>', 'the Drive (file:///dir or gs://bucket/prefix)')
    .option('--app-dir <dir>', "directory scripts resolve against (default: the app file's)")
    .action(async (appFile: string, opts: { flow: string; drive?: string; appDir?: string }) => {
      if (!process.send) {
        throw new ValidationError(
          [
            {
              path: 'daemon-host',
              message: 'a daemon host takes its works over an IPC channel and this process has none',
              fix: 'it is started by `lightning-local run`; to serve one work yourself use `lightning-local daemon`',
            },
          ],
          'Cannot start',
        );
      }
      const token = requireToken();
      const { runDaemonHost } = await import('../daemon/work/daemon-host.ts');
      await runDaemonHost({
        appFile: resolve(appFile),
        ...(opts.appDir ? { appDir: resolve(opts.appDir) } : {}),
        flowAddress: opts.flow,
        token,
        ...(opts.drive ? { driveUrl: opts.drive } : {}),
        env: process.env.LIGHTNING_APP_ENV_JSON
          ? (JSON.parse(process.env.LIGHTNING_APP_ENV_JSON) as Record<string, string>)
          : {},
      });
    });

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

/** On a cloud VM: whether its `instance/preempted` metadata reads TRUE (false when unknown). */
async function preemptedNow(): Promise<boolean> {
  if (process.env.LIGHTNING_CLOUD !== '1') return false;
  const host = process.env.GCE_METADATA_HOST ?? 'metadata.google.internal';
  try {
    const res = await fetch(`http://${host}/computeMetadata/v1/instance/preempted`, {
      headers: { 'Metadata-Flavor': 'Google' },
      signal: AbortSignal.timeout(2000),
    });
    return res.ok && (await res.text()).trim().toUpperCase() === 'TRUE';
  } catch {
    return false;
  }
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
