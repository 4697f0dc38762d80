import { afterEach, describe, expect, it } from 'vitest';
import { type RunningApp, startApp } from '../support/app-fixture.ts';

let running: RunningApp | undefined;
afterEach(async () => {
  await running?.local.stop(0, 'test over');
  running = undefined;
});

describe('dynamic fan-out, nested flows and TypeScript works', () => {
  it('creates one work per hyper-parameter at run time, from a nested flow, and collects results', async () => {
    running = await startApp({
      'app.ts': `
        import { Flow, LightningApp, Work, WorkMap, type WorkContext } from '@api';
        import type { Construct } from 'constructs';

        // A TypeScript work: its state writes stream to the flow; its result goes through a Payload.
        class Trial extends Work<{ loss: number | null; result: unknown }, { lr: number }> {
          constructor(scope: Construct, id: string) { super(scope, id, { state: { loss: null, result: null }, parallel: true }); }
          override async execute(args: { lr: number }, ctx: WorkContext) {
            this.state.loss = Math.abs(args.lr - 0.01);
            const payload = await ctx.putPayload('curve', { lr: args.lr, points: [3, 2, 1] });
            this.state.result = payload;
            ctx.log('trial with lr ' + args.lr + ' done');
          }
        }

        class Sweep extends Flow<{ best: string | null }> {
          readonly trials = new WorkMap(this, 'trials', (scope, key) => new Trial(scope, key));
          override run() {
            const lrs = [0.1, 0.01, 0.001];
            for (const lr of lrs) this.trials.get('lr-' + String(lr).replace('.', '_')).run({ lr });
            if (!this.trials.values().every((t) => t.hasSucceeded)) return;
            let best = this.trials.values()[0]!;
            for (const t of this.trials.values()) if ((t.state.loss ?? 1) < (best.state.loss ?? 1)) best = t;
            if (this.state.best !== best.name) this.state.best = best.name;
          }
        }

        class Root extends Flow {
          readonly sweep: Sweep;
          constructor(app: LightningApp) { super(app, 'root'); this.sweep = new Sweep(this, 'sweep', { state: { best: null } }); }
          override run() {
            this.sweep.run(); // nested flows run when their parent calls run()
            if (this.sweep.state.best) this.stopApp('best: ' + this.sweep.state.best);
          }
        }
        const app = new LightningApp({ name: 'sweep' });
        new Root(app);
        export default app;`,
    });
    const end = await running.local.finished;
    expect(end).toEqual({ exitCode: 0, message: 'best: root.sweep.trials.lr-0_01' });
    const snap = running.local.loop.snapshot();
    expect(
      Object.keys(snap)
        .filter((k) => k.startsWith('root.sweep.trials.'))
        .sort(),
    ).toEqual(['root.sweep.trials.lr-0_001', 'root.sweep.trials.lr-0_01', 'root.sweep.trials.lr-0_1']);
    // Each trial ran in its own daemon process, with its own log.
    expect(
      running.logs
        .filter((l) => l.line.startsWith('trial with lr'))
        .map((l) => l.work)
        .sort(),
    ).toEqual(['root.sweep.trials.lr-0_001', 'root.sweep.trials.lr-0_01', 'root.sweep.trials.lr-0_1']);
    // The Payload marker is in state; the value is in the Drive.
    const result = snap['root.sweep.trials.lr-0_1']!.vars as { result: { $payload: { key: string } } };
    expect(result.result.$payload.key).toBe('works/root.sweep.trials.lr-0_1/payloads/curve.json');
    const { readFile } = await import('node:fs/promises');
    const stored = JSON.parse(
      await readFile(`${running.dir}/.lightning/drive/default/${result.result.$payload.key}`, 'utf8'),
    );
    expect(stored).toEqual({ lr: 0.1, points: [3, 2, 1] });
  });
});
