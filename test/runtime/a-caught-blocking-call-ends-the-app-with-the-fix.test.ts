/**
 * A blocking `work.run()` that has not succeeded yet ends the pass with a signal. A try/catch
 * around the call must not turn "still waiting" into "failed": the loop notices the signal
 * was swallowed and ends the app saying how to catch right. The documented pattern (rethrow
 * all but WorkFailedError) waits while pending and runs the fallback on a real failure.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Flow, LightningApp, Work, WorkFailedError } from '../../constructs/index.ts';
import { pollUntil } from '../support/app-fixture.ts';
import { type InProcessApp, startInProcessApp } from '../support/in-process-app.ts';

let running: InProcessApp | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
});

type Catching = 'everything' | 'work-failures';

function build(catching: Catching) {
  return () => {
    const app = new LightningApp({ name: 'catch' });
    class Train extends Work<{ step: number }, { fail: boolean }> {
      override async execute(args: { fail: boolean }): Promise<void> {
        // Long enough that the flow passes several times while the call runs.
        for (let i = 0; i < 5; i++) {
          this.state.step = i;
          await new Promise((r) => setTimeout(r, 20));
        }
        if (args.fail) throw new Error('diverged');
      }
    }
    class Root extends Flow<{ fellBack: boolean }> {
      readonly train = new Train(this, 'train', { state: { step: 0 } });
      override run(): void {
        try {
          this.train.run({ fail: true });
        } catch (err) {
          if (catching === 'work-failures' && !(err instanceof WorkFailedError)) throw err;
          if (!this.state.fellBack) this.state.fellBack = true;
          this.stopApp('fell back');
          return;
        }
        this.stopApp('trained');
      }
    }
    new Root(app, 'root', { state: { fellBack: false } });
    return app;
  };
}

describe('a blocking call inside try/catch', () => {
  it('catching everything ends the app and names the fix instead of falling back while pending', async () => {
    running = await startInProcessApp(build('everything'), { daemons: ['root.train'] });
    const end = await running.loop.done;
    expect(end.exitCode).toBe(1);
    expect(end.message).toContain('root.run() caught the signal that root.train.run() is still');
    expect(end.message).toContain('if (!(err instanceof WorkFailedError)) throw err;');
    expect(running.loop.statusOf('root.train')?.phase).not.toBe('failed');
  });

  it('rethrowing all but WorkFailedError waits while the call runs and falls back once it failed', async () => {
    running = await startInProcessApp(build('work-failures'), { daemons: ['root.train'] });
    await pollUntil(() => running!.loop.statusOf('root.train')?.phase === 'running', 10_000, 'running');
    expect(running.loop.hasEnded).toBe(false);
    expect(await running.loop.done).toEqual({ exitCode: 0, message: 'fell back' });
    expect(running.loop.statusOf('root.train')?.phase).toBe('failed');
    expect(running.flowState('root')).toEqual({ fellBack: true });
  });
});
