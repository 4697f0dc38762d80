/**
 * Issue 10 item 9, the Drive: a symlink planted inside the root does not carry a put outside
 * it; keys with lone surrogates or line separators are refused; a file another tool wrote
 * under an NFD name is listed under a key read() finds; `drive cp drive: out/` copies the
 * whole Drive.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateKey } from '../../constructs/drive-key.ts';
import { DriveError } from '../../constructs/errors.ts';
import { openDrive } from '../../daemon/drive/open-drive.ts';
import { CLI } from '../support/app-fixture.ts';

async function tempDrive() {
  const base = await mkdtemp(join(tmpdir(), 'drive-safety-'));
  const root = join(base, 'drive');
  await mkdir(root);
  return { base, root, drive: await openDrive(root) };
}

describe('the local Drive', () => {
  it('refuses a put through a symlinked directory that leads out of the root', async () => {
    const { base, root, drive } = await tempDrive();
    const outside = join(base, 'outside');
    await mkdir(outside);
    await symlink(outside, join(root, 'evil'));
    await expect(drive.put('evil/x.txt', Buffer.from('pwned'))).rejects.toThrow(/outside the Drive root/);
    await expect(drive.put('evil/deeper/x.txt', Buffer.from('pwned'))).rejects.toThrow(DriveError);
    expect(await readdir(outside)).toEqual([]);
    // A symlinked directory that stays inside the root is fine.
    await mkdir(join(root, 'real'));
    await symlink(join(root, 'real'), join(root, 'alias'));
    await drive.put('alias/ok.txt', Buffer.from('ok'));
    expect(await readFile(join(root, 'real', 'ok.txt'), 'utf8')).toBe('ok');
  });

  it.each([
    ['a lone high surrogate', 'models/\uD800.pt', 'lone-surrogate'],
    ['a lone low surrogate', '\uDC00x', 'lone-surrogate'],
    ['U+2028', 'line\u2028break', 'line-separator'],
    ['U+2029', 'para\u2029graph', 'line-separator'],
  ])('refuses a key with %s', (_what, key, rule) => {
    expect(() => validateKey(key)).toThrow(DriveError);
    try {
      validateKey(key);
    } catch (err) {
      expect((err as DriveError).rule).toBe(rule);
    }
    // A real astral character (a surrogate pair) is fine.
    expect(validateKey('emoji/\u{1F600}.png')).toBe('emoji/\u{1F600}.png');
  });

  it('lists a file written under an NFD name by another tool under a key that read() finds', async () => {
    const { root, drive } = await tempDrive();
    await mkdir(join(root, 'r\u00e9sum\u00e9s'.normalize('NFD')));
    await writeFile(join(root, 'r\u00e9sum\u00e9s'.normalize('NFD'), 'cafe\u0301.txt'), 'cr\u00e8me');
    const keys = (await drive.list()).map((s) => s.key);
    expect(keys).toEqual(['r\u00e9sum\u00e9s/caf\u00e9.txt'.normalize('NFC')]);
    const key = keys[0]!;
    expect((await drive.read(key)).toString()).toBe('cr\u00e8me');
    expect((await drive.stat(key)).size).toBe(6);
    expect(await drive.exists(key)).toBe(true);
    const out = join(await mkdtemp(join(tmpdir(), 'nfd-get-')), 'got.txt');
    await drive.get(key, out);
    expect(await readFile(out, 'utf8')).toBe('cr\u00e8me');
    await drive.delete(key);
    expect(await drive.list()).toEqual([]);
  });

  it('`drive cp drive: out/` copies the whole Drive', async () => {
    const app = await mkdtemp(join(tmpdir(), 'drive-cp-all-'));
    const drive = await openDrive(join(app, '.lightning', 'drive', 'default'));
    await drive.put('top.txt', Buffer.from('top'));
    await drive.put('works/root.train/model.pt', Buffer.from('weights'));
    const result = await new Promise<{ code: number; stderr: string }>((resolve) =>
      execFile(process.execPath, [CLI, 'drive', 'cp', 'drive:', 'out/'], { cwd: app }, (err, _o, stderr) =>
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stderr }),
      ),
    );
    expect(result.stderr).not.toMatch(/Invalid Drive key/);
    expect(result.code).toBe(0);
    expect(await readFile(join(app, 'out', 'top.txt'), 'utf8')).toBe('top');
    expect(await readFile(join(app, 'out', 'works', 'root.train', 'model.pt'), 'utf8')).toBe('weights');
  });
});
