/**
 * Issue 10: the local host pings its daemons over an IPC channel in Node's default `json`
 * serialization. Node drops `NODE_CHANNEL_SERIALIZATION_MODE` from a process's environment
 * only when that process was itself started with an IPC channel; exported by hand or left
 * by a tool, it would pass to the daemon and win over the mode spawn sets, and the daemon
 * would never read a ping: a stopped daemon went unnoticed for the 2-minute start-up
 * allowance. The host starts daemons without inherited `NODE_CHANNEL_*` variables.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '../support/app-fixture.ts';
import { hostWithoutFlow } from './daemon-host-without-flow.ts';
import { isAlive } from './process-tree.ts';

afterEach(() => {
  delete process.env.NODE_CHANNEL_SERIALIZATION_MODE;
});

describe('a host whose environment names an IPC serialization mode', () => {
  it('still hears its daemons, so a stopped one is killed after the unresponsive limit', async () => {
    process.env.NODE_CHANNEL_SERIALIZATION_MODE = 'advanced';
    const { daemons, lines, exits } = await hostWithoutFlow('ipc-env', { daemonUnresponsiveAfterMs: 2000 });
    try {
      daemons.ensureDaemon('root.w', 'start');
      const pid = daemons.pidOf('root.w')!;
      // Its first line (it cannot reach the flow) comes after it loaded the app and said so.
      await eventually(
        async () => lines.length,
        (n) => n > 0,
        60_000,
      );
      process.kill(pid, 'SIGSTOP');
      // Unheard, it would get the 120 s start-up allowance and outlive this wait.
      await eventually(
        async () => exits,
        (e) => e.length > 0,
        30_000,
      );
      expect(exits).toEqual(['root.w: did not answer for 2 s (stopped or hung), so it was killed']);
      expect(await isAlive(pid)).toBe(false);
    } finally {
      await daemons.killAll();
    }
  });
});
