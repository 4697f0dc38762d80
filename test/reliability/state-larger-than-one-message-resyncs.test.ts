/**
 * Issue 10 item 2: a work's state larger than one protocol message (the old 1 MiB snapshot
 * cap) still resyncs. With 1.2 MB of state, a cut connection used to give endless
 * reject/reconnect cycles; with 2.1 MB, a killed daemon's retry sat `pending` forever (the
 * new daemon could not take the 2.1 MB welcome). Both travel in parts now. And a document over
 * the limit is refused when written, naming the limit and the way out (the Drive, a Payload).
 */
import { execFileSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { type RunningApp, startApp } from '../support/app-fixture.ts';

let running: RunningApp | undefined;
afterEach(async () => {
  await running?.local.kill();
  running = undefined;
});

/** A TypeScript work that fills its state with `blobs` × 100 KB, then ticks until stopped. */
function bigStateApp(blobs: number, maxRetries = 0): string {
  return `
    import { Flow, LightningApp, Work } from '@api';
    import type { Construct } from 'constructs';
    type S = { blobs: Record<string, string>; ready: boolean; tick: number; starts: number; blobsAtStart: number };
    class Big extends Work<S> {
      constructor(scope: Construct, id: string) {
        super(scope, id, { state: { blobs: {}, ready: false, tick: 0, starts: 0, blobsAtStart: -1 }, parallel: true, maxRetries: ${maxRetries}, retryBackoffSeconds: 0.05 });
      }
      override async execute() {
        this.state.starts++;
        this.state.blobsAtStart = Object.keys(this.state.blobs).length;
        for (let i = 0; i < ${blobs}; i++) {
          this.state.blobs['b' + i] = String(i % 10).repeat(100_000);
          await new Promise((r) => setTimeout(r, 10));
        }
        this.state.ready = true;
        for (;;) {
          this.state.tick++;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    }
    class Root extends Flow {
      readonly big = new Big(this, 'big');
      override run() { this.big.run({}); }
    }
    const app = new LightningApp({ name: 'bigstate' });
    new Root(app, 'root');
    export default app;`;
}

type BigVars = {
  blobs: Record<string, string>;
  ready: boolean;
  tick: number;
  starts: number;
  blobsAtStart: number;
};

function vars(app: RunningApp): BigVars {
  return app.local.loop.snapshot()['root.big']!.vars as unknown as BigVars;
}

function stateBytes(app: RunningApp): number {
  return JSON.stringify(vars(app)).length;
}

/** Cuts every TCP connection to the flow's gRPC port (the kernel aborts them: ECONNABORTED). */
function cutConnections(flowAddress: string): void {
  const port = flowAddress.slice(flowAddress.lastIndexOf(':') + 1);
  execFileSync('ss', ['-K', 'dst', '127.0.0.1', 'dport', '=', port], { stdio: 'ignore' });
}

describe('state larger than one message', () => {
  it('resyncs 1.2 MB of state after a cut connection, without rejections', { timeout: 120_000 }, async () => {
    const app = await startApp({ 'app.ts': bigStateApp(12) });
    running = app;
    await app.until(() => vars(app)?.ready === true, 60_000, 'the state to be filled');
    expect(stateBytes(app)).toBeGreaterThan(1_200_000);
    const tickAtCut = vars(app).tick;
    cutConnections(app.local.flowAddress);
    // The daemon reconnects and resends its whole state as a snapshot; ticks then flow again.
    await app.until(() => vars(app).tick > tickAtCut + 5, 60_000, 'ticks after the cut');
    // The cut did happen: the daemon saw its stream end and dialed again.
    expect(app.logs.some((l) => /connection to the flow .* ended .* reconnecting/.test(l.line))).toBe(true);
    expect(app.local.loop.stats.rejected).toBe(0);
    expect(Object.keys(vars(app).blobs)).toHaveLength(12);
    expect(app.local.loop.statusOf('root.big')?.phase).toBe('running');
  });

  it('runs the retry of a killed daemon holding 2.1 MB of state', { timeout: 120_000 }, async () => {
    const app = await startApp({ 'app.ts': bigStateApp(21, 1) });
    running = app;
    await app.until(() => vars(app)?.ready === true, 60_000, 'the state to be filled');
    expect(stateBytes(app)).toBeGreaterThan(2_100_000);
    const pid = app.local.daemons.pidOf('root.big');
    expect(pid).toBeDefined();
    process.kill(pid!, 'SIGKILL');
    // The retry runs on a new daemon, which starts from the flow's copy of the 2.1 MB state.
    await app.until(() => vars(app).starts === 2, 60_000, 'the retry to start');
    expect(vars(app).blobsAtStart).toBe(21);
    await app.until(() => vars(app).ready === true && vars(app).tick > 5, 60_000, 'the retry to tick');
    expect(app.local.loop.statusOf('root.big')?.phase).toBe('running');
    expect(app.local.loop.stats.rejected).toBe(0);
  });

  it('refuses a write that takes a document over the limit, saying what to do', {
    timeout: 120_000,
  }, async () => {
    const app = await startApp({
      'app.ts': `
        import { Flow, LightningApp, Work } from '@api';
        import type { Construct } from 'constructs';
        class Hog extends Work<{ parts: string[] }> {
          constructor(scope: Construct, id: string) { super(scope, id, { state: { parts: [] } }); }
          override async execute() {
            // 1 MB at a time: each value is fine, the ninth takes the document over 8 MiB.
            for (let i = 0; i < 20; i++) this.state.parts.push('x'.repeat(1_000_000));
          }
        }
        class Root extends Flow {
          readonly hog = new Hog(this, 'hog');
          override run() {
            this.hog.run({});
            if (this.hog.hasFailed) this.failApp(this.hog.status.message ?? 'failed');
          }
        }
        const app = new LightningApp({ name: 'hog' });
        new Root(app, 'root');
        export default app;`,
    });
    running = app;
    const end = await app.local.finished;
    expect(end.exitCode).not.toBe(0);
    expect(end.message).toMatch(/root\.hog\.state.*8 MiB/s);
    expect(end.message).toMatch(/Drive|Payload/);
    // What was written before the refused write reached the flow intact.
    const parts = (app.local.loop.snapshot()['root.hog']!.vars as { parts: string[] }).parts;
    expect(parts).toHaveLength(8);
    expect(app.local.loop.stats.rejected).toBe(0);
  });
});
