/**
 * The defects of issue 9, through the real loop, flow server and work daemon: a change is
 * captured when it is made (a later in-place mutation does not travel twice), and a write the
 * flow makes to a work's state is applied once on each copy (never echoed back and applied
 * again; a `delete` does not make the flow reject its own write and resync).
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Flow, LightningApp, Work } from '../../constructs/index.ts';
import { Journal } from '../../daemon/flow/journal.ts';
import { pollUntil } from '../support/app-fixture.ts';
import { type InProcessApp, startInProcessApp } from '../support/in-process-app.ts';

let running: InProcessApp | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
});

type Vars = { list?: number[]; items: string[]; gone?: number; done?: boolean };

function build(flowWrites: (w: Work<Vars>) => void) {
  return () => {
    const app = new LightningApp({ name: 'once' });
    class W extends Work<Vars> {
      constructor(scope: Root, id: string) {
        super(scope, id, { state: { items: [], gone: 1 }, parallel: true });
      }
      override async execute(): Promise<void> {
        this.state.list = [1];
        this.state.list.push(2); // same tick: must not reach the flow as [1,2] + push 2
        // Wait for the flow's write to arrive, then report and end.
        while (this.state.items.length === 0) await new Promise((r) => setTimeout(r, 5));
        this.state.done = true;
      }
    }
    class Root extends Flow<{ sent: boolean }> {
      readonly w = new W(this, 'w');
      override run(): void {
        this.w.run({});
        if (!this.state.sent) {
          this.state.sent = true;
          flowWrites(this.w);
        }
      }
    }
    new Root(app, 'root', { state: { sent: false } });
    return app;
  };
}

async function settle(app: InProcessApp): Promise<void> {
  await pollUntil(() => app.loop.statusOf('root.w')?.phase === 'succeeded', 20_000, 'the call to succeed');
  await pollUntil(
    () => JSON.stringify(app.flowState('root.w')) === JSON.stringify(app.workState('root.w')),
    5_000,
    `flow copy ${JSON.stringify(app.flowState('root.w'))} to equal work copy ${JSON.stringify(app.workState('root.w'))}`,
  );
}

async function journalReplay(app: InProcessApp): Promise<unknown> {
  await app.journal.close();
  const docs = await Journal.load(join(app.dir, 'journal'));
  return JSON.parse(JSON.stringify(docs?.['root.w']?.vars ?? null));
}

describe('state changes travel once and by value', () => {
  it('an in-place mutation after an assignment in the same tick is not applied twice', async () => {
    running = await startInProcessApp(
      build((w) => w.state.items.push('a')),
      { daemons: ['root.w'] },
    );
    await settle(running);
    const expected = { items: ['a'], gone: 1, list: [1, 2], done: true };
    expect(running.workState('root.w')).toEqual(expected);
    expect(running.flowState('root.w')).toEqual(expected);
    expect(await journalReplay(running)).toEqual(expected);
  });

  it("the flow's push to a work's array is applied once on both copies", async () => {
    running = await startInProcessApp(
      build((w) => w.state.items.push('a')),
      { daemons: ['root.w'] },
    );
    await settle(running);
    expect(running.flowState('root.w')).toMatchObject({ items: ['a'] });
    expect(running.workState('root.w')).toMatchObject({ items: ['a'] });
  });

  it("the flow's delete of a work's key does not tear down the daemon's stream", async () => {
    running = await startInProcessApp(
      build((w) => {
        delete w.state.gone;
        w.state.items.push('a');
      }),
      { daemons: ['root.w'] },
    );
    await settle(running);
    expect(running.loop.stats.rejected).toBe(0);
    expect(running.notices.filter((n) => n.includes('rejected'))).toEqual([]);
    expect(running.flowState('root.w')).toEqual({ items: ['a'], list: [1, 2], done: true });
    expect(running.workState('root.w')).toEqual({ items: ['a'], list: [1, 2], done: true });
  });
});
