/**
 * ADR 0022: TypeScript works served by one daemon host behave as if each had its own process:
 * each runs on its own instance of the app module (module state is not shared), a sibling's
 * state stays out of reach (ADR 0013), and what a work's code prints is shown as that work's.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type RunningApp, startApp } from '../support/app-fixture.ts';

let running: RunningApp | undefined;
afterEach(async () => {
  await running?.local.kill();
  running = undefined;
});

const APP = `
  import { Flow, LightningApp, Work } from '@api';
  // Module state: one counter per instance of this module.
  let calls = 0;
  type S = { calls: number; pid: number; sibling: string };
  class Counter extends Work<S> {
    sibling?: Counter;
    override async execute() {
      calls++;
      console.log('hello from ' + this.name);
      this.state.calls = calls;
      this.state.pid = process.pid;
      try {
        this.state.sibling = JSON.stringify(this.sibling!.state);
      } catch (err) {
        this.state.sibling = (err as Error).message;
      }
    }
  }
  class Root extends Flow {
    readonly a = new Counter(this, 'a', { state: { calls: 0, pid: 0, sibling: '' } });
    readonly b = new Counter(this, 'b', { state: { calls: 0, pid: 0, sibling: '' } });
    constructor(app: LightningApp) {
      super(app, 'root');
      this.a.sibling = this.b;
      this.b.sibling = this.a;
    }
    override run() {
      this.a.run({});
      this.b.run({});
      if (this.a.hasSucceeded && this.b.hasSucceeded)
        this.stopApp(JSON.stringify({ a: this.a.state, b: this.b.state }));
    }
  }
  const app = new LightningApp({ name: 'apart' });
  new Root(app);
  export default app;`;

describe('TypeScript works sharing a daemon host', () => {
  it('each have their own module instance, cannot reach each other and print as themselves', async () => {
    running = await startApp({ 'app.ts': APP }, { hostsPerGroup: 1 });
    const end = await running.local.finished;
    expect(end.exitCode).toBe(0);
    const states = JSON.parse(end.message) as Record<
      'a' | 'b',
      { calls: number; pid: number; sibling: string }
    >;
    // One process served both...
    expect(states.a.pid).toBe(states.b.pid);
    expect(running.local.daemons.pids()).toEqual([states.a.pid]);
    // ...yet each counted its own first call: the module was evaluated once per work.
    expect(states.a.calls).toBe(1);
    expect(states.b.calls).toBe(1);
    expect(states.a.sibling).toContain(
      "root.b.state is not reachable from inside root.a: it is owned by root.b's own daemon",
    );
    expect(states.b.sibling).toContain('root.a.state is not reachable from inside root.b');
    const printed = (w: string) =>
      running!.logs.filter((l) => l.work === w && l.line.includes('hello from')).map((l) => l.line.trim());
    expect(printed('root.a')).toEqual(['hello from root.a']);
    expect(printed('root.b')).toEqual(['hello from root.b']);
  });
});
