/**
 * Issue 10 item 6, the host's side: when the loop asks for a work's daemon for a call
 * (`ensureDaemon(work, 'call')`) and the process it has stopped answering (SIGSTOP), the host
 * kills it and starts a new one at once, without reporting the replaced process's exit (that
 * would fail the call the new daemon is about to run).
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LocalDaemons } from '../../daemon/flow/local-daemons.ts';
import { eventually, writeApp } from '../support/app-fixture.ts';
import { isAlive } from './process-tree.ts';

describe('the local daemon host', () => {
  it('replaces a daemon that stopped answering when a call needs it', async () => {
    const dir = await writeApp({
      'app.ts': `
        import { Flow, LightningApp, ScriptWork } from '@api';
        class Root extends Flow {
          readonly w = new ScriptWork(this, 'w', { command: ['true'] });
          override run() {}
        }
        const app = new LightningApp({ name: 'silent' });
        new Root(app, 'root');
        export default app;`,
    });
    const exits: string[] = [];
    const lines: string[] = [];
    const daemons = new LocalDaemons({
      appFile: join(dir, 'app.ts'),
      flowAddress: '127.0.0.1:1', // nobody there: the daemon keeps retrying, and answers pings
      token: 't',
      driveUrl: join(dir, '.lightning', 'drive'),
      env: {},
      onOutput: (_w, line) => lines.push(line),
      onExit: (w, detail) => exits.push(`${w}: ${detail}`),
    });
    try {
      daemons.ensureDaemon('root.w', 'start');
      const first = daemons.pidOf('root.w')!;
      // Its first line (it cannot reach the flow) comes after it loaded the app; pings go out
      // every second, so 3 s later it has answered some. Then stop it.
      await eventually(
        async () => lines.length,
        (n) => n > 0,
        60_000,
      );
      await new Promise((r) => setTimeout(r, 3000));
      process.kill(first, 'SIGSTOP');
      daemons.ensureDaemon('root.w', 'call'); // answered recently: kept
      expect(daemons.pidOf('root.w')).toBe(first);
      await new Promise((r) => setTimeout(r, 6000));
      daemons.ensureDaemon('root.w', 'call');
      const second = daemons.pidOf('root.w')!;
      expect(second).not.toBe(first);
      expect(
        await eventually(
          () => isAlive(first),
          (alive) => !alive,
        ),
      ).toBe(false);
      expect(await isAlive(second)).toBe(true);
      expect(lines.join('\n')).toMatch(/when a call needed it, so it was replaced/);
      expect(exits).toEqual([]);
    } finally {
      await daemons.killAll();
    }
  });
});
