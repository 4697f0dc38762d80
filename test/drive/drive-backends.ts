/**
 * The Drive backends every conformance test runs against. Each backend opens a fresh,
 * empty Drive per test and exposes a "canary" outside that Drive's root: a place a
 * traversal bug would write to, checked to stay untouched.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Storage } from '@google-cloud/storage';
import type { Drive } from '../../constructs/drive.ts';
import { openDrive } from '../../daemon/drive/open-drive.ts';
import { type GcsEmulator, startGcsEmulator } from '../support/gcs-emulator.ts';

export interface BackendFixture {
  readonly drive: Drive;
  /** A scratch directory for source and destination files (not part of the Drive). */
  readonly scratch: string;
  /** Reads the canary outside the Drive root (must never change). */
  readCanary(): Promise<string>;
  /** Lists everything the backend stores for this Drive, including anything hidden from list(). */
  rawEntries(): Promise<string[]>;
  dispose(): Promise<void>;
}

export interface Backend {
  readonly name: string;
  /** Starts what the backend needs (an emulator); called once in beforeAll. */
  start(): Promise<void>;
  stop(): Promise<void>;
  fresh(): Promise<BackendFixture>;
}

export const CANARY_TEXT = 'canary: must never change';

export const localBackend: Backend = {
  name: 'local',
  async start() {},
  async stop() {},
  async fresh() {
    const { readFile, writeFile, readdir } = await import('node:fs/promises');
    const base = await mkdtemp(join(tmpdir(), 'drive-local-'));
    // The canary sits right beside the Drive root, where "../canary" would land.
    await writeFile(join(base, 'canary'), CANARY_TEXT);
    const root = join(base, 'drive');
    const scratch = join(base, 'scratch');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(scratch);
    const drive = await openDrive(root);
    return {
      drive,
      scratch,
      readCanary: () => readFile(join(base, 'canary'), 'utf8'),
      async rawEntries() {
        const entries = await readdir(root, { recursive: true, withFileTypes: true });
        return entries
          .filter((e) => !e.isDirectory())
          .map((e) => join(e.parentPath, e.name).slice(root.length + 1))
          .sort();
      },
      dispose: () => rm(base, { recursive: true, force: true }),
    };
  },
};

/**
 * GCS through a real emulator (fake-gcs-server) started on a free port. Each fixture gets
 * its own bucket; the canary is an object in a second bucket plus one outside the Drive's
 * prefix in the same bucket.
 */
export function gcsBackend(): Backend {
  let emu: GcsEmulator | undefined;
  let n = 0;
  return {
    name: 'gcs-emulator',
    async start() {
      emu = await startGcsEmulator();
    },
    async stop() {
      await emu?.stop();
      emu = undefined;
    },
    async fresh() {
      if (!emu) throw new Error('gcs backend not started');
      const endpoint = emu.endpoint;
      const bucket = `drive-test-${process.pid}-${++n}`;
      const storage = new Storage({ apiEndpoint: endpoint, projectId: 'test' });
      const [b] = await storage.createBucket(bucket);
      await b.file('canary').save(CANARY_TEXT);
      const drive = await openDrive(`gs://${bucket}/app`, {
        apiEndpoint: endpoint,
        maxRetries: 1,
        retryDelayMs: 50,
      });
      const base = await mkdtemp(join(tmpdir(), 'drive-gcs-'));
      return {
        drive,
        scratch: base,
        async readCanary() {
          const [buf] = await b.file('canary').download();
          return buf.toString();
        },
        async rawEntries() {
          const [files] = await b.getFiles({ prefix: 'app/' });
          return files.map((f) => f.name.slice('app/'.length)).sort();
        },
        async dispose() {
          await rm(base, { recursive: true, force: true });
        },
      };
    },
  };
}
