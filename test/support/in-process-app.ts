/**
 * The real event loop, flow server and work daemons of one app, in this process: for tests
 * that need both copies of a work's state at hand (the flow's, via `loop.snapshot()`, the
 * same call the UI's /api/state makes; the work's, via the daemon's own construct tree).
 * Each role gets its own construct tree, as in real processes.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LightningApp } from '../../constructs/app.ts';
import type { Work } from '../../constructs/work.ts';
import { openDrive } from '../../daemon/drive/open-drive.ts';
import { EventLoop, type EventLoopOptions } from '../../daemon/flow/event-loop.ts';
import { FlowServer } from '../../daemon/flow/flow-server.ts';
import { Journal } from '../../daemon/flow/journal.ts';
import { WorkDaemon } from '../../daemon/work/work-daemon.ts';

export interface InProcessApp {
  readonly dir: string;
  readonly loop: EventLoop;
  readonly server: FlowServer;
  readonly journal: Journal;
  readonly notices: string[];
  /** Running daemons by work name. */
  readonly daemons: Map<string, WorkDaemon>;
  /** Starts (or restarts: a new process identity) the daemon of `work`. */
  startDaemon(work: string): Promise<WorkDaemon>;
  /** Cuts the daemon's stream as a network fault would; it reconnects and resyncs. */
  dropStream(work: string): void;
  /** The work's own copy of its state (what its `execute()` sees). */
  workState(work: string): unknown;
  /** The flow's copy of a component's vars, as the UI reads it. */
  flowState(component: string): unknown;
  stop(): Promise<void>;
}

const TOKEN = 'in-process-test-token';

export async function startInProcessApp(
  build: () => LightningApp,
  options: {
    readonly daemons?: readonly string[];
    readonly loop?: EventLoopOptions;
    readonly onStateSent?: (work: string, epoch: number, seq: number, stateJson: string) => void;
  } = {},
): Promise<InProcessApp> {
  const dir = await mkdtemp(join(tmpdir(), 'inproc-'));
  const journal = await Journal.open(join(dir, 'journal'), true);
  const notices: string[] = [];
  const loop = new EventLoop(build(), {
    journal,
    observer: { onNotice: (m) => notices.push(m) },
    ...options.loop,
  });
  const server = new FlowServer(loop, { token: TOKEN });
  const port = await server.listen();
  const drive = await openDrive(join(dir, 'drive'));
  const daemons = new Map<string, WorkDaemon>();
  const startDaemon = async (work: string) => {
    await daemons.get(work)?.shutdown('restarted by the test', 0);
    const daemon = new WorkDaemon({
      app: build(),
      appDir: dir,
      workName: work,
      flowAddress: `127.0.0.1:${port}`,
      token: TOKEN,
      drive,
      maxBackoffMs: 5,
      diagnostics: () => {},
      onStateSent: (epoch, seq, json) => options.onStateSent?.(work, epoch, seq, json),
    });
    daemons.set(work, daemon);
    await daemon.start();
    return daemon;
  };
  loop.start();
  for (const w of options.daemons ?? []) await startDaemon(w);
  return {
    dir,
    loop,
    server,
    journal,
    notices,
    daemons,
    startDaemon,
    dropStream(work) {
      // Test-only reach into the daemon's stream: what a dropped TCP connection does.
      (daemons.get(work) as unknown as { call: { cancel(): void } | null }).call?.cancel();
    },
    workState: (work) => {
      const daemon = daemons.get(work);
      return daemon ? JSON.parse(JSON.stringify((daemon.work as Work).state)) : null;
    },
    flowState: (component) => JSON.parse(JSON.stringify(loop.snapshot()[component]?.vars ?? null)),
    async stop() {
      loop.requestEnd(0, 'test over');
      for (const d of daemons.values()) await d.shutdown('test over', 0);
      await server.close();
      await journal.close();
    },
  };
}
