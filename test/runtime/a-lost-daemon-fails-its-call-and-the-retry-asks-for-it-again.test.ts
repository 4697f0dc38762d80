/**
 * A work's daemon (or its VM) goes away mid-call and does not come back: after
 * daemonLostAfterMs the call fails with reason daemon_lost, and a retry asks the host for the
 * daemon again (in the cloud that starts the VM). Real flow server, real WorkDaemon.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Flow, LightningApp, ScriptWork } from '../../constructs/index.ts';
import { openDrive } from '../../daemon/drive/open-drive.ts';
import { EventLoop } from '../../daemon/flow/event-loop.ts';
import { FlowServer } from '../../daemon/flow/flow-server.ts';
import { WorkDaemon } from '../../daemon/work/work-daemon.ts';
import { pollUntil } from '../support/app-fixture.ts';

function buildApp(dir: string, maxRetries: number) {
  const app = new LightningApp({ name: 'lost' });
  class Root extends Flow {
    readonly w = new ScriptWork(this, 'w', {
      script: join(dir, 'long.sh'),
      parallel: true,
      maxRetries,
      retryBackoffSeconds: 0.05,
    });
    override run() {
      this.w.run({});
    }
  }
  new Root(app, 'root');
  return app;
}

const until = pollUntil;

describe('a daemon that is lost mid-call', () => {
  it.each([0, 1])(
    'fails the call with daemon_lost (maxRetries %i) and asks the host again',
    async (maxRetries) => {
      const dir = await mkdtemp(join(tmpdir(), 'lost-'));
      await writeFile(join(dir, 'long.sh'), '#!/usr/bin/env bash\nsleep 300\n', { mode: 0o755 });
      const asked: string[] = [];
      const loop = new EventLoop(buildApp(dir, maxRetries), {
        daemonLostAfterMs: 300,
        host: { ensureDaemon: (work, why) => asked.push(`${work}:${why}`) },
      });
      const server = new FlowServer(loop, { token: 't' });
      const port = await server.listen();
      loop.start();
      const daemon = new WorkDaemon({
        app: buildApp(dir, maxRetries),
        appDir: dir,
        workName: 'root.w',
        flowAddress: `127.0.0.1:${port}`,
        token: 't',
        drive: await openDrive(join(dir, 'drive')),
        maxBackoffMs: 200,
        diagnostics: () => {},
      });
      await daemon.start();
      try {
        await until(() => loop.statusOf('root.w')?.phase === 'running', 20_000, 'running');
        const askedBefore = asked.length;
        await server.close(); // the daemon can no longer reach the flow
        if (maxRetries === 0) {
          await until(() => loop.statusOf('root.w')?.phase === 'failed', 20_000, 'failed');
          expect(loop.statusOf('root.w')).toMatchObject({ reason: 'daemon_lost' });
          expect(loop.statusOf('root.w')!.message).toMatch(/unreachable for 300 ms/);
        } else {
          // The retry has no stream to send to, so it asks the host to bring the daemon back.
          await until(
            () => asked.slice(askedBefore).includes('root.w:call'),
            20_000,
            'the retry to ask for the daemon',
          );
          expect(loop.statusOf('root.w')).toMatchObject({ phase: 'pending', restarts: 1 });
        }
        expect(asked[0]).toBe('root.w:start');
      } finally {
        await daemon.shutdown('test over', 200);
      }
    },
  );
});
