/**
 * Inside a work's daemon only the work's own state exists (ADR 0013). Reaching for a sibling
 * work's or the flow's state fails the call at once with a message naming the owner and how
 * to pass data instead, rather than a misleading "only available while the app runs".
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Flow, LightningApp, Work } from '../../constructs/index.ts';
import { pollUntil } from '../support/app-fixture.ts';
import { type InProcessApp, startInProcessApp } from '../support/in-process-app.ts';

let running: InProcessApp | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
});

function build() {
  const app = new LightningApp({ name: 'owners' });
  class Reader extends Work<{ seen?: number }> {
    override async execute(): Promise<void> {
      const root = this.node.scope as Root;
      this.state.seen = (root.other.state as { n: number }).n;
    }
  }
  class Other extends Work<{ n: number }> {
    override async execute(): Promise<void> {}
  }
  class Root extends Flow {
    readonly reader: Reader = new Reader(this, 'reader', { parallel: true });
    readonly other: Other = new Other(this, 'other', { state: { n: 1 } });
    override run(): void {
      this.reader.run({});
    }
  }
  new Root(app, 'root');
  return app;
}

describe("a work touching another component's state", () => {
  it('fails its call with a message naming the owner and the fix', async () => {
    running = await startInProcessApp(build, { daemons: ['root.reader'] });
    await pollUntil(
      () => running!.loop.statusOf('root.reader')?.phase === 'failed',
      10_000,
      'the call to fail',
    );
    const message = running.loop.statusOf('root.reader')?.message ?? '';
    expect(message).toContain(
      "root.other.state is not reachable from inside root.reader: it is owned by root.other's own daemon",
    );
    expect(message).toContain('pass values to it through run() arguments');
  });
});
