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
 * - State ownership (ADR 0013): a work's state is owned by its daemon; the flow's writes to
 *   it are requests (work-replica.ts), applied once by the owner. A write made outside a
 *   drain (a timer in run()) schedules one.
 *
 * Files: this one (public API, queue, drain, passes, binding constructs), loop-core.ts
 * (state, calls, status), daemon-streams.ts (hello, sequencing, snapshots, daemons going
 * away), work-replica.ts, call-lifecycle.ts, drain-changes.ts (journal batch),
 * pass-outcome.ts, loop-types.ts.
 */

import { create } from '@bufbuild/protobuf';
import type { LightningApp } from '../../constructs/app.ts';
import { DaemonError, GrpcCode } from '../../constructs/errors.ts';
import type { Flow } from '../../constructs/flow.ts';
import type { JsonValue } from '../../constructs/json.ts';
import { BINDING } from '../../constructs/runtime-binding.ts';
import type { Work } from '../../constructs/work.ts';
import { WORK_CREATED } from '../../constructs/work-map.ts';
import { initialStatus, type WorkStatus } from '../../constructs/work-status.ts';
import {
  type DaemonMessage,
  FlowMessageSchema,
  type Hello,
} from '../../proto/gen/lightning/v1/runtime_pb.ts';
import {
  applyPatch,
  captureOps,
  cloneState,
  type PatchOperation,
  toStateValue,
} from '../state/json-patch.ts';
import { flushPendingArrays, readonlyView, recordingView } from '../state/state-recorder.ts';
import { CallLifecycle } from './call-lifecycle.ts';
import { DaemonStreams } from './daemon-streams.ts';
import type { ComponentDocs } from './journal.ts';
import type {
  ActiveCall,
  AppEnd,
  DaemonSession,
  EventLoopOptions,
  LoopEvent,
  LoopObserver,
  WorkRecord,
} from './loop-types.ts';
import { CallPending, flowErrorEnd, swallowedWaitEnd } from './pass-outcome.ts';
import { WorkReplica } from './work-replica.ts';

export type {
  AppEnd,
  DaemonHost,
  DaemonSession,
  EventLoopOptions,
  LogStream,
  LoopObserver,
} from './loop-types.ts';

const MAX_PASSES = 100;

export class EventLoop extends DaemonStreams {
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
      (map as unknown as Record<symbol, unknown>)[WORK_CREATED] = (w: Work) => this.bindWork(w);
    }
  }

  /** Starts the app: asks for every declared work's daemon and runs the first pass. */
  private startedAt: number | null = null;

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

  /** Runs `fn` on the loop (e.g. a state patch from the HTTP API); it may change state. */
  post(fn: () => void): void {
    this.enqueue({ kind: 'call', fn });
  }

  /** Ends the app from outside (Ctrl-C): works are stopped, `done` resolves. */
  requestEnd(exitCode: number, message: string): void {
    this.post(() => {
      this.endRequest ??= { exitCode, message };
    });
  }

  /** Adds an observer (a UI, a test); returns a function that removes it. */
  addObserver(observer: LoopObserver): () => void {
    this.observers.push(observer);
    return () => {
      const i = this.observers.indexOf(observer);
      if (i >= 0) this.observers.splice(i, 1);
    };
  }

  /**
   * Applies RFC 6902 ops from outside (the HTTP API, a UI) to a component's `vars`, on the
   * loop: validated and atomic like a daemon's delta, journaled, sent to the work's daemon
   * for a work, and followed by a pass of the flow. Status is not writable this way.
   * Rejects with a DaemonError (INVALID_ARGUMENT / NOT_FOUND) and changes nothing on bad input.
   */
  patchState(component: string, ops: readonly PatchOperation[]): Promise<void> {
    return new Promise((resolve, reject) => {
      this.post(() => {
        try {
          const flowVars = this.flowVars.get(component);
          const rec = flowVars ? undefined : this.works.get(component);
          if (!flowVars && !rec) {
            throw new DaemonError(
              GrpcCode.NOT_FOUND,
              `no flow or work named "${component}" in app ${this.app.name}`,
            );
          }
          const values = ops.map((op) =>
            op.value === undefined ? op : { ...op, value: toStateValue(op.value, op.path) },
          );
          if (rec) {
            rec.replica.externalWrite(values);
          } else if (flowVars) {
            applyPatch(flowVars, captureOps(values));
            for (const op of values) this.changes.record(component, prefixed(op, '/vars'));
          }
          this.passChanged = true;
          resolve();
        } catch (err) {
          reject(err);
        }
      });
    });
  }

  get hasEnded(): boolean {
    return this.ended !== null;
  }

  /** The app state tree: `{ "root": {vars}, "root.train": {status, vars} }` (a copy). */
  snapshot(): Record<string, { vars: JsonValue; status?: WorkStatus }> {
    const out: Record<string, { vars: JsonValue; status?: WorkStatus }> = {};
    for (const [name, vars] of this.flowVars) out[name] = { vars: cloneState(vars) };
    for (const rec of this.works.values())
      out[rec.name] = { status: { ...rec.status }, vars: cloneState(rec.replica.vars) };
    return out;
  }

  workNames(): string[] {
    return [...this.works.keys()];
  }

  statusOf(work: string): WorkStatus | undefined {
    const rec = this.works.get(work);
    return rec ? { ...rec.status } : undefined;
  }

  /**
   * Where the flow's replica of a work's state stands (ADR 0013), for tests and tools: the
   * daemon epoch and last applied seq, whether the flow holds the document, how many of the
   * flow's writes the owner has not confirmed, and the owner's confirmed state (a copy).
   */
  replicaOf(
    work: string,
  ):
    | { epoch: number; appliedSeq: number; ownedByFlow: boolean; unconfirmed: number; confirmed: JsonValue }
    | undefined {
    const rec = this.works.get(work);
    if (!rec) return undefined;
    return {
      epoch: rec.epoch,
      appliedSeq: rec.appliedSeq,
      ownedByFlow: rec.replica.ownedByFlow,
      unconfirmed: rec.replica.unconfirmedCount,
      confirmed: cloneState(rec.replica.confirmedState),
    };
  }

  /** True when no event is queued or about to be handled. */
  get isIdle(): boolean {
    return this.queue.length === 0 && !this.scheduled && !this.draining;
  }

  /**
   * Every write to state through a recording view lands here. Inside a drain it makes the
   * loop run another pass; outside one (a timer or promise started in run()) it schedules a
   * drain, so the write is sent, journaled and seen by a pass like any other change.
   */
  private stateWritten(): void {
    this.changed = true;
    this.passChanged = true;
    if (!this.draining) this.schedule();
  }

  private draining = false;

  protected override drain(): void {
    this.scheduled = false;
    if (this.ended) return;
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
    if (this.endRequest) {
      // The daemons get the last requests before Shutdown, on the same ordered stream, and
      // stop: what the flow has is the final state of every work; journal it as such.
      for (const rec of this.works.values()) rec.replica.takeBack();
    }
    this.changes.write(() => this.componentDocs());
    if (this.changed) {
      this.changed = false;
      this.observer.onStateChanged?.();
    }
    if (this.endRequest) this.end(this.endRequest);
    else this.noticeIfIdle();
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

  private bindFlow(flow: Flow, overrides?: Readonly<Record<string, JsonValue>>): void {
    const restored = this.restored?.[flow.name]?.vars as Record<string, JsonValue> | undefined;
    const base = restored ?? (flow.initialState as Record<string, unknown>);
    const vars = toStateValue({ ...base, ...(overrides ?? {}) }, '') as Record<string, JsonValue>;
    this.flowVars.set(flow.name, vars);
    const sink = (op: PatchOperation) => {
      this.changes.record(flow.name, prefixed(op, '/vars'));
      this.stateWritten();
    };
    const state = recordingView(vars, '', sink, `${flow.name}.state`);
    flow[BINDING] = {
      state,
      stopApp: (message) => {
        this.endRequest ??= { exitCode: 0, message };
      },
      failApp: (message) => {
        this.endRequest ??= { exitCode: 1, message };
      },
    };
  }

  private bindWork(work: Work): void {
    const name = work.name;
    if (this.works.has(name)) return;
    const rec: WorkRecord = {
      name,
      work,
      replica: undefined as unknown as WorkReplica, // set below, its hooks need `rec`
      status: initialStatus(),
      epoch: 0,
      instanceId: null,
      appliedSeq: 0,
      awaitingSnapshot: false,
      session: null,
      call: null,
      lifecycle: new CallLifecycle(name),
      ackDue: false,
      lastArgsKey: null,
      lastArgsHash: null,
      lastSession: null,
    };
    let vars = toStateValue(work.initialState, '') as Record<string, JsonValue>;
    const restored = this.restored?.[name];
    if (restored) {
      // Resuming: the work's last known state, status, call and daemon identity. A daemon that
      // kept running re-attaches with the same instance and epoch; a new one reruns the call.
      if (isObject(restored.vars)) vars = restored.vars as Record<string, JsonValue>;
      if (isObject(restored.status)) Object.assign(rec.status, restored.status);
      // A call that ended failed or stopped is forgotten, so the next run() with the same
      // arguments dispatches it again: resuming is how a user retries after fixing the cause.
      // A succeeded call is kept (not re-run); a pending or running one is still in flight.
      const phase = rec.status.phase;
      if (isObject(restored.call) && phase !== 'failed' && phase !== 'stopped') {
        rec.call = { ...(restored.call as unknown as ActiveCall) };
        // Where the call was: ended, running on a daemon that may re-attach, or (a retry was
        // scheduled, or its Run may not have reached a daemon) to be sent once one attaches.
        if (phase === 'succeeded') rec.lifecycle.to('ended');
        else if (phase === 'running') rec.lifecycle.to('running');
        else if (phase === 'pending' && rec.status.reason === 'retry_scheduled')
          rec.lifecycle.to('awaiting-daemon');
        else if (phase === 'pending') rec.lifecycle.to('dispatched');
      }
      if (isObject(restored.daemon)) {
        const d = restored.daemon as { epoch?: number; instanceId?: string | null };
        rec.epoch = d.epoch ?? 0;
        rec.instanceId = d.instanceId ?? null;
      }
    }
    rec.replica = new WorkReplica(vars, {
      journal: (op) => this.changes.record(rec.name, prefixed(op, '/vars')),
      rebind: () => this.rebindWorkState(rec),
    });
    // A daemon that kept running while the flow restarted still owns the document.
    if (rec.instanceId !== null) rec.replica.handToDaemon();
    this.works.set(name, rec);
    this.rebindWorkState(rec);
    if (this.startedAt !== null) this.changes.recordWork(rec);
  }

  private rebindWorkState(rec: WorkRecord): void {
    const sink = (op: PatchOperation) => {
      rec.replica.localWrite(op);
      this.stateWritten();
    };
    const state = recordingView(rec.replica.vars, '', sink, `${rec.name}.state`, () =>
      rec.replica.beforeWrite(),
    );
    const status = readonlyView<WorkStatus>(rec.status, `${rec.name}.status`);
    rec.work[BINDING] = {
      state,
      status,
      run: (args, options) => this.declareCall(rec, args, options),
      stop: () => this.stopWork(rec),
    };
  }
}

function prefixed(op: PatchOperation, base: string): PatchOperation {
  return op.from === undefined
    ? { ...op, path: base + op.path }
    : { ...op, path: base + op.path, from: base + op.from };
}

function isObject(v: unknown): v is Record<string, JsonValue> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
