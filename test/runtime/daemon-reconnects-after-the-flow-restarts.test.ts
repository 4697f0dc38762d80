/**
 * A work daemon (the real WorkDaemon, in this process) loses its flow mid-run and dials the
 * new one with backoff; its script keeps running and its state and status reach the new flow.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Flow, LightningApp, ScriptWork } from '../../constructs/index.ts';
import { openDrive } from '../../daemon/drive/open-drive.ts';
import { EventLoop } from '../../daemon/flow/event-loop.ts';
import { FlowServer } from '../../daemon/flow/flow-server.ts';
import { WorkDaemon } from '../../daemon/work/work-daemon.ts';
import { pollUntil } from '../support/app-fixture.ts';

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

function buildApp(dir: string) {
  const app = new LightningApp({ name: 'reconnect' });
  class Root extends Flow {
    readonly w = new ScriptWork(this, 'w', {
      script: join(dir, 'ticks.py'),
      parallel: true,
      state: { tick: 0 },
    });
    override run() {
      this.w.run({});
    }
  }
  new Root(app, 'root');
  return app;
}

const until = pollUntil;

describe('daemon reconnect', () => {
  it('resumes with the new flow: same script, state and status resynced by snapshot', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'reconnect-'));
    await writeFile(
      join(dir, 'ticks.py'),
      'import time\nfrom lightning_state import report\nfor i in range(1, 10000):\n    report(tick=i)\n    time.sleep(0.02)\n',
    );
    const token = 'reconnect-token';
    const port = await freePort();
    const drive = await openDrive(join(dir, 'drive'));
    const lines: string[] = [];

    const loop1 = new EventLoop(buildApp(dir));
    const server1 = new FlowServer(loop1, { token, listen: `127.0.0.1:${port}` });
    await server1.listen();
    loop1.start();

    const daemonApp = buildApp(dir);
    const daemon = new WorkDaemon({
      app: daemonApp,
      appDir: dir,
      workName: 'root.w',
      flowAddress: `127.0.0.1:${port}`,
      token,
      drive,
      maxBackoffMs: 200,
      diagnostics: (l) => lines.push(l),
    });
    await daemon.start();
    const tick = (loop: EventLoop) =>
      (loop.snapshot()['root.w']?.vars as { tick?: number } | undefined)?.tick ?? 0;
    await until(
      () => loop1.statusOf('root.w')?.phase === 'running' && tick(loop1) >= 3,
      20_000,
      'first flow to see ticks',
    );

    // The flow goes away (process restart), then comes back on the same address.
    await server1.close();
    const loop2 = new EventLoop(buildApp(dir));
    const server2 = new FlowServer(loop2, { token, listen: `127.0.0.1:${port}` });
    await server2.listen();
    loop2.start();
    await until(() => tick(loop2) > tick(loop1), 20_000, 'ticks on the new flow');
    expect(lines.some((l) => /connection to the flow .* ended .* reconnecting/.test(l))).toBe(true);
    // The new flow started its own call of the same work: the daemon stopped nothing it did
    // not have to, and the status it reports belongs to the call the new flow made.
    await until(() => loop2.statusOf('root.w')?.phase === 'running', 20_000, 'running on the new flow');
    // The call the new flow dispatched is the one already running (same arguments): the
    // daemon did not start the script again.
    const tickNow = tick(loop2);
    await until(() => tick(loop2) > tickNow, 20_000, 'ticks to continue');
    expect(tick(loop2)).toBeGreaterThan(tick(loop1));
    await daemon.shutdown('test over', 500);
    await server2.close();
  });
});
