/**
 * A file passed along a chain of Works (a's output is b's input and output, b's is c's) is
 * stored once on a local Drive: uploads hand the Work's file to the Drive (a hard link)
 * instead of copying it, and fetches are hard links. And the Drive's copy-free objects stay
 * immutable: when a Work runs again and rewrites its output in place, the object already
 * uploaded, and every Work that fetched it, keep the first version.
 */
import { createHash } from 'node:crypto';
import { lstat, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startApp } from '../support/app-fixture.ts';

const MiB = 1024 * 1024;

/** Bytes of disk under `dirs`, counting each inode once (hard links share their blocks). */
async function diskUsage(dirs: readonly string[]): Promise<number> {
  const seen = new Set<number>();
  let bytes = 0;
  for (const dir of dirs) {
    for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
      if (!entry.isFile()) continue;
      const st = await lstat(join(entry.parentPath, entry.name));
      if (seen.has(st.ino)) continue;
      seen.add(st.ino);
      bytes += st.blocks * 512;
    }
  }
  return bytes;
}

const sha = async (path: string) =>
  createHash('sha256')
    .update(await readFile(path))
    .digest('hex');

describe('a Path passed through three works', () => {
  it('takes the disk of one copy: uploads link the Work file into the Drive, fetches link it out', async () => {
    const running = await startApp({
      'make.sh': '#!/usr/bin/env bash\nset -e\nhead -c 20971520 /dev/urandom > model.bin\n',
      'pass.sh': '#!/usr/bin/env bash\nset -e\ntest "$(stat -c %s model.bin)" = 20971520\n',
      'app.ts': `
        import { Flow, LightningApp, ScriptWork } from '@api';
        class Root extends Flow {
          readonly a = new ScriptWork(this, 'a', { script: 'make.sh', outputs: ['model.bin'] });
          readonly b = new ScriptWork(this, 'b', {
            script: 'pass.sh', inputs: { 'model.bin': this.a.output('model.bin') }, outputs: ['model.bin'],
          });
          readonly c = new ScriptWork(this, 'c', {
            script: 'pass.sh', inputs: { 'model.bin': this.b.output('model.bin') }, outputs: ['model.bin'],
          });
          constructor(app: LightningApp) { super(app, 'root'); }
          override run() {
            this.a.run({});
            if (this.a.hasSucceeded) this.b.run({});
            if (this.b.hasSucceeded) this.c.run({});
            if (this.c.hasSucceeded) this.stopApp('passed along');
            if (this.a.hasFailed || this.b.hasFailed || this.c.hasFailed) this.stopApp('failed');
          }
        }
        const app = new LightningApp({ name: 'chain' });
        new Root(app);
        export default app;`,
    });
    expect((await running.local.finished).message).toBe('passed along');
    const lightning = join(running.dir, '.lightning');
    const copies = [
      join(lightning, 'works', 'root.a', 'model.bin'),
      join(lightning, 'works', 'root.b', 'model.bin'),
      join(lightning, 'works', 'root.c', 'model.bin'),
      join(lightning, 'drive', 'default', 'works', 'root.a', 'model.bin'),
      join(lightning, 'drive', 'default', 'works', 'root.b', 'model.bin'),
      join(lightning, 'drive', 'default', 'works', 'root.c', 'model.bin'),
    ];
    const hashes = await Promise.all(copies.map(sha));
    expect(new Set(hashes).size).toBe(1);
    // Six names for the file (three work dirs, three Drive objects), one set of blocks: 20 MiB
    // plus small files. Uploads that copied took 80 MiB here.
    const used = await diskUsage([join(lightning, 'works'), join(lightning, 'drive')]);
    expect(used).toBeGreaterThanOrEqual(20 * MiB);
    expect(used).toBeLessThan(22 * MiB);
  });

  it('a Work that runs again and rewrites its output in place changes neither its uploaded object nor what others fetched', async () => {
    const running = await startApp({
      // `>` truncates and rewrites the existing file: the same inode, if nothing intervened.
      'make.sh':
        '#!/usr/bin/env bash\nset -e\nfor i in $(seq 1000); do echo "version $2"; done > model.bin\n',
      'pass.sh': '#!/usr/bin/env bash\nset -e\ntest -s model.bin\n',
      'app.ts': `
        import { Flow, LightningApp, ScriptWork } from '@api';
        class Root extends Flow {
          readonly a = new ScriptWork(this, 'a', { script: 'make.sh', outputs: ['model.bin'] });
          readonly b = new ScriptWork(this, 'b', {
            script: 'pass.sh', inputs: { 'model.bin': this.a.output('model.bin') }, outputs: ['model.bin'],
          });
          constructor(app: LightningApp) { super(app, 'root'); }
          override run() {
            // Once b has fetched and uploaded version 1, a runs again and writes version 2.
            this.a.run({ v: this.b.hasSucceeded ? 2 : 1 });
            if (this.a.hasSucceeded) this.b.run({});
          }
        }
        const app = new LightningApp({ name: 'rewrite' });
        new Root(app);
        export default app;`,
    });
    const object = (work: string) =>
      join(running.dir, '.lightning', 'drive', 'default', 'works', work, 'model.bin');
    const v1 = 'version 1\n'.repeat(1000);
    const v2 = 'version 2\n'.repeat(1000);
    await running.until(
      () => running.statuses.filter((s) => s.work === 'root.a' && s.status.phase === 'succeeded').length >= 2,
      120_000,
      'a to succeed twice',
    );
    await running.local.stop();
    expect(await readFile(object('root.a'), 'utf8')).toBe(v2);
    expect(await readFile(join(running.dir, '.lightning', 'works', 'root.a', 'model.bin'), 'utf8')).toBe(v2);
    // b fetched and uploaded the first version; a's rewrite reached neither.
    expect(await readFile(object('root.b'), 'utf8')).toBe(v1);
    expect(await readFile(join(running.dir, '.lightning', 'works', 'root.b', 'model.bin'), 'utf8')).toBe(v1);
  });
});
