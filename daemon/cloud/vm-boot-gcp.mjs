// What the VM boot program (vm-boot.mjs) asks of GCP: instance metadata, the VM's own
// service-account token, the app bundle from the bucket (verified), the app's secrets from
// Secret Manager and the flow's certificate. Plain JavaScript with Node built-ins only, like
// vm-boot.mjs, beside which the startup script writes it on every VM.
//
// Test seams (never set on a VM): GCE_METADATA_HOST, STORAGE_EMULATOR_HOST,
// LIGHTNING_SECRET_MANAGER_ENDPOINT, LIGHTNING_BOOT_ROOT, LIGHTNING_RUNTIME_DIR.
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const META = `http://${process.env.GCE_METADATA_HOST || 'metadata.google.internal'}/computeMetadata/v1`;
const STORAGE = storageBase(process.env.STORAGE_EMULATOR_HOST);
const SECRETS = process.env.LIGHTNING_SECRET_MANAGER_ENDPOINT || 'https://secretmanager.googleapis.com';
export const ROOT = process.env.LIGHTNING_BOOT_ROOT || '/opt/lightning';
export const RUNTIME_DIR =
  process.env.LIGHTNING_RUNTIME_DIR || process.env.RUNTIME_DIRECTORY || '/run/lightning';

function storageBase(host) {
  if (!host) return 'https://storage.googleapis.com';
  const withScheme = /^https?:\/\//.test(host) ? host : `http://${host}`;
  return withScheme.replace(/\/+$/, '').replace(/\/storage\/v1$/, '');
}

export function log(msg) {
  process.stderr.write(`lightning-boot: ${msg}\n`);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Retries transient failures (the metadata server and APIs can be briefly unreachable at boot). */
async function retry(what, fn, { attempts = 8, maxDelayMs = 10_000, retryIf = () => true } = {}) {
  let delay = 500;
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= attempts || !retryIf(err)) throw err;
      log(`${what} failed (${err.message}); retry ${i} in ${delay} ms`);
      await sleep(delay);
      delay = Math.min(delay * 2, maxDelayMs);
    }
  }
}

class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export async function http(url, init = {}) {
  const res = await fetch(url, init);
  if (!res.ok) {
    const body = await res.text().catch(() => '');
    throw new HttpError(
      res.status,
      `${init.method || 'GET'} ${url.split('?')[0]} → ${res.status} ${body.slice(0, 200)}`,
    );
  }
  return res;
}

export async function metadata(path) {
  const res = await retry(
    `metadata ${path}`,
    () => http(`${META}/${path}`, { headers: { 'Metadata-Flavor': 'Google' } }),
    {
      retryIf: (e) => e.status !== 404,
    },
  );
  return res.text();
}

export async function attr(key, fallback) {
  try {
    return await metadata(`instance/attributes/${key}`);
  } catch (err) {
    if (err.status === 404 && fallback !== undefined) return fallback;
    throw new Error(
      `instance metadata attribute ${key} is missing (${err.message}); was this VM created by lightning-local synth?`,
    );
  }
}

async function accessToken() {
  const body = JSON.parse(await metadata('instance/service-accounts/default/token'));
  return body.access_token;
}

export async function downloadBundle(bucket, object, sha256) {
  const dir = join(ROOT, 'bundles', sha256);
  if (existsSync(join(dir, '.complete'))) return dir;
  const token = await accessToken();
  const url = `${STORAGE}/storage/v1/b/${encodeURIComponent(bucket)}/o/${encodeURIComponent(object)}?alt=media`;
  const res = await retry('bundle download', () =>
    http(url, { headers: { Authorization: `Bearer ${token}` } }),
  );
  const bytes = Buffer.from(await res.arrayBuffer());
  // The bucket is writable by the works; the expected hash comes from instance metadata,
  // which only Terraform (not a work) can change. A replaced bundle is refused, not run.
  const actual = createHash('sha256').update(bytes).digest('hex');
  if (actual !== sha256) {
    throw new Error(
      `bundle gs://${bucket}/${object} has sha256 ${actual}, metadata expects ${sha256}; refusing to run it. Redeploy with cdktf deploy.`,
    );
  }
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const tgz = join(tmp, '.bundle.tar.gz');
  writeFileSync(tgz, bytes);
  const tar = spawnSync('tar', ['-xzf', tgz, '-C', tmp, '--no-same-owner'], { stdio: 'inherit' });
  if (tar.status !== 0) throw new Error(`tar could not extract the bundle (exit ${tar.status})`);
  rmSync(tgz);
  writeFileSync(join(tmp, '.complete'), sha256);
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return dir;
}

function secretUrl(project, secret) {
  return `${SECRETS}/v1/projects/${encodeURIComponent(project)}/secrets/${encodeURIComponent(secret)}`;
}

/** The latest version's payload, or undefined when the secret has no (enabled) version yet. */
async function readSecret(project, secret) {
  const token = await accessToken();
  try {
    const res = await retry(
      `secret ${secret}`,
      () =>
        http(`${secretUrl(project, secret)}/versions/latest:access`, {
          headers: { Authorization: `Bearer ${token}` },
        }),
      {
        retryIf: (e) => !(e.status === 404 || e.status === 400 || e.status === 403),
      },
    );
    const body = await res.json();
    return Buffer.from(body.payload.data, 'base64').toString('utf8');
  } catch (err) {
    // No version yet: 404 NOT_FOUND, or 400 FAILED_PRECONDITION when the latest is disabled.
    if (err.status === 404 || err.status === 400) return undefined;
    throw err;
  }
}

async function addSecretVersion(project, secret, value) {
  const token = await accessToken();
  await retry(`add version to ${secret}`, () =>
    http(`${secretUrl(project, secret)}:addVersion`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ payload: { data: Buffer.from(value).toString('base64') } }),
    }),
  );
}

/** A self-signed certificate for the flow's internal IP (daemons pin it), made with openssl. */
function makeCertificate(ip, dir) {
  const key = join(dir, 'gen-key.pem');
  const cert = join(dir, 'gen-cert.pem');
  const r = spawnSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '3650',
      '-subj',
      '/CN=lightning-flow',
      '-addext',
      `subjectAltName=IP:${ip}`,
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  if (r.status !== 0) throw new Error(`openssl could not create the flow certificate: ${r.stderr}`);
  const out = { keyPem: readFileSync(key, 'utf8'), certPem: readFileSync(cert, 'utf8') };
  rmSync(key);
  rmSync(cert);
  return out;
}

/**
 * The flow creates the app token and its TLS identity once, on first boot, and stores them in
 * Secret Manager; later boots (and daemons) read them back. Nothing secret is in Terraform.
 */
export async function flowSecrets(cfg) {
  const existing = await readSecret(cfg.project, cfg.tokenSecret);
  const key = existing && (await readSecret(cfg.project, cfg.tlsKeySecret));
  if (existing && key) {
    const shared = JSON.parse(existing);
    return { token: shared.token, certPem: shared.certPem, keyPem: key };
  }
  log('first boot of this deployment: creating the app token and the flow TLS certificate');
  const { keyPem, certPem } = makeCertificate(cfg.flowIp, RUNTIME_DIR);
  const token = randomBytes(32).toString('base64url');
  // Key first: a daemon that sees the new token must find a flow that has the matching key.
  await addSecretVersion(cfg.project, cfg.tlsKeySecret, keyPem);
  await addSecretVersion(cfg.project, cfg.tokenSecret, JSON.stringify({ token, certPem }));
  return { token, certPem, keyPem };
}

export async function workSecrets(cfg) {
  // The flow writes the token on its first boot; wait for it (works may boot first).
  for (let delay = 2000; ; delay = Math.min(delay * 2, 30_000)) {
    const shared = await readSecret(cfg.project, cfg.tokenSecret);
    if (shared) return JSON.parse(shared);
    log(`the flow has not published the app token yet; waiting ${delay} ms`);
    await sleep(delay);
  }
}
