/**
 * The local Drive's bulk directory transfers (daemon/drive/local-bulk.ts) keep put()'s
 * guarantees per object: writers in separate processes racing on one tree leave every
 * object whole (one writer's version), readers never see a torn object, no temp files stay
 * behind; a symlinked directory still cannot carry a putDirectory outside the root; files
 * too big for the synchronous path and symlinked files go through the ordinary path.
 */
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RESERVED_SEGMENT_PREFIX } from '../../constructs/drive-key.ts';
import { LocalDrive } from '../../daemon/drive/local-drive.ts';
import { localDriveProcess } from '../support/local-drive-process.ts';

let base: string;
beforeEach(async () => {
  base = await mkdtemp(join(tmpdir(), 'drive-bulk-'));
});
afterEach(() => rm(base, { recursive: true, force: true }));

/** File i's size: small (synchronous path) and a few above 64 KiB (async path). */
const sizeOf = (i: number) => (i % 25 === 0 ? 70_000 + i : 100 + i * 37);
const FILES = 150;

/** A tree whose every file is `letter` repeated, so a torn or mixed object is visible. */
async function makeTree(dir: string, letter: string): Promise<void> {
  for (let i = 0; i < FILES; i++) {
    const sub = join(dir, `d${i % 7}`);
    await mkdir(sub, { recursive: true });
    await writeFile(join(sub, `f${i}.txt`), letter.repeat(sizeOf(i)));
  }
}

async function reservedLeftovers(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.name.startsWith(RESERVED_SEGMENT_PREFIX)) out.push(join(e.parentPath, e.name));
  }
  return out;
}

describe('local Drive bulk transfers', () => {
  it('writers in separate processes racing on one tree leave every object whole; readers never see a torn one', async () => {
    const root = join(base, 'drive');
    const drive = await new LocalDrive(root).init();
    await makeTree(join(base, 'src-a'), 'a');
    await makeTree(join(base, 'src-b'), 'b');
    const run = await localDriveProcess(
      base,
      root,
      "for (let r = 0; r < 4; r++) await d.putDirectory(process.argv[2], 'tree/');\nconsole.log('done');",
    );
    const writers = Promise.all([run(join(base, 'src-a')), run(join(base, 'src-b'))]);
    let finished = false;
    void writers.finally(() => {
      finished = true;
    });
    // Read while they write: every object seen is one writer's whole version.
    let reads = 0;
    while (!finished) {
      for (const s of await drive.list('tree/')) {
        const i = Number(/f(\d+)\.txt$/.exec(s.key)?.[1]);
        const body = await drive.read(s.key).catch(() => undefined); // replaced meanwhile: fine
        if (body === undefined) continue;
        const text = body.toString();
        expect(text.length, s.key).toBe(sizeOf(i));
        expect(text === 'a'.repeat(text.length) || text === 'b'.repeat(text.length), s.key).toBe(true);
        reads++;
      }
    }
    expect(await writers).toEqual(['done', 'done']);
    expect(reads).toBeGreaterThan(0);
    const objects = await drive.list('tree/');
    expect(objects).toHaveLength(FILES);
    for (const s of objects) {
      const text = (await drive.read(s.key)).toString();
      expect(text === 'a'.repeat(text.length) || text === 'b'.repeat(text.length), s.key).toBe(true);
      expect(text.length).toBe(s.size);
    }
    expect(await reservedLeftovers(root)).toEqual([]);
  });

  it('puts and gets a tree with big files and a symlinked file, stats matching what was placed', async () => {
    const drive = await new LocalDrive(join(base, 'drive')).init();
    const src = join(base, 'src');
    await makeTree(src, 'x');
    await writeFile(join(base, 'target.txt'), 'through a link');
    await symlink(join(base, 'target.txt'), join(src, 'linked.txt'));
    const put = await drive.putDirectory(src, 'logs/');
    expect(put.map((s) => s.key)).toEqual((await drive.list('logs/')).map((s) => s.key));
    expect(put).toHaveLength(FILES + 1);
    // Objects are regular read-only files (the symlink's target was copied in, not the link).
    const stored = join(base, 'drive', 'logs', 'linked.txt');
    expect((await lstat(stored)).isFile()).toBe(true);
    expect((await stat(stored)).mode & 0o222).toBe(0);
    for (const s of put) expect(s).toEqual(await drive.stat(s.key));

    const out = join(base, 'out');
    await mkdir(join(out, 'd0'), { recursive: true });
    await writeFile(join(out, 'd0', 'f0.txt'), 'an older file the get replaces');
    const got = await drive.getDirectory('logs/', out);
    expect(got.map((s) => s.key)).toEqual(put.map((s) => s.key));
    for (const s of got) {
      const rel = s.key.slice('logs/'.length);
      // Hard links by default: the very inode of the object, whatever was at the destination.
      expect((await stat(join(out, rel))).ino).toBe((await stat(join(base, 'drive', s.key))).ino);
    }
    expect(await readFile(join(out, 'd0', 'f0.txt'), 'utf8')).toBe('x'.repeat(sizeOf(0)));
    expect(await readFile(join(out, 'linked.txt'), 'utf8')).toBe('through a link');

    const copies = join(base, 'copies');
    const copyDrive = new LocalDrive(join(base, 'drive'), { fetchMode: 'copy' });
    await copyDrive.getDirectory('logs', copies);
    const [a, b] = [
      await stat(join(copies, 'd0', 'f0.txt')),
      await stat(join(base, 'drive', 'logs', 'd0', 'f0.txt')),
    ];
    expect(a.ino).not.toBe(b.ino);
    expect(await readFile(join(copies, 'd0', 'f0.txt'), 'utf8')).toBe('x'.repeat(sizeOf(0)));
    expect(await reservedLeftovers(base)).toEqual([]);
  });

  it('refuses a putDirectory through a symlinked directory that leads out of the root, writing nothing there', async () => {
    const root = join(base, 'drive');
    const drive = await new LocalDrive(root).init();
    const outside = join(base, 'outside');
    await mkdir(outside);
    await symlink(outside, join(root, 'evil'));
    const src = join(base, 'src');
    await makeTree(src, 'p');
    await expect(drive.putDirectory(src, 'evil/')).rejects.toThrow(/outside the Drive root/);
    expect(await readdir(outside)).toEqual([]);
    // A tree with a key no backend accepts is refused before anything is written.
    await writeFile(join(src, 'bad\u2028name'), 'x');
    await expect(drive.putDirectory(src, 'ok/')).rejects.toMatchObject({ driveCode: 'INVALID_KEY' });
    expect(await drive.list('ok/')).toEqual([]);
  });
});
