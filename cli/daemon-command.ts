/**
 * The roles an app plays besides `run`: `daemon` (serve one Work; started by `run` locally
 * and by systemd on a work VM), `daemon-host` (several works in one process, local mode) and
 * `flow` (the event loop and gRPC server without local daemons; started by systemd on the
 * flow VM; flow-command.ts).
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import type { Command } from 'commander';
import { ValidationError } from '../constructs/errors.ts';
import { loadAppFile } from '../constructs/load-app.ts';
import { ensureStateDir, localDriveDir, openDrive } from '../daemon/drive/open-drive.ts';
import { registerFlowCommand } from './flow-command.ts';
import { appEnvFromParent, requireToken } from './options.ts';

interface DaemonOptions {
  work: string;
  appDir?: string;
  flow: string;
  drive?: string;
  exitWithParent?: boolean;
  tlsCa?: string;
  advertiseHost?: string;
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
      const env = appEnvFromParent();
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
        env: appEnvFromParent(),
      });
    });

  registerFlowCommand(program);
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
