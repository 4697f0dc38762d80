/**
 * The GCS Drive under faults, against the real emulator: an unreachable endpoint, a flaky
 * network that recovers, uploads cut midway, corrupted downloads, and the emulator found
 * through STORAGE_EMULATOR_HOST.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DriveError } from '../../constructs/errors.ts';
import { openDrive } from '../../daemon/drive/open-drive.ts';
import { freePort, type GcsEmulator, startGcsEmulator } from '../support/gcs-emulator.ts';

let emu: GcsEmulator;
let scratch: string;
let bucketN = 0;
const servers: { server: Server; sockets: Set<Socket> }[] = [];

beforeAll(async () => {
  emu = await startGcsEmulator();
});
afterAll(() => emu.stop());
beforeEach(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'gcs-faults-'));
});
afterEach(async () => {
  for (const { server, sockets } of servers.splice(0)) {
    for (const s of sockets) s.destroy(); // the client keeps connections alive
    await new Promise((r) => server.close(r));
  }
  await rm(scratch, { recursive: true, force: true });
});

function nextBucket(): string {
  return `faults-${process.pid}-${++bucketN}`;
}

async function driveError(p: Promise<unknown>): Promise<DriveError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof DriveError)) throw new Error(`expected a DriveError, got ${String(err)}`);
  return err;
}

interface Proxy {
  endpoint: string;
  /** Connections accepted so far. */
  connections: number;
}

/**
 * A TCP proxy in front of the emulator. `decide(n)` says what to do with the n-th
 * connection (1-based): 'reset' closes it at once, a number cuts it after that many bytes
 * from the client, 'pass' forwards everything.
 */
async function startProxy(decide: (n: number) => 'reset' | 'pass' | number): Promise<Proxy> {
  const state: Proxy = { endpoint: '', connections: 0 };
  const sockets = new Set<Socket>();
  const server = createServer((client: Socket) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    const n = ++state.connections;
    const action = decide(n);
    if (action === 'reset') {
      client.resetAndDestroy();
      return;
    }
    const upstream = connect(emu.port, '127.0.0.1');
    sockets.add(upstream);
    let sent = 0;
    client.on('data', (chunk: Buffer) => {
      sent += chunk.length;
      if (typeof action === 'number' && sent > action) {
        client.resetAndDestroy();
        upstream.destroy();
        return;
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  servers.push({ server, sockets });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  if (typeof addr !== 'object' || !addr) throw new Error('proxy has no address');
  state.endpoint = `http://127.0.0.1:${addr.port}`;
  return state;
}

describe('GCS Drive faults', () => {
  it('an unreachable endpoint is a clear UNAVAILABLE error naming it, after retries, with nothing written', async () => {
    const port = await freePort(); // nothing listens here
    const endpoint = `http://127.0.0.1:${port}`;
    const drive = await openDrive('gs://nowhere-bucket/app', {
      apiEndpoint: endpoint,
      maxRetries: 2,
      retryDelayMs: 10,
    });
    const dest = join(scratch, 'out', 'model.pt');
    for (const call of [
      () => drive.put('k', Buffer.from('x')),
      () => drive.get('k', dest),
      () => drive.list(),
      () => drive.stat('k'),
    ]) {
      const err = await driveError(call());
      expect(err.driveCode).toBe('UNAVAILABLE');
      expect(err.message).toContain(endpoint);
      expect(err.message).toContain('after 3 attempts');
    }
    // get creates its destination only once data arrived and checked out.
    expect(await readdir(join(scratch, 'out')).catch(() => [])).toEqual([]);
  });

  it('retries with backoff: every attempt reaches the network, then gives up', async () => {
    const proxy = await startProxy(() => 'reset');
    const drive = await openDrive('gs://flaky-bucket/app', {
      apiEndpoint: proxy.endpoint,
      maxRetries: 3,
      retryDelayMs: 10,
    });
    const err = await driveError(drive.read('k'));
    expect(err.driveCode).toBe('UNAVAILABLE');
    expect(proxy.connections).toBe(4);
  });

  it('a network that recovers: the call succeeds after transient resets', async () => {
    const bucket = nextBucket();
    await openDrive(`gs://${bucket}`, { apiEndpoint: emu.endpoint, create: true });
    const proxy = await startProxy((n) => (n <= 2 ? 'reset' : 'pass'));
    const drive = await openDrive(`gs://${bucket}/app`, {
      apiEndpoint: proxy.endpoint,
      maxRetries: 5,
      retryDelayMs: 10,
    });
    const data = randomBytes(100_000);
    await drive.put('survivor', data);
    expect(proxy.connections).toBeGreaterThan(2);
    expect((await drive.read('survivor')).equals(data)).toBe(true);
  });

  it('an upload cut midway on every attempt leaves no object, and the old one intact', async () => {
    const bucket = nextBucket();
    const direct = await openDrive(`gs://${bucket}/app`, { apiEndpoint: emu.endpoint, create: true });
    await direct.put('model.pt', Buffer.from('previous model'));
    // Cut each connection after 2 MiB of request bytes: a 24 MiB resumable upload never completes.
    const proxy = await startProxy(() => 2 * 1024 * 1024);
    const drive = await openDrive(`gs://${bucket}/app`, {
      apiEndpoint: proxy.endpoint,
      maxRetries: 1,
      retryDelayMs: 10,
    });
    const src = join(scratch, 'big.bin');
    await writeFile(src, randomBytes(24 * 1024 * 1024));
    const err = await driveError(drive.put('model.pt', src));
    expect(err.driveCode).toBe('UNAVAILABLE');
    await expect(driveError(drive.put('fresh.pt', src))).resolves.toMatchObject({ driveCode: 'UNAVAILABLE' });
    expect((await direct.read('model.pt')).toString()).toBe('previous model');
    expect(await direct.exists('fresh.pt')).toBe(false);
    expect((await direct.list()).map((s) => s.key)).toEqual(['model.pt']);
  });

  it('a corrupted object fails the integrity check on download and leaves no file', async () => {
    const bucket = nextBucket();
    const drive = await openDrive(`gs://${bucket}/app`, { apiEndpoint: emu.endpoint, create: true });
    const data = randomBytes(64 * 1024);
    await drive.put('weights.bin', data);
    // Flip bytes behind the emulator's back: its stored CRC32C/MD5 no longer match.
    if (!emu.dataDir) throw new Error('the fault test needs the filesystem backend');
    const stored = join(emu.dataDir, bucket, 'app', 'weights.bin');
    const bytes = await readFile(stored);
    bytes[1000] = (bytes[1000] ?? 0) ^ 0xff;
    await writeFile(stored, bytes);

    const dest = join(scratch, 'weights.bin');
    const err = await driveError(drive.get('weights.bin', dest));
    expect(err.driveCode).toBe('INTEGRITY');
    expect(err.message).toContain('weights.bin');
    expect(await readdir(scratch)).toEqual([]);
    expect((await driveError(drive.read('weights.bin'))).driveCode).toBe('INTEGRITY');
  });

  it('finds the emulator through STORAGE_EMULATOR_HOST when no endpoint is given', async () => {
    const bucket = nextBucket();
    const saved = process.env.STORAGE_EMULATOR_HOST;
    process.env.STORAGE_EMULATOR_HOST = emu.endpoint;
    try {
      const drive = await openDrive(`gs://${bucket}/p`, { create: true });
      await drive.put('via-env', Buffer.from('ok'));
      expect((await drive.read('via-env')).toString()).toBe('ok');
      expect((await drive.list()).map((s) => s.key)).toEqual(['via-env']);
    } finally {
      if (saved === undefined) delete process.env.STORAGE_EMULATOR_HOST;
      else process.env.STORAGE_EMULATOR_HOST = saved;
    }
  });

  it('rejects malformed gs:// URLs and prefixes before any request', async () => {
    await expect(openDrive('gs://UPPER/x')).rejects.toMatchObject({ driveCode: 'INVALID_KEY' });
    await expect(openDrive('gs://okay-bucket/../etc')).rejects.toMatchObject({ rule: 'dot-segment' });
  });
});
