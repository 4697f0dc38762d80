/**
 * On a local Drive, uploadOutputs hands the Work's files over (the objects are those very
 * inodes, made read-only) and releaseOutputs gives the Work private writable copies back
 * before it runs again, leaving inputs it just fetched as links. Writing the released files
 * never reaches the Drive.
 */
import { access, chmod, constants, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalDrive } from '../../daemon/drive/local-drive.ts';
import { fetchPath, releaseOutputs, uploadOutputs } from '../../daemon/drive/path-transfer.ts';

let base: string;
beforeEach(async () => {
  base = await mkdtemp(join(tmpdir(), 'hand-over-'));
});
afterEach(() => rm(base, { recursive: true, force: true }));

describe('uploads that hand files over', () => {
  it('share the inode with the object, read-only; release makes private writable copies', async () => {
    const drive = await new LocalDrive(join(base, 'drive')).init();
    const work = join(base, 'work');
    await mkdir(join(work, 'logs', 'v0'), { recursive: true });
    await writeFile(join(work, 'model.pt'), 'weights v1');
    await writeFile(join(work, 'run.sh'), '#!/bin/sh\necho hi\n');
    await chmod(join(work, 'run.sh'), 0o755);
    await writeFile(join(work, 'logs', 'v0', 'events'), 'e1');
    const outputs = ['model.pt', 'run.sh', 'logs/'];
    await uploadOutputs(drive, 'root.a', work, outputs);

    const object = (rel: string) => join(base, 'drive', 'works', 'root.a', rel);
    for (const rel of ['model.pt', 'run.sh', 'logs/v0/events']) {
      const [w, o] = [await stat(join(work, rel)), await stat(object(rel))];
      expect(w.ino, rel).toBe(o.ino);
      expect(w.mode & 0o222, rel).toBe(0);
    }
    expect((await stat(object('run.sh'))).mode & 0o111).toBe(0o111); // still executable
    const generation = (await drive.stat('works/root.a/model.pt')).generation;

    const released = await releaseOutputs(work, outputs);
    expect(released.sort()).toEqual(
      [join(work, 'logs', 'v0', 'events'), join(work, 'model.pt'), join(work, 'run.sh')].sort(),
    );
    for (const rel of ['model.pt', 'run.sh', 'logs/v0/events']) {
      expect((await stat(join(work, rel))).ino, rel).not.toBe((await stat(object(rel))).ino);
      await access(join(work, rel), constants.W_OK);
    }
    expect((await stat(join(work, 'run.sh'))).mode & 0o111).toBe(0o111);
    await writeFile(join(work, 'model.pt'), 'weights v2');
    await writeFile(join(work, 'logs', 'v0', 'events'), 'e2');
    expect(await readFile(object('model.pt'), 'utf8')).toBe('weights v1');
    expect(await readFile(object('logs/v0/events'), 'utf8')).toBe('e1');
    expect((await drive.stat('works/root.a/model.pt')).generation).toBe(generation);
    // Nothing left to release: the files are the Work's own now.
    expect(await releaseOutputs(work, outputs)).toEqual([]);
  });

  it('passing a fetched file on links it again without changing its generation; release leaves fetched inputs alone', async () => {
    const drive = await new LocalDrive(join(base, 'drive')).init();
    const a = join(base, 'a');
    const b = join(base, 'b');
    await mkdir(a, { recursive: true });
    await writeFile(join(a, 'model.pt'), 'weights');
    const [path] = await uploadOutputs(drive, 'root.a', a, ['model.pt']);
    const before = await drive.stat('works/root.a/model.pt');
    const local = await fetchPath(drive, path!, join(b, 'model.pt'));
    await uploadOutputs(drive, 'root.b', b, ['model.pt']);
    const passed = await drive.stat('works/root.b/model.pt');
    expect(passed.generation).toBe(before.generation); // one inode, untouched
    expect((await drive.stat('works/root.a/model.pt')).generation).toBe(before.generation);
    expect(await releaseOutputs(b, ['model.pt'], new Set([local]))).toEqual([]);
    expect((await stat(join(b, 'model.pt'))).ino).toBe((await stat(join(a, 'model.pt'))).ino);
  });
});
