import { describe, expect, it } from 'vitest';
import { startApp } from '../support/app-fixture.ts';

describe('a work that writes state faster than the flow applies it', () => {
  it('sends merged deltas, and the flow ends with exactly the work final state', async () => {
    const running = await startApp({
      'app.ts': `
        import { Flow, LightningApp, Work } from '@api';
        import type { Construct } from 'constructs';
        const WRITES = 200_000;
        class Counter extends Work<{ count: number; log: number[] }> {
          constructor(scope: Construct, id: string) { super(scope, id, { state: { count: 0, log: [] }, parallel: true }); }
          override async execute() {
            for (let i = 1; i <= WRITES; i++) {
              this.state.count = i;
              if (i % 20_000 === 0) this.state.log.push(i);        // appends are never merged away
              if (i % 500 === 0) await new Promise((r) => setImmediate(r));
            }
          }
        }
        class Root extends Flow<{ observed: number }> {
          readonly a = new Counter(this, 'a');
          readonly b = new Counter(this, 'b');
          constructor(app: LightningApp) { super(app, 'root', { state: { observed: 0 } }); }
          override run() {
            this.a.run({}); this.b.run({});
            if (this.a.hasSucceeded && this.b.hasSucceeded) this.stopApp('counted');
          }
        }
        const app = new LightningApp({ name: 'fast' });
        new Root(app);
        export default app;`,
    });
    expect((await running.local.finished).message).toBe('counted');
    const snap = running.local.loop.snapshot();
    const expectedLog = Array.from({ length: 10 }, (_, i) => (i + 1) * 20_000);
    for (const w of ['root.a', 'root.b']) {
      expect(snap[w]!.vars).toEqual({ count: 200_000, log: expectedLog });
    }
    // 400k writes travelled as far fewer deltas (one per tick at most, fewer when the stream was full).
    expect(running.local.loop.stats.deltasApplied).toBeLessThan(2 * (200_000 / 500) + 10);
    expect(running.local.loop.stats.opsApplied).toBeLessThan(400_000 / 10);
  });
});
