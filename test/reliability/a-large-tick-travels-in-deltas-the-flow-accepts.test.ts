/**
 * Issue 10 item 3: an honest daemon's large tick (over 100,000 ops, or more bytes than one
 * message holds, or one value over the per-op limit) used to be rejected by the flow (stream
 * reset, resync). The daemon now cuts what the flow would refuse into deltas it accepts, or
 * sends a snapshot for a value no op may carry; nothing is rejected and the flow's copy
 * equals the work's.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type RunningApp, startApp } from '../support/app-fixture.ts';

let running: RunningApp | undefined;
afterEach(async () => {
  await running?.local.kill();
  running = undefined;
});

type Vars = { many: Record<string, number>; wide: string[]; huge: number[]; done: boolean; echo: string };

describe('a large tick', () => {
  it('reaches the flow whole, in deltas the flow accepts', { timeout: 120_000 }, async () => {
    const app = await startApp({
      'app.ts': `
        import { Flow, LightningApp, Work } from '@api';
        import type { Construct } from 'constructs';
        type S = { many: Record<string, number>; wide: string[]; huge: number[]; done: boolean; echo: string };
        class Burst extends Work<S> {
          constructor(scope: Construct, id: string) {
            super(scope, id, { state: { many: {}, wide: [], huge: [], done: false, echo: '' }, parallel: true });
          }
          override async execute() {
            // One tick each (no await in between): 150,000 ops; then 5 values of 0.9 MB (more
            // than one 4 MiB message); then one array of 1.3 MB replaced whole (over the
            // 1 MiB an op may carry).
            for (let i = 0; i < 150_000; i++) this.state.many['k' + i] = i;
            await new Promise((r) => setTimeout(r, 50));
            for (let i = 0; i < 5; i++) this.state.wide.push(String(i).repeat(900_000));
            await new Promise((r) => setTimeout(r, 50));
            const huge: number[] = [];
            for (let i = 0; i < 200_000; i++) huge.push(100_000 + i);
            this.state.huge = huge;
            this.state.huge.shift();
            this.state.done = true;
            // A flow write made after all of that comes back in the work's deltas.
            while (this.state.echo !== 'seen') await new Promise((r) => setTimeout(r, 20));
          }
        }
        class Root extends Flow {
          readonly burst = new Burst(this, 'burst');
          override run() {
            this.burst.run({});
            if (this.burst.state.done && this.burst.state.echo === '') this.burst.state.echo = 'seen';
            if (this.burst.hasSucceeded) this.stopApp('ok');
          }
        }
        const app = new LightningApp({ name: 'burst' });
        new Root(app, 'root');
        export default app;`,
    });
    running = app;
    const end = await app.local.finished;
    expect(end).toEqual({ exitCode: 0, message: 'ok' });
    const vars = app.local.loop.snapshot()['root.burst']!.vars as unknown as Vars;
    expect(Object.keys(vars.many)).toHaveLength(150_000);
    expect(vars.many.k149999).toBe(149_999);
    expect(vars.wide.map((s) => s.length)).toEqual([900_000, 900_000, 900_000, 900_000, 900_000]);
    expect(vars.huge).toHaveLength(199_999);
    expect(vars.huge[0]).toBe(100_001);
    expect(vars.echo).toBe('seen');
    // Nothing was refused: no stream reset, no resync after a rejection.
    expect(app.local.loop.stats.rejected).toBe(0);
    expect(app.local.loop.stats.gaps).toBe(0);
    expect(app.notices.filter((n) => /rejected/.test(n))).toEqual([]);
  });

  it("cuts the flow's large writes into requests the work accepts, and refuses a value no op may carry", {
    timeout: 120_000,
  }, async () => {
    const app = await startApp({
      'app.ts': `
        import { Flow, LightningApp, Work } from '@api';
        import type { Construct } from 'constructs';
        type S = { fromFlow: Record<string, number>; seen: number };
        class Sink extends Work<S> {
          constructor(scope: Construct, id: string) {
            super(scope, id, { state: { fromFlow: {}, seen: 0 }, parallel: true });
          }
          override async execute() {
            // Until the flow's 120,000 writes arrived here, in this work's own copy.
            while (Object.keys(this.state.fromFlow).length < 120_000) await new Promise((r) => setTimeout(r, 20));
            this.state.seen = Object.keys(this.state.fromFlow).length;
          }
        }
        class Root extends Flow<{ refused: string }> {
          readonly sink = new Sink(this, 'sink');
          override run() {
            this.sink.run({});
            if (this.sink.status.phase === 'running' && Object.keys(this.sink.state.fromFlow).length === 0) {
              for (let i = 0; i < 120_000; i++) this.sink.state.fromFlow['f' + i] = i;
              try {
                (this.sink.state as Record<string, unknown>).big = 'b'.repeat(1_200_000);
              } catch (err) {
                this.state.refused = (err as Error).message;
              }
            }
            if (this.sink.hasSucceeded) this.stopApp('ok');
          }
        }
        const app = new LightningApp({ name: 'flowburst' });
        new Root(app, 'root', { state: { refused: '' } });
        export default app;`,
    });
    running = app;
    const end = await app.local.finished;
    expect(end).toEqual({ exitCode: 0, message: 'ok' });
    const snap = app.local.loop.snapshot();
    const sink = snap['root.sink']!.vars as { fromFlow: Record<string, number>; seen: number; big?: string };
    expect(sink.seen).toBe(120_000);
    expect(Object.keys(sink.fromFlow)).toHaveLength(120_000);
    expect(sink.big).toBeUndefined();
    expect((snap.root!.vars as { refused: string }).refused).toMatch(
      /root\.sink\.state\/big would get a value of 1\.2 MB .* limit .* is 1 MiB .*Drive/,
    );
    expect(app.local.loop.stats.rejected).toBe(0);
    expect(app.logs.filter((l) => /was refused/.test(l.line))).toEqual([]);
  });
});
