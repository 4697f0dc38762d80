/**
 * State written outside a pass of the flow (a timer or promise started in run()) changes
 * state like any other write: the loop runs a pass for it. Without that the app stalls.
 */
import { describe, expect, it } from 'vitest';
import { Flow, LightningApp } from '../../constructs/index.ts';
import { EventLoop } from '../../daemon/flow/event-loop.ts';

describe('writes outside a pass', () => {
  it('a write from a timer started in run() schedules a pass that sees it', async () => {
    const app = new LightningApp({ name: 'timer' });
    class Root extends Flow<{ started: boolean; ticked: boolean }> {
      override run(): void {
        if (!this.state.started) {
          this.state.started = true;
          setTimeout(() => {
            this.state.ticked = true;
          }, 20);
        }
        if (this.state.ticked) this.stopApp('saw the timer');
      }
    }
    new Root(app, 'root', { state: { started: false, ticked: false } });
    const loop = new EventLoop(app);
    loop.start();
    const stalled = new Promise((resolve) => setTimeout(() => resolve('stalled'), 3_000).unref());
    expect(await Promise.race([loop.done, stalled])).toEqual({ exitCode: 0, message: 'saw the timer' });
  });
});
