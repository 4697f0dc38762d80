/**
 * The flow role's one start-up path: root-state overrides, the journal (fresh or resumed),
 * the event loop and its gRPC server. Local mode (`local-app.ts`, which adds one daemon
 * process per Work) and the `flow` command (the flow VM, which adds VM control and the UI)
 * both start the flow here, so a change to how the flow starts reaches both.
 *
 * The loop is returned not yet started: the caller attaches what must see the first events
 * (daemons, the UI), then calls `loop.start()`.
 */
import { join } from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import type { LightningApp } from '../../constructs/app.ts';
import type { JsonValue } from '../../constructs/json.ts';
import { ensureStateDir } from '../drive/open-drive.ts';
import { type DaemonHost, EventLoop, type LoopObserver } from './event-loop.ts';
import { FlowServer } from './flow-server.ts';
import { type CompactionStep, Journal } from './journal.ts';
import { parseSetPairs } from './root-state-overrides.ts';

export interface FlowRuntimeOptions {
  readonly app: LightningApp;
  /** Directory of the app file: the journal lives in `<appDir>/.lightning/journal`. */
  readonly appDir: string;
  /** The app token every daemon stream must present. */
  readonly token: string;
  /** host:port for the gRPC server (port 0: any free port). */
  readonly listen: string;
  /** TLS for cloud mode. @default insecure (loopback) */
  readonly credentials?: grpc.ServerCredentials;
  /** `--set key=value` pairs, parsed against the root flow's declared state. @default none */
  readonly setPairs?: readonly string[];
  /** Overrides of the root flow's initial state, applied after `setPairs`. @default none */
  readonly set?: Readonly<Record<string, JsonValue>>;
  /** Continue from the journal of the previous run (`--resume`). @default false: start fresh */
  readonly resume?: boolean;
  /** fsync the journal on every drain (survives power loss). @default false */
  readonly journalFsync?: boolean;
  /** Compact the journal every this many lines (tests use small values). @default the journal's */
  readonly journalCompactEvery?: number;
  /** Called after each journal compaction step (the fault suite kills the flow there). @default none */
  readonly onJournalCompactionStep?: (step: CompactionStep) => void;
  readonly observer?: LoopObserver;
  /** Starts a work's daemon when a call needs it (local processes, cloud VMs). @default none */
  readonly host?: DaemonHost;
}

export interface FlowRuntime {
  readonly loop: EventLoop;
  /** The port the gRPC server listens on. */
  readonly port: number;
  /** True when state was restored from an earlier run's journal. */
  readonly resumed: boolean;
  /**
   * After the loop has ended (and its daemons said goodbye): closes the loop (a call that never
   * reported its end is recorded `stopped`), stops the gRPC server and closes the journal.
   */
  close(): Promise<void>;
  /** Stops the gRPC server at once, leaving the journal as it is (a kill). */
  closeServer(): Promise<void>;
}

/** Starts the flow of `app`: see the module comment. A bad `--set` fails before anything is opened. */
export async function startFlowRuntime(options: FlowRuntimeOptions): Promise<FlowRuntime> {
  const { app } = options;
  const rootStateOverrides = {
    ...(options.setPairs
      ? parseSetPairs(options.setPairs, app.root.initialState as Record<string, unknown>)
      : {}),
    ...(options.set ?? {}),
  };
  await ensureStateDir(options.appDir);
  const journalDir = join(options.appDir, '.lightning', 'journal');
  const restored = options.resume ? await Journal.load(journalDir) : null;
  const journal = await Journal.open(journalDir, !options.resume, {
    fsync: options.journalFsync ?? false,
    ...(options.journalCompactEvery ? { compactEvery: options.journalCompactEvery } : {}),
    ...(options.onJournalCompactionStep ? { onCompactionStep: options.onJournalCompactionStep } : {}),
  });
  const loop = new EventLoop(app, {
    ...(options.observer ? { observer: options.observer } : {}),
    ...(options.host ? { host: options.host } : {}),
    rootStateOverrides,
    journal,
    restored,
  });
  const server = new FlowServer(loop, {
    token: options.token,
    listen: options.listen,
    ...(options.credentials ? { credentials: options.credentials } : {}),
  });
  let port: number;
  try {
    port = await server.listen();
  } catch (err) {
    await journal.close();
    throw err;
  }
  return {
    loop,
    port,
    resumed: restored !== null,
    close: async () => {
      loop.close();
      await server.close();
      await journal.close();
    },
    closeServer: () => server.close(),
  };
}
