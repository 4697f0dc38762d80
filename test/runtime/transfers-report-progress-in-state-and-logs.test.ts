import { describe, expect, it } from 'vitest';
import { startApp } from '../support/app-fixture.ts';

describe('Drive transfer progress', () => {
  it('an output upload shows bytes, rate and ETA in state.transfer and a log line', async () => {
    const running = await startApp({
      'big.sh': '#!/usr/bin/env bash\nhead -c 20971520 /dev/urandom > weights.bin\n',
      'app.ts': `
        import { Flow, LightningApp, ScriptWork } from '@api';
        class Root extends Flow {
          readonly w = new ScriptWork(this, 'w', { script: 'big.sh', outputs: ['weights.bin'] });
          constructor(app: LightningApp) { super(app, 'root'); }
          override run() { this.w.run({}); this.stopApp('uploaded'); }
        }
        const app = new LightningApp({ name: 'progress' });
        new Root(app);
        export default app;`,
    });
    expect((await running.local.finished).message).toBe('uploaded');
    const transfer = (running.local.loop.snapshot()['root.w']!.vars as { transfer: Record<string, unknown> })
      .transfer;
    expect(transfer).toMatchObject({ bytes: 20971520, totalBytes: 20971520, done: true });
    expect(transfer.key).toMatch(/^works\/root\.w\//);
    expect(typeof transfer.bytesPerSecond).toBe('number');
    expect(
      running.logs.some(
        (l) => l.work === 'root.w' && /works\/root\.w\/\S*\s+20\.0 MiB \/ 20\.0 MiB \(100%\)/.test(l.line),
      ),
    ).toBe(true);
  });
});
