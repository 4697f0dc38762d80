/**
 * Issue 10 item 6, the host's side: when the loop asks for a work's daemon for a call
 * (`ensureDaemon(work, 'call')`) and the process it has stopped answering (SIGSTOP), the host
 * kills it and starts a new one at once, without reporting the replaced process's exit (that
 * would fail the call the new daemon is about to run).
 */
import { describe, expect, it } from 'vitest';
import { eventually } from '../support/app-fixture.ts';
import { hostWithoutFlow } from './daemon-host-without-flow.ts';
import { isAlive } from './process-tree.ts';

describe('the local daemon host', () => {
  it('replaces a daemon that stopped answering when a call needs it', async () => {
    const { daemons, lines, exits } = await hostWithoutFlow('silent');
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
