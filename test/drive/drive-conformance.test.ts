/**
 * One conformance suite for every Drive backend: the same calls must give the same answers
 * (values, ordering and error codes) locally and on GCS.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { TransferProgress } from '../../constructs/drive.ts';
import { DriveError } from '../../constructs/errors.ts';
import { type Backend, type BackendFixture, CANARY_TEXT } from './drive-backends.ts';
import { BACKENDS } from './drive-backends-all.ts';

function sha(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

async function driveError(p: Promise<unknown>): Promise<DriveError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof DriveError) return err;
    throw new Error(`expected a DriveError, got ${String(err)}`, { cause: err });
  }
  throw new Error('expected a DriveError, but the call succeeded');
}

/** Bad keys and the rule each breaks: identical on every backend. */
const BAD_KEYS: readonly (readonly [string, string])[] = [
  ['../canary', 'dot-segment'],
  ['a/../../canary', 'dot-segment'],
  ['./a', 'dot-segment'],
  ['/etc/passwd', 'absolute'],
  ['a\\..\\canary', 'backslash'],
  ['a\u0000b', 'control-character'],
  ['a\nb', 'control-character'],
  ['%2e%2e/canary', 'encoded-dot-segment'],
  ['a/%2E%2e/canary', 'encoded-dot-segment'],
  ['.%2e/canary', 'encoded-dot-segment'],
  ['a//b', 'empty-segment'],
  ['', 'empty'],
  ['C:/x', 'drive-letter'],
  [`a/${'x'.repeat(256)}`, 'segment-too-long'],
  [`${'abcdefgh/'.repeat(114)}end`, 'too-long'],
  ['a/.lightning-drive-tmp-1234', 'reserved'],
];

describe.each(BACKENDS)('Drive conformance: $name', (backend: Backend) => {
  let f: BackendFixture;
  beforeAll(() => backend.start());
  afterAll(() => backend.stop());
  beforeEach(async () => {
    f = await backend.fresh();
  });
  afterEach(() => f.dispose());

  it('stores bytes, files and streams, and reads them back byte for byte', async () => {
    const bytes = randomBytes(100_000);
    const file = join(f.scratch, 'src.bin');
    const fileBytes = randomBytes(300_000);
    await writeFile(file, fileBytes);

    const s1 = await f.drive.put('a/bytes.bin', bytes);
    const s2 = await f.drive.put('a/file.bin', file);
    const s3 = await f.drive.put('a/stream.bin', Readable.from([bytes.subarray(0, 10), bytes.subarray(10)]));
    expect([s1.size, s2.size, s3.size]).toEqual([100_000, 300_000, 100_000]);
    expect(s1.key).toBe('a/bytes.bin');

    expect(sha(await f.drive.read('a/bytes.bin'))).toBe(sha(bytes));
    expect(sha(await f.drive.read('a/stream.bin'))).toBe(sha(bytes));
    const dest = join(f.scratch, 'out', 'deep', 'file.bin');
    const got = await f.drive.get('a/file.bin', dest);
    expect(got.size).toBe(300_000);
    expect(sha(await readFile(dest))).toBe(sha(fileBytes));
  });

  it('stores empty objects', async () => {
    await f.drive.put('empty', new Uint8Array(0));
    expect((await f.drive.stat('empty')).size).toBe(0);
    expect((await f.drive.read('empty')).length).toBe(0);
  });

  it('stat, exists and delete agree; deleting a missing key is not an error', async () => {
    await f.drive.put('x/y.txt', Buffer.from('hello'));
    const st = await f.drive.stat('x/y.txt');
    expect(st).toMatchObject({ key: 'x/y.txt', size: 5 });
    expect(st.generation).not.toBe('0');
    expect(st.mtimeMs).toBeGreaterThan(0);
    expect(await f.drive.exists('x/y.txt')).toBe(true);
    expect(await f.drive.exists('x')).toBe(false); // a prefix is not an object
    await f.drive.delete('x/y.txt');
    expect(await f.drive.exists('x/y.txt')).toBe(false);
    await f.drive.delete('x/y.txt');
    await f.drive.delete('never/was');
    expect(await f.drive.list()).toEqual([]);
  });

  it('reports a missing object as NOT_FOUND with its key, for every read', async () => {
    for (const call of [
      () => f.drive.read('nope/missing'),
      () => f.drive.stat('nope/missing'),
      () => f.drive.get('nope/missing', join(f.scratch, 'missing')),
    ]) {
      const err = await driveError(call());
      expect(err.driveCode).toBe('NOT_FOUND');
      expect(err.key).toBe('nope/missing');
      expect(err.message).toContain('nope/missing');
    }
    await f.drive.put('dir/inside', Buffer.from('x'));
    expect((await driveError(f.drive.read('dir'))).driveCode).toBe('NOT_FOUND');
    await expect(stat(join(f.scratch, 'missing'))).rejects.toThrow();
  });

  it('lists by string prefix, sorted by UTF-8 bytes', async () => {
    // U+FF21 sorts before U+1F600 in UTF-8 but after it in UTF-16.
    const keys = ['b/2', 'b/10', 'a', 'b/1', 'bc', 'b/\uff21', 'b/\u{1f600}', 'c/d/e'];
    for (const k of keys) await f.drive.put(k, Buffer.from(k));
    expect((await f.drive.list()).map((s) => s.key)).toEqual([
      'a',
      'b/1',
      'b/10',
      'b/2',
      'b/\uff21',
      'b/\u{1f600}',
      'bc',
      'c/d/e',
    ]);
    expect((await f.drive.list('b/')).map((s) => s.key)).toEqual([
      'b/1',
      'b/10',
      'b/2',
      'b/\uff21',
      'b/\u{1f600}',
    ]);
    expect((await f.drive.list('b/1')).map((s) => s.key)).toEqual(['b/1', 'b/10']);
    expect((await f.drive.list('b')).map((s) => s.key)).toHaveLength(6);
    expect(await f.drive.list('zzz/')).toEqual([]);
    const sizes = (await f.drive.list('c/')).map((s) => s.size);
    expect(sizes).toEqual([5]);
  });

  it('normalises keys to NFC: two spellings name one object', async () => {
    await f.drive.put('caf\u0065\u0301.txt', Buffer.from('nfd'));
    expect((await f.drive.read('caf\u00e9.txt')).toString()).toBe('nfd');
    expect((await f.drive.list()).map((s) => s.key)).toEqual(['caf\u00e9.txt']);
  });

  it('rejects every bad key with the same rule on every call, writing nothing anywhere', async () => {
    const dest = join(f.scratch, 'dest');
    for (const [key, rule] of BAD_KEYS) {
      const calls: [string, () => Promise<unknown>][] = [
        ['put', () => f.drive.put(key, Buffer.from('evil'))],
        ['get', () => f.drive.get(key, dest)],
        ['read', () => f.drive.read(key)],
        ['stat', () => f.drive.stat(key)],
        ['exists', () => f.drive.exists(key)],
        ['delete', () => f.drive.delete(key)],
      ];
      for (const [op, call] of calls) {
        const err = await driveError(call());
        expect({ op, key, code: err.driveCode, rule: err.rule }).toEqual({
          op,
          key,
          code: 'INVALID_KEY',
          rule,
        });
        expect(err.message).toMatch(/Invalid Drive key/);
      }
    }
    expect((await driveError(f.drive.list('../'))).rule).toBe('dot-segment');
    expect((await driveError(f.drive.putDirectory(f.scratch, '../'))).rule).toBe('dot-segment');
    expect(await f.readCanary()).toBe(CANARY_TEXT);
    expect(await f.rawEntries()).toEqual([]);
    await expect(stat(dest)).rejects.toThrow();
  });

  it('create-only puts (ifGeneration "0") conflict when the key exists and leave it unchanged', async () => {
    const first = await f.drive.put('lock', Buffer.from('first'), { ifGeneration: '0' });
    const err = await driveError(f.drive.put('lock', Buffer.from('second'), { ifGeneration: '0' }));
    expect(err.driveCode).toBe('CONFLICT');
    expect(err.key).toBe('lock');
    expect((await f.drive.read('lock')).toString()).toBe('first');
    expect((await f.drive.stat('lock')).generation).toBe(first.generation);
  });

  it('generation preconditions: the current generation wins, a stale one conflicts', async () => {
    const g1 = await f.drive.put('doc', Buffer.from('v1'));
    const g2 = await f.drive.put('doc', Buffer.from('v2'), { ifGeneration: g1.generation });
    expect(g2.generation).not.toBe(g1.generation);
    const err = await driveError(f.drive.put('doc', Buffer.from('v3'), { ifGeneration: g1.generation }));
    expect(err.driveCode).toBe('CONFLICT');
    expect((await f.drive.read('doc')).toString()).toBe('v2');
    // Rewriting identical bytes still makes a new generation.
    const g3 = await f.drive.put('doc', Buffer.from('v2'));
    expect(g3.generation).not.toBe(g2.generation);
    const absent = await driveError(
      f.drive.put('nothing', Buffer.from('x'), { ifGeneration: g1.generation }),
    );
    expect(absent.driveCode).toMatch(/CONFLICT|NOT_FOUND/);
    expect(await f.drive.exists('nothing')).toBe(false);
  });

  it('two writers racing on one key: exactly one wins, the other gets CONFLICT, no torn object', async () => {
    const a = randomBytes(2 * 1024 * 1024);
    const b = randomBytes(2 * 1024 * 1024);
    const results = await Promise.allSettled([
      f.drive.put('race/create', a, { ifGeneration: '0' }),
      f.drive.put('race/create', b, { ifGeneration: '0' }),
    ]);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect((lost[0]?.reason as DriveError | undefined)?.driveCode).toBe('CONFLICT');
    const content = sha(await f.drive.read('race/create'));
    expect([sha(a), sha(b)]).toContain(content);
    expect(results[0]?.status === 'fulfilled' ? sha(a) : sha(b)).toBe(content);

    // Same race with a shared generation: read-modify-write by two writers.
    const base = await f.drive.put('race/update', Buffer.from('base'));
    const updates = await Promise.allSettled(
      [a, b].map((bytes) => f.drive.put('race/update', bytes, { ifGeneration: base.generation })),
    );
    expect(updates.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const loser = updates.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect((loser?.reason as DriveError | undefined)?.driveCode).toBe('CONFLICT');
    const after = sha(await f.drive.read('race/update'));
    expect(updates[0]?.status === 'fulfilled' ? sha(a) : sha(b)).toBe(after);
  });

  it('an upload interrupted midway leaves no partial object under the key', async () => {
    const old = Buffer.from('the old object');
    await f.drive.put('partial/kept', old);
    for (const key of ['partial/new', 'partial/kept']) {
      let sent = 0;
      const failing = new Readable({
        read() {
          if (sent >= 4) {
            this.destroy(new Error('producer crashed'));
            return;
          }
          sent++;
          this.push(randomBytes(256 * 1024));
        },
      });
      await expect(f.drive.put(key, failing)).rejects.toThrow();
    }
    expect(await f.drive.exists('partial/new')).toBe(false);
    expect(await f.drive.read('partial/kept')).toEqual(old);
    expect((await f.drive.list()).map((s) => s.key)).toEqual(['partial/kept']);
    expect(await f.rawEntries()).toEqual(['partial/kept']);
  });

  it('moves a large file with progress and verified content', async () => {
    const size = 40 * 1024 * 1024 + 123;
    const src = join(f.scratch, 'large.bin');
    const data = randomBytes(size);
    await writeFile(src, data);
    const up: TransferProgress[] = [];
    await f.drive.put('big/large.bin', src, { onProgress: (p) => up.push(p) });
    expect(up.at(-1)).toEqual({ key: 'big/large.bin', bytes: size, totalBytes: size });
    const down: TransferProgress[] = [];
    const dest = join(f.scratch, 'large.out');
    await f.drive.get('big/large.bin', dest, { onProgress: (p) => down.push(p) });
    expect(down.at(-1)?.bytes).toBe(size);
    expect(sha(await readFile(dest))).toBe(sha(data));
  });

  it('uploads and downloads whole directories, keeping structure', async () => {
    const src = join(f.scratch, 'logs');
    const files: Record<string, string> = {
      'version_0/events.out': 'e0',
      'version_0/hparams.yaml': 'lr: 1',
      'version_1/events.out': 'e1',
      'top.txt': 'top',
    };
    for (const [rel, text] of Object.entries(files)) {
      await mkdir(join(src, rel, '..'), { recursive: true });
      await writeFile(join(src, rel), text);
    }
    const progress: TransferProgress[] = [];
    const put = await f.drive.putDirectory(src, 'run/lightning_logs/', {
      onProgress: (p) => progress.push(p),
    });
    expect(put.map((s) => s.key).sort()).toEqual(
      Object.keys(files)
        .map((k) => `run/lightning_logs/${k}`)
        .sort(),
    );
    const total = Object.values(files).reduce((n, t) => n + t.length, 0);
    expect(progress.at(-1)).toEqual({ key: 'run/lightning_logs/', bytes: total, totalBytes: total });

    const out = join(f.scratch, 'fetched');
    const got = await f.drive.getDirectory('run/lightning_logs', out);
    expect(got).toHaveLength(4);
    for (const [rel, text] of Object.entries(files))
      expect(await readFile(join(out, rel), 'utf8')).toBe(text);
  });
});
