/**
 * The types the event loop is built from: what it talks to (daemon streams, observers, the
 * process host), its options, its input events, and its record of each work.
 */

import type { GrpcCode } from '../../constructs/errors.ts';
import type { JsonValue } from '../../constructs/json.ts';
import type { Work } from '../../constructs/work.ts';
import type { RerunReason, WorkPhase, WorkStatus } from '../../constructs/work-status.ts';
import type { DaemonMessage, FlowMessage, Hello } from '../../proto/gen/lightning/v1/runtime_pb.ts';
import type { PartAssembler } from '../protocol/document-parts.ts';
import type { CallLifecycle } from './call-lifecycle.ts';
import type { ComponentDocs, Journal } from './journal.ts';
import type { WorkReplica } from './work-replica.ts';

/** One connected daemon stream, as the loop sees it. Implemented by the flow server. */
export interface DaemonSession {
  readonly id: number;
  readonly peer: string;
  send(message: FlowMessage): void;
  /** Ends the stream with a gRPC status (the daemon will reconnect). */
  close(code: GrpcCode, message: string): void;
}

export type LogStream = 'stdout' | 'stderr' | 'daemon';

/** A call the loop dispatched to a work (see LoopObserver.onCall). */
export interface CallStart {
  /** The call's identity: a hash of its arguments (`status.callHash` while it runs). */
  readonly callHash: string;
  /**
   * The arguments as the work receives them (JSON; Paths as their JSON form): a value made
   * for this call, shared by every observer, so read it and do not change it.
   */
  readonly args: JsonValue;
  /** `flow`: the flow's `work.run()`; `rerun`: `loop.rerun()` (the UI's Restart). */
  readonly cause: 'flow' | 'rerun';
}

/** What the loop tells the outside world (the CLI prints it, tests observe it). */
export interface LoopObserver {
  /**
   * A call is dispatched: a `work.run()` with new arguments (or a repeat under
   * `cacheCalls: false`), or a re-run. Comes before the status change it causes; retries of
   * the call are not new calls (the status carries the attempt).
   */
  onCall?(work: string, call: CallStart): void;
  onLog?(work: string, stream: LogStream, lines: readonly string[]): void;
  onStatus?(work: string, status: WorkStatus, previous: WorkPhase): void;
  onNotice?(message: string): void;
  /** After every drain that changed state (for UIs, benchmarks and tests). */
  onStateChanged?(): void;
  /**
   * A work's daemon sent a heartbeat; `gpuUtilizationPercent` when its machine has GPUs (the
   * cloud's idle stop weighs it). Off the loop: it changes no state.
   */
  onHeartbeat?(work: string, beat: { readonly gpuUtilizationPercent?: number }): void;
}

/** Hooks into process management (local: spawn processes; cloud: start VMs). */
export interface DaemonHost {
  /**
   * Make sure a daemon for `work` is (being) started. Idempotent. `why` is 'start' when the
   * app starts (local mode warms every daemon; cloud leaves first-run VMs stopped), 'call'
   * when a call is waiting for the work, and 'preempted' when the work's VM got a preemption
   * notice and a call waits to run again (cloud: wait for the VM to stop, then start it).
   */
  ensureDaemon(work: string, why: 'start' | 'call' | 'preempted'): void;
}

export interface AppEnd {
  readonly exitCode: number;
  readonly message: string;
}

export interface EventLoopOptions {
  readonly observer?: LoopObserver;
  readonly host?: DaemonHost;
  /** Overrides of the root flow's initial state (`--set`). */
  readonly rootStateOverrides?: Readonly<Record<string, JsonValue>>;
  /** Grace period for Stop/Shutdown when a work gives none. @default 10 s */
  readonly defaultStopGraceMs?: number;
  /**
   * A work whose daemon stream is gone for this long while a call is pending or running is
   * failed with reason `daemon_lost` (retries apply: the next attempt asks the host for the
   * daemon again, which in the cloud starts its VM). Covers a preempted or stopped VM.
   * @default 60000
   */
  readonly daemonLostAfterMs?: number;
  /** Where applied changes are recorded before they are acknowledged. @default none */
  readonly journal?: Journal;
  /** State to resume from (Journal.load of an earlier run), by component name. */
  readonly restored?: ComponentDocs | null;
}

export type LoopEvent =
  | { readonly kind: 'hello'; readonly session: DaemonSession; readonly hello: Hello }
  | { readonly kind: 'message'; readonly session: DaemonSession; readonly message: DaemonMessage }
  | { readonly kind: 'closed'; readonly session: DaemonSession }
  | { readonly kind: 'retry'; readonly work: string; readonly hash: string }
  | { readonly kind: 'daemon-exit'; readonly work: string; readonly detail: string }
  | {
      readonly kind: 'host-report';
      readonly work: string;
      readonly message: string;
      /** Set when the host cannot give the work a daemon at all (no VM): the call fails with it. */
      readonly failReason?: string;
    }
  | { readonly kind: 'call'; readonly fn: () => void }
  | { readonly kind: 'lost'; readonly work: string; readonly session: DaemonSession };

export interface ActiveCall {
  readonly hash: string;
  readonly argsJson: string;
  attempt: number;
  /**
   * Why the call runs again, once it does (sent in Run, announced in the work's log): null
   * on its first run. Absent in journals written before it existed.
   */
  rerun?: { readonly reason: RerunReason; readonly why: string } | null;
}

export interface WorkRecord {
  readonly name: string;
  readonly work: Work;
  /** The flow's replica of the work's vars and its unconfirmed writes (ADR 0013). */
  replica: WorkReplica;
  readonly status: { -readonly [K in keyof WorkStatus]: WorkStatus[K] };
  epoch: number;
  instanceId: string | null;
  appliedSeq: number;
  awaitingSnapshot: boolean;
  /** The parts of a snapshot larger than one message, collected until the last one arrives. */
  readonly snapshotParts: PartAssembler;
  session: DaemonSession | null;
  call: ActiveCall | null;
  /** Where the current call is (the loop writes `status` from its transitions). */
  readonly lifecycle: CallLifecycle;
  /** Highest seq applied since the last ack was sent. */
  ackDue: boolean;
  /** The most recent stream of this work (a 'lost' check applies only if none came since). */
  lastSession: DaemonSession | null;
  /**
   * Resuming: the restored call was in flight; the first new daemon (not a re-attach) runs it
   * again as a `resume` rerun. Cleared by the first hello.
   */
  restoredInFlight: boolean;
  /**
   * Resuming: the restored call had failed or stopped and was forgotten; if run() declares it
   * again (same hash) it runs as a `resume` rerun, and this says why.
   */
  forgottenCall: { readonly hash: string; readonly argsJson: string; readonly why: string } | null;
  /** The last run() arguments validated (a copy of them) and their hash. */
  lastArgs: JsonValue | null;
  lastArgsHash: string | null;
}
