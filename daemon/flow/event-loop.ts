/**
 * The app's event loop: the one place that mutates app state.
 *
 * Invariants
 * - Single-threaded and serialized: every input (a daemon message, a stream closing, a
 *   retry timer, a daemon process exiting, an outside state patch) becomes an event in
 *   `queue`; nothing touches state outside `drain()`. User code (`flow.run()`) runs only
 *   inside `drain()`, after the events of the burst were applied.
 * - Event-driven: `drain()` is scheduled with `setImmediate` when the first event of a burst
 *   arrives. There is no polling interval. A burst is coalesced: everything queued is
 *   applied in arrival order, then the root flow's `run()` runs once (again only if that
 *   pass changed state, up to MAX_PASSES).
 * - Ordering per Work (DESIGN §3.3): a daemon message carries (epoch, seq). Epoch must equal
 *   the Work's current epoch (a newer daemon process fences older ones); seq must be
 *   applied+1. Duplicates (seq <= applied) are dropped; a gap drops the message and asks the
 *   daemon for a snapshot, which replaces the Work's state wholesale.
 * - Deltas are applied atomically (json-patch.ts); an invalid one ends that daemon's stream
 *   with INVALID_ARGUMENT and changes nothing. Other Works and the loop carry on.
 * - A Work's status has one writer, `setStatus` (loop-core.ts), driven by the call's
 *   lifecycle (call-lifecycle.ts: none → awaiting-daemon → dispatched → running → retry-wait
 *   → ended) and the daemon's reports; a report for another call than the current one is
 *   stale and ignored.
 * - The end (stopApp, failApp, Ctrl-C) sends every daemon Shutdown; from then on no pass of
 *   run() and no retry happens, but what daemons send while they stop (logs, state,
 *   statuses) is still applied and journaled until `close()`, which the host calls once every
 *   daemon said goodbye or the grace period is over; calls that never reported their end are
 *   recorded `stopped` there.
 * - State ownership (ADR 0013): a work's state is owned by its daemon; the flow's writes to
 *   it are requests (work-replica.ts), applied once by the owner. A write made outside a
 *   drain (a timer in run()) schedules one.
 *
 * Files: this one (public API, queue, drain, passes), loop-bindings.ts (how the constructs'
 * state, status, run() and stop() reach the loop), loop-core.ts (state, calls, status),
 * daemon-streams.ts (hello, sequencing, snapshots, daemons going away), outside-requests.ts
 * (reads of state and what the CLI and the UI ask: post, patchState, stop, rerun,
 * observers), work-replica.ts, call-lifecycle.ts, restore-work.ts (--resume),
 * drain-changes.ts (journal batch), pass-outcome.ts, loop-types.ts.
 */

import { create } from '@bufbuild/protobuf';
import type { LightningApp } from '../../constructs/app.ts';
import { BINDING } from '../../constructs/runtime-binding.ts';
import {
  type DaemonMessage,
  FlowMessageSchema,
  type Heartbeat,
  type Hello,
} from '../../proto/gen/lightning/v1/runtime_pb.ts';
import { cloneState } from '../state/json-patch.ts';
import { flushPendingArrays } from '../state/state-recorder.ts';
import type { ComponentDocs } from './journal.ts';
import { LoopBindings } from './loop-bindings.ts';
import type { AppEnd, DaemonSession, EventLoopOptions, LoopEvent } from './loop-types.ts';
import { CallPending, flowErrorEnd, swallowedWaitEnd } from './pass-outcome.ts';

export type {
  AppEnd,
  CallStart,
  DaemonHost,
  DaemonSession,
  EventLoopOptions,
  LogStream,
  LoopObserver,
} from './loop-types.ts';

const MAX_PASSES = 100;

export class EventLoop extends LoopBindings {
  private resolveDone!: (end: AppEnd) => void;

  /** Resolves when the app has ended (stopApp/failApp/error/shutdown). */
  readonly done: Promise<AppEnd>;

  constructor(app: LightningApp, options: EventLoopOptions = {}) {
    super(app, options);
    this.done = new Promise((resolve) => {
      this.resolveDone = resolve;
    });
    for (const flow of app.flows())
      this.bindFlow(flow, flow === this.root ? options.rootStateOverrides : undefined);
    for (const work of app.works()) this.bindWork(work);
    for (const map of app.workMaps()) {
      map[BINDING] = { workCreated: (w) => this.bindWork(w) };
    }
  }

  /** Starts the app: asks for every declared work's daemon and runs the first pass. */
  start(): void {
    this.startedAt = Date.now();
    for (const [name, vars] of this.flowVars)
      this.changes.record(name, { op: 'add', path: '/vars', value: vars });
    for (const rec of this.works.values()) {
      this.changes.recordWork(rec);
      this.host?.ensureDaemon(rec.name, 'start');
    }
    this.changed = true;
    this.schedule();
  }

  onHello(session: DaemonSession, hello: Hello): void {
    this.enqueue({ kind: 'hello', session, hello });
  }

  onMessage(session: DaemonSession, message: DaemonMessage): void {
    this.enqueue({ kind: 'message', session, message });
  }

  /** A heartbeat from `work`'s daemon: observers hear of it; no state changes, no pass runs. */
  onHeartbeat(work: string, beat: Heartbeat): void {
    this.observer.onHeartbeat(
      work,
      beat.gpuUtilizationPercent === undefined ? {} : { gpuUtilizationPercent: beat.gpuUtilizationPercent },
    );
  }

  onClosed(session: DaemonSession): void {
    this.enqueue({ kind: 'closed', session });
  }

  /** The local process host reports that a work's daemon process ended. */
  onDaemonExit(work: string, detail: string): void {
    this.enqueue({ kind: 'daemon-exit', work, detail });
  }

  /**
   * The process host reports on getting `work` a daemon (in the cloud: creating its VM, each
   * zone tried). The message goes into the work's status while its call waits; with
   * `failReason` the host has given up and the call fails (retries apply).
   */
  hostReport(work: string, message: string, failReason?: string): void {
    this.enqueue({ kind: 'host-report', work, message, ...(failReason ? { failReason } : {}) });
  }

  get hasEnded(): boolean {
    return this.ended !== null;
  }

  /** True when no event is queued or about to be handled. */
  get isIdle(): boolean {
    return this.queue.length === 0 && !this.scheduled && !this.draining;
  }

  protected override drain(): void {
    this.scheduled = false;
    if (this.closed) return;
    this.draining = true;
    try {
      this.drainOnce();
    } finally {
      this.draining = false;
    }
  }

  private drainOnce(): void {
    this.stats.drains++;
    // Array mutations made outside a pass become ops before any event changes the documents.
    flushPendingArrays();
    const events = this.queue;
    this.queue = [];
    for (const event of events) {
      try {
        this.handle(event);
      } catch (err) {
        this.reportInternal(err);
      }
    }
    if (this.changed && !this.endRequest) this.runPasses();
    flushPendingArrays(); // array mutations of this drain become ops now, not a microtask later
    this.flushOutgoing();
    this.changes.write(() => this.componentDocs());
    if (this.changed) {
      this.changed = false;
      this.observer.onStateChanged?.();
    }
    if (this.endRequest) this.end(this.endRequest);
    else this.noticeIfIdle();
    if (this.ended && this.sessions.size === 0) this.resolveGoodbyes?.();
  }

  private resolveGoodbyes: (() => void) | undefined;

  /**
   * After the end: resolves once every daemon stream has closed (each daemon sends its last
   * logs, state and status, then closes its side), or after `timeoutMs`. Until `close()`, the
   * loop keeps applying what daemons send (no passes of run(), no retries).
   */
  goodbyes(timeoutMs: number): Promise<void> {
    if (this.sessions.size === 0 && this.ended) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.resolveGoodbyes = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /**
   * The last step of an ended app, once its daemons are gone or out of time: applies what is
   * still queued, records every call that did not report its end as stopped, takes every
   * work's document back (the final state, journaled as such), and stops the loop. Call it
   * before closing the journal.
   */
  close(): void {
    if (this.closed || !this.ended) return;
    this.draining = true;
    try {
      this.drainOnce();
      const message = `the app ended (${this.ended.message}) before the work's daemon reported the call's end`;
      for (const rec of this.works.values()) {
        rec.replica.takeBack();
        const stage = rec.lifecycle.stage;
        if (rec.lifecycle.inFlight || stage === 'retry-wait') {
          rec.lifecycle.to('ended');
          this.setStatus(rec, { phase: 'stopped', reason: 'stopped', message, endedAt: Date.now() });
        }
      }
      this.changes.write(() => this.componentDocs());
      if (this.changed) {
        this.changed = false;
        this.observer.onStateChanged?.();
      }
    } finally {
      this.draining = false;
    }
    this.closed = true;
  }

  private runPasses(): void {
    for (let pass = 0; pass < MAX_PASSES; pass++) {
      this.passChanged = false;
      this.stats.passes++;
      this.waits = [];
      let thrown: unknown;
      try {
        this.root.run();
      } catch (err) {
        thrown = err;
      }
      const swallowed = this.waits.find((w) => w !== thrown);
      if (swallowed) {
        // Overrides a stopApp() the fallback may have called: that code should not have run.
        this.endRequest = swallowedWaitEnd(swallowed, this.root.name);
        return;
      }
      if (thrown !== undefined && !(thrown instanceof CallPending)) {
        this.endRequest ??= flowErrorEnd(thrown, this.root.name);
        return;
      }
      if (this.endRequest || !this.passChanged) return;
    }
    this.endRequest ??= {
      exitCode: 1,
      message:
        `${this.root.name}.run() changed state on ${MAX_PASSES} passes in a row, so the loop would never settle. ` +
        'Only write state when something new happened (e.g. guard with an if on the value you write).',
    };
  }

  /**
   * One handler per event kind. The mapped type makes a missing handler, or one that reads a
   * field its event does not have, a compile error (like temporal's activation jobs).
   */
  private readonly handlers: {
    readonly [K in LoopEvent['kind']]: (event: Extract<LoopEvent, { kind: K }>) => void;
  } = {
    hello: (e) => this.handleHello(e.session, e.hello),
    message: (e) => this.handleMessage(e.session, e.message),
    closed: (e) => this.onStreamClosed(e.session),
    lost: (e) => this.onDaemonLost(e.work, e.session),
    retry: (e) => this.onRetryDue(e.work, e.hash),
    'daemon-exit': (e) => this.onDaemonProcessEnded(e.work, e.detail),
    'host-report': (e) => this.onHostReport(e.work, e.message, e.failReason),
    call: (e) => {
      e.fn();
      this.changed = true;
    },
  };

  private handle(event: LoopEvent): void {
    (this.handlers[event.kind] as (e: LoopEvent) => void)(event);
  }

  private flushOutgoing(): void {
    for (const rec of this.works.values()) {
      this.flushOps(rec);
      if (rec.ackDue && rec.session) {
        rec.ackDue = false;
        const session = rec.session;
        const ack = create(FlowMessageSchema, {
          kind: { case: 'ack', value: { epoch: BigInt(rec.epoch), seq: BigInt(rec.appliedSeq) } },
        });
        this.changes.whenWritten(() => session.send(ack));
      }
    }
  }

  /** Every component's document, as the journal stores them. */
  private componentDocs(): ComponentDocs {
    const docs: ComponentDocs = {};
    for (const [name, vars] of this.flowVars) docs[name] = { vars: cloneState(vars) };
    for (const rec of this.works.values()) {
      docs[rec.name] = {
        vars: cloneState(rec.replica.confirmedState),
        status: { ...rec.status },
        call: rec.call ? { ...rec.call } : null,
        daemon: { epoch: rec.epoch, instanceId: rec.instanceId },
      };
    }
    return docs;
  }

  private end(end: AppEnd): void {
    if (this.ended) return;
    this.ended = end;
    for (const rec of this.works.values()) {
      rec.lifecycle.dispose();
      rec.session?.send(
        create(FlowMessageSchema, {
          kind: { case: 'shutdown', value: { reason: end.message, graceMs: this.graceMs(rec) } },
        }),
      );
    }
    this.refuseWaitingRequests();
    this.resolveDone(end);
  }

  private noticeIfIdle(): void {
    if (this.idleNoticeShown || this.queue.length > 0) return;
    for (const rec of this.works.values()) {
      const p = rec.status.phase;
      if (p === 'pending' || p === 'running' || rec.lifecycle.stage === 'retry-wait') return;
    }
    this.idleNoticeShown = true;
    this.observer.onNotice?.(
      'No work is running and the flow is waiting for a state change. Press Ctrl-C to stop, or call this.stopApp() in run() to end the app when it is done.',
    );
  }

  private reportInternal(err: unknown): void {
    this.observer.onNotice?.(
      `internal error in the event loop (the app goes on): ${(err as Error)?.stack ?? err}`,
    );
  }
}
