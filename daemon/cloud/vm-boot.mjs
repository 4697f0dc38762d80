// lightning-local VM boot: run by systemd (lightning.service) on every flow and work VM.
// Plain JavaScript with Node built-ins only: it runs before the app bundle exists.
//
//   node vm-boot.mjs run      fetch + verify the bundle, read secrets, run the role (foreground)
//
// On the flow VM it also supervises the app's lifecycle (ADR 0012): it watches its own
// metadata for a new bundle (a redeploy), ends the app for it and restarts the role on the new
// bundle; after an app ended by itself it stays up and idle until the next redeploy.
//
// Everything it needs comes from instance metadata (attributes written by the synthesis)
// and the VM's own service-account identity (metadata-server tokens; no keys anywhere).
// The app token and the flow's TLS key live only in Secret Manager, in this process's
// memory, and (key and certificate only) in a private runtime directory.
//
// Test seams (never set on a VM): GCE_METADATA_HOST, STORAGE_EMULATOR_HOST,
// LIGHTNING_SECRET_MANAGER_ENDPOINT, LIGHTNING_BOOT_ROOT, LIGHTNING_RUNTIME_DIR.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import {
  attr,
  downloadBundle,
  flowSecrets,
  http,
  log,
  META,
  metadata,
  ROOT,
  RUNTIME_DIR,
  workSecrets,
} from './vm-boot-gcp.mjs';

async function readConfig() {
  const role = await attr('lightning-role');
  if (role !== 'flow' && role !== 'work')
    throw new Error(`metadata lightning-role is ${JSON.stringify(role)}, expected flow or work`);
  return {
    role,
    project: await metadata('project/project-id'),
    bucket: await attr('lightning-bucket'),
    bundleObject: await attr('lightning-bundle-object'),
    bundleSha256: await attr('lightning-bundle-sha256'),
    appFile: await attr('lightning-app-file'),
    driveUrl: await attr('lightning-drive-url'),
    flowIp: await attr('lightning-flow-ip'),
    flowPort: await attr('lightning-flow-port'),
    uiPort: await attr('lightning-ui-port'),
    tokenSecret: await attr('lightning-token-secret'),
    tlsKeySecret: await attr('lightning-tls-key-secret', ''),
    work: role === 'work' ? await attr('lightning-work') : undefined,
    // This VM's internal IP: a work's servers are advertised there (its `url`).
    internalIp: role === 'work' ? await metadata('instance/network-interfaces/0/ip') : undefined,
  };
}

/**
 * The role's argv (after `node <runtime>`): the `flow` command of cli/flow-command.ts and the `daemon` command of cli/daemon-command.ts.
 * The flow role takes no --drive yet; when it does, pass `cfg.driveUrl` here. Its UI listens on
 * `127.0.0.1:${cfg.uiPort}` (loopback: it is reached by an IAP SSH tunnel).
 */
function roleArgs(cfg, bundleDir, tls) {
  const app = join(bundleDir, cfg.appFile);
  if (cfg.role === 'flow') {
    return [
      'flow',
      app,
      // A restarted flow VM (reboot, systemd restart) continues from its journal.
      '--resume',
      '--listen',
      `0.0.0.0:${cfg.flowPort}`,
      '--tls-cert',
      tls.certFile,
      '--tls-key',
      tls.keyFile,
      // The UI stays on loopback: users reach it through an IAP SSH tunnel.
      '--ui',
      `127.0.0.1:${cfg.uiPort}`,
    ];
  }
  return [
    'daemon',
    app,
    '--work',
    cfg.work,
    '--flow',
    `${cfg.flowIp}:${cfg.flowPort}`,
    '--drive',
    cfg.driveUrl,
    '--tls-ca',
    tls.certFile,
    // Other VMs (the flow's UI proxy, other works) reach this work's servers at this address.
    '--advertise-host',
    cfg.internalIp,
  ];
}

/** Downloads the bundle, reads the secrets and starts the role; returns its process. */
async function startRole(cfg, extraArgs = []) {
  log(`role ${cfg.role}${cfg.work ? ` (${cfg.work})` : ''}, bundle ${cfg.bundleObject}`);
  const bundleDir = await downloadBundle(cfg.bucket, cfg.bundleObject, cfg.bundleSha256);
  const secrets = cfg.role === 'flow' ? await flowSecrets(cfg) : await workSecrets(cfg);
  const certFile = join(RUNTIME_DIR, 'flow-cert.pem');
  writeFileSync(certFile, secrets.certPem, { mode: 0o600 });
  const tls = { certFile, keyFile: join(RUNTIME_DIR, 'flow-key.pem') };
  if (cfg.role === 'flow') writeFileSync(tls.keyFile, secrets.keyPem, { mode: 0o600 });
  const runtime = join(bundleDir, 'lightning-runtime', 'cli', 'main.mjs');
  const args = [...roleArgs(cfg, bundleDir, tls), ...extraArgs];
  log(`starting: node ${runtime} ${args.join(' ')}`);
  const child = spawn(process.execPath, [runtime, ...args], {
    cwd: bundleDir,
    stdio: 'inherit',
    // The token goes through the environment, never argv (argv is world-readable in /proc).
    env: {
      ...process.env,
      LIGHTNING_TOKEN: secrets.token,
      LIGHTNING_CLOUD: '1',
      // A work's servers must be reachable from other VMs (the flow's UI proxy, other works,
      // at the advertised internal IP); the firewall admits only the app's service accounts.
      ...(cfg.role === 'work' ? { LIGHTNING_HOST: '0.0.0.0' } : {}),
    },
  });
  return child;
}

async function run() {
  mkdirSync(RUNTIME_DIR, { recursive: true, mode: 0o700 });
  const cfg = await readConfig();
  if (cfg.role === 'flow') return superviseFlow(cfg);
  const child = await startRole(cfg);
  for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => child.kill(sig));
  child.on('exit', (code, signal) => {
    log(`role exited (${signal ?? code})`);
    process.exit(code ?? 1);
  });
}

// ---- the flow VM's lifecycle (ADR 0012) ----

/** Written by the flow role when the app has ended (FlowEndRecord in cli/flow-command.ts). */
const END_FILE = () => join(RUNTIME_DIR, 'flow-end.json');
/** Survives reboots: the bundle whose app ended by itself, so a reboot does not start it over. */
const ENDED_MARKER = () => join(ROOT, 'bundles', '.app-ended.json');

function readJson(file) {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * Resolves with the new `lightning-bundle-sha256` once this VM's metadata holds one other than
 * `current` (Terraform updates the metadata in place on a redeploy). A plain read first, then
 * `wait_for_change` with that read's ETag: a change between the two is not missed (the server
 * answers at once when the ETag is stale). Rejects only when `signal` aborts.
 */
async function waitForNewBundle(current, signal) {
  const url = `${META}/instance/attributes/lightning-bundle-sha256`;
  let etag;
  for (let backoff = 1000; ; ) {
    try {
      const query = etag ? `?wait_for_change=true&timeout_sec=300&last_etag=${encodeURIComponent(etag)}` : '';
      const res = await http(`${url}${query}`, { headers: { 'Metadata-Flavor': 'Google' }, signal });
      const value = (await res.text()).trim();
      if (value && value !== current) return value;
      etag = res.headers.get('etag') ?? undefined;
      // Without an ETag the server cannot long-poll; do not spin.
      if (!etag) await delay(5000, undefined, { signal });
      backoff = 1000;
    } catch (err) {
      if (signal?.aborted) throw err;
      log(`watching the bundle metadata failed (${err.message}); again in ${backoff} ms`);
      await delay(backoff, undefined, { signal });
      backoff = Math.min(backoff * 2, 30_000);
    }
  }
}

/**
 * Runs the flow role and keeps the VM's lifecycle deterministic:
 * - a new bundle in the metadata (redeploy): SIGHUP to the role, which ends the app, stops every
 *   work VM and exits; then the role starts again on the new bundle (fresh journal: the bundle
 *   directory is new) and starts the work VMs, which boot the new bundle;
 * - the app ended by itself (stopApp/failApp): stay up, idle, until a redeploy; remember it
 *   across reboots, so neither systemd nor a reboot starts an ended app (or its VMs) again;
 * - the role crashed (no end record): exit non-zero, systemd restarts it with --resume;
 * - SIGTERM/SIGINT (systemctl stop, VM shutdown): forwarded; the role ends the app and stops the
 *   work VMs; we exit 0. The next boot resumes from the journal (a paused app, not an ended one).
 */
async function superviseFlow(first) {
  let cfg = first;
  let child = null;
  let stopping = false;
  for (const sig of ['SIGTERM', 'SIGINT']) {
    process.on(sig, () => {
      stopping = true;
      if (child) child.kill(sig);
      else process.exit(0);
    });
  }
  let lastEnd = readJson(ENDED_MARKER());
  for (;;) {
    if (lastEnd && !lastEnd.redeploy && lastEnd.bundleSha256 === cfg.bundleSha256) {
      log(
        `the app of bundle ${cfg.bundleSha256.slice(0, 12)} has ended (exit ${lastEnd.exitCode}: ${lastEnd.message}); ` +
          'its work VMs are not started again. Waiting for a redeploy (a new bundle in the metadata).',
      );
      await waitForNewBundle(cfg.bundleSha256);
      cfg = await readConfig();
      continue;
    }
    rmSync(END_FILE(), { force: true });
    const keep = (await attr('lightning-keep-work-vms', 'false')) === 'true';
    const extra = ['--end-file', END_FILE()];
    if (keep) extra.push('--keep-vms');
    // The previous app left work VMs running (--keep-vms, or a stop that failed): their
    // daemons have exited, so restart them for this app (they boot the current bundle).
    if (lastEnd?.workVms === 'kept' || lastEnd?.workVms === 'stop-failed') extra.push('--restart-work-vms');
    child = await startRole(cfg, extra);
    rmSync(ENDED_MARKER(), { force: true });
    const running = child;
    const exited = new Promise((resolve) => running.on('exit', (code, signal) => resolve({ code, signal })));
    const watch = new AbortController();
    waitForNewBundle(cfg.bundleSha256, watch.signal).then(
      (sha) => {
        log(
          `redeploy: bundle ${cfg.bundleSha256.slice(0, 12)} → ${sha.slice(0, 12)}; ending the app, then restarting on the new bundle`,
        );
        running.kill('SIGHUP');
      },
      () => {},
    );
    const { code, signal } = await exited;
    watch.abort();
    child = null;
    log(`role exited (${signal ?? code})`);
    const end = readJson(END_FILE());
    // No end record: the role crashed. systemd restarts us; the role resumes from its journal.
    if (!end) process.exit(code || 1);
    if (stopping) process.exit(0);
    lastEnd = { ...end, bundleSha256: cfg.bundleSha256 };
    if (!end.redeploy) {
      writeFileSync(ENDED_MARKER(), `${JSON.stringify(lastEnd)}\n`);
      log(
        `the app ended (exit ${end.exitCode}: ${end.message}); work VMs ${end.workVms}. ` +
          'This VM stays up and starts the app again when a new bundle is deployed.',
      );
      await waitForNewBundle(cfg.bundleSha256);
    }
    cfg = await readConfig();
  }
}

if (process.argv[2] === 'run') {
  run().catch((err) => {
    log(`failed: ${err.message}`);
    process.exit(1);
  });
}
