/**
 * Local-only behaviour: fetches are hard links (or copies), objects are read-only and never
 * modified in place, and create-only writers racing from separate processes get exactly one
 * winner.
 */
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalDrive } from '../../daemon/drive/local-drive.ts';
import { openDrive } from '../../daemon/drive/open-drive.ts';
import { localDriveProcess } from '../support/local-drive-process.ts';

let base: string;
beforeEach(async () => {
  base = await mkdtemp(join(tmpdir(), 'drive-links-'));
});
afterEach(() => rm(base, { recursive: true, force: true }));

describe('local Drive', () => {
  it('fetches by hard link: no bytes copied, and a later put does not change the fetched file', async () => {
    const drive = await new LocalDrive(join(base, 'drive')).init();
    await drive.put('m/model.pt', Buffer.from('v1'));
    const dest = join(base, 'work', 'model.pt');
    await drive.get('m/model.pt', dest);
    const [a, b] = [await stat(join(base, 'drive', 'm', 'model.pt')), await stat(dest)];
    expect(b.ino).toBe(a.ino);
    expect(a.mode & 0o222).toBe(0); // read-only: a consumer cannot edit the Drive through its link
    await drive.put('m/model.pt', Buffer.from('v2'));
    expect(await readFile(dest, 'utf8')).toBe('v1');
    expect((await drive.read('m/model.pt')).toString()).toBe('v2');
  });

  it("fetchMode 'copy' gives the reader its own file", async () => {
    const drive = await new LocalDrive(join(base, 'drive'), { fetchMode: 'copy' }).init();
    await drive.put('k', Buffer.from('data'));
    await drive.get('k', join(base, 'copy'));
    expect((await stat(join(base, 'copy'))).ino).not.toBe((await stat(join(base, 'drive', 'k'))).ino);
    expect(await readFile(join(base, 'copy'), 'utf8')).toBe('data');
  });

  it('openDrive accepts a plain path and a file:// URL for the same directory', async () => {
    const a = await openDrive(join(base, 'd'));
    const b = await openDrive(a.url);
    await a.put('x', Buffer.from('1'));
    expect(b.url).toBe(a.url);
    expect((await b.read('x')).toString()).toBe('1');
    await expect(openDrive('s3://bucket/x')).rejects.toThrow(/unsupported scheme/);
  });

  it('a key whose parent is an object is a CONFLICT naming the reason', async () => {
    const drive = await new LocalDrive(join(base, 'drive')).init();
    await drive.put('a', Buffer.from('file'));
    await expect(drive.put('a/b', Buffer.from('x'))).rejects.toMatchObject({ driveCode: 'CONFLICT' });
    await drive.put('c/d', Buffer.from('x'));
    await expect(drive.put('c', Buffer.from('x'))).rejects.toMatchObject({ driveCode: 'CONFLICT' });
    expect((await drive.list()).map((s) => s.key)).toEqual(['a', 'c/d']);
  });

  it('create-only writers in separate processes: exactly one wins', async () => {
    const root = join(base, 'drive');
    await new LocalDrive(root).init();
    const run = await localDriveProcess(
      base,
      root,
      `const me = process.argv[2];
try {
  await d.put('leader', Buffer.from(me.repeat(1 << 20)), { ifGeneration: '0' });
  console.log('won');
} catch (e) {
  console.log(e.driveCode);
}`,
    );
    const outcomes = await Promise.all(['a', 'b', 'c', 'd'].map(run));
    expect(outcomes.filter((o) => o === 'won')).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'CONFLICT')).toHaveLength(3);
    const winner = ['a', 'b', 'c', 'd'][outcomes.indexOf('won')] as string;
    expect(await readFile(join(root, 'leader'), 'utf8')).toBe(winner.repeat(1 << 20));
  });
});
