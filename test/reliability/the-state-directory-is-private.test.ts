/**
 * Issue 10 item 9: `.lightning/` holds the journal (state, `--set` values), logs, the UI token
 * and the local Drive; under the usual umask 022 it must still be readable by its owner only,
 * also when an older version left it world-readable.
 */
import { chmod, mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startLocalApp } from '../../daemon/flow/local-app.ts';
import { type RunningApp, startApp, writeApp } from '../support/app-fixture.ts';

let running: RunningApp | undefined;
afterEach(async () => {
  await running?.local.stop(0, 'test over');
  running = undefined;
});

const APP = {
  'app.ts': `
    import { Flow, LightningApp } from '@api';
    class Root extends Flow<{ n: number }> {
      constructor(app: LightningApp) { super(app, 'root', { state: { n: 0 } }); }
      override run() { if (this.state.n < 3) this.state.n++; }
    }
    const app = new LightningApp({ name: 'private' });
    new Root(app);
    export default app;`,
};

describe('the .lightning directory', () => {
  it('is created 0700 under umask 022', async () => {
    const old = process.umask(0o022);
    try {
      const app = await startApp(APP);
      running = app;
      await app.until(() => (app.local.loop.snapshot().root!.vars as { n: number }).n === 3);
      expect((await stat(join(app.dir, '.lightning'))).mode & 0o777).toBe(0o700);
      expect((await stat(join(app.dir, '.lightning', 'journal', 'journal.jsonl'))).mode & 0o077).toBe(0);
    } finally {
      process.umask(old);
    }
  });

  it('is tightened to 0700 when an earlier run left it world-readable', async () => {
    const dir = await writeApp(APP);
    await mkdir(join(dir, '.lightning', 'journal'), { recursive: true, mode: 0o755 });
    await chmod(join(dir, '.lightning'), 0o755);
    const local = await startLocalApp({ appFile: join(dir, 'app.ts'), bundle: false });
    try {
      expect((await stat(join(dir, '.lightning'))).mode & 0o777).toBe(0o700);
    } finally {
      await local.stop(0, 'test over');
    }
  });
});
