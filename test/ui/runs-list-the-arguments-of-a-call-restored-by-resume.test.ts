/**
 * The run history takes a call's arguments from the loop's onCall event. A call restored by
 * `--resume` was dispatched in the earlier run, before any observer of this one existed: its
 * run must still list its arguments (the history asks the loop for the current call).
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startLocalApp } from '../../daemon/flow/local-app.ts';
import { UiServer } from '../../daemon/ui/ui-server.ts';
import { writeApp } from '../support/app-fixture.ts';

const files = {
  'loop.sh': '#!/usr/bin/env bash\nwhile true; do sleep 0.1; done\n',
  'app.ts': `
    import { Flow, LightningApp, ScriptWork } from '@api';
    class Root extends Flow {
      readonly train = new ScriptWork(this, 'train', { script: 'loop.sh', parallel: true });
      constructor(app: LightningApp) { super(app, 'root'); }
      override run() { this.train.run({ round: 3, lr: 0.25 }); }
    }
    const app = new LightningApp({ name: 'resumeruns' });
    new Root(app);
    export default app;`,
};

const until = async (check: () => boolean, what: string) => {
  for (let i = 0; i < 600 && !check(); i++) await new Promise((r) => setTimeout(r, 50));
  if (!check()) throw new Error(`timed out waiting for ${what}`);
};

describe('run history after --resume', () => {
  it("lists the restored call's arguments", { timeout: 120_000 }, async () => {
    const dir = await writeApp(files);
    const appFile = join(dir, 'app.ts');
    const first = await startLocalApp({ appFile, onDaemonOutput: () => {} });
    await until(() => first.loop.statusOf('root.train')?.phase === 'running', 'the first run');
    await first.stop(130, 'interrupted');

    const second = await startLocalApp({ appFile, resume: true, onDaemonOutput: () => {} });
    const ui = new UiServer({ loop: second.loop, port: 0 });
    try {
      const base = (await ui.listen()).url;
      await until(() => second.loop.statusOf('root.train')?.phase === 'running', 'the resumed run');
      const res = await fetch(`${base}api/runs`, { headers: { authorization: `Bearer ${ui.auth.token}` } });
      const { runs } = (await res.json()) as { runs: { work: string; args: unknown }[] };
      const train = runs.filter((r) => r.work === 'root.train');
      expect(train.length).toBeGreaterThan(0);
      for (const run of train) expect(run.args).toEqual({ round: 3, lr: 0.25 });
    } finally {
      await second.stop(0, 'test over');
      await ui.close();
    }
  });
});
