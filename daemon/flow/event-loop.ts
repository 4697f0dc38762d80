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
 * - A Work's status is owned by the flow for `pending` (dispatch, retry) and by the daemon
 *   for everything after; a daemon status for another call than the current one is stale
 *   and ignored.
 */

import { create } from '@bufbuild/protobuf';
import type { LightningApp } from '../../constructs/app.ts';
import { DaemonError, GrpcCode, LightningError, WorkFailedError } from '../../constructs/errors.ts';
import type { Flow } from '../../constructs/flow.ts';
import type { JsonObject, JsonValue } from '../../constructs/json.ts';
import { BINDING, type RunOptions } from '../../constructs/runtime-binding.ts';
import { Work } from '../../constructs/work.ts';
import { WORK_CREATED } from '../../constructs/work-map.ts';
import { initialStatus, isTerminal, type WorkStatus } from '../../constructs/work-status.ts';
import {
  type DaemonMessage,
  FlowMessageSchema,
  type Hello,
  LogChunk_Stream,
  type Snapshot,
  type StateDelta,
  type Status,
} from '../../proto/gen/lightning/v1/runtime_pb.ts';
import { opsFromWire, opsToWire, PROTOCOL_VERSION } from '../protocol/flow-service.ts';
import { phaseFromWire } from '../protocol/status-codec.ts';
import {
  applyPatch,
  captureOps,
  cloneState,
  type PatchOperation,
  parseStateJson,
  toStateValue,
} from '../state/json-patch.ts';
import { callHash, stableStringify } from '../state/stable-hash.ts';
import { flushPendingArrays, readonlyView, recordingView } from '../state/state-recorder.ts';
import { CallLifecycle } from './call-lifecycle.ts';
import { DrainChanges } from './drain-changes.ts';
import type { ComponentDocs } from './journal.ts';
import type {
  ActiveCall,
  AppEnd,
  DaemonHost,
  DaemonSession,
  EventLoopOptions,
  LogStream,
  LoopEvent,
  LoopObserver,
  WorkRecord,
} from './loop-types.ts';
import { CallPending, flowErrorEnd, swallowedWaitEnd } from './pass-outcome.ts';
import { type FlowRequest, WorkReplica } from './work-replica.ts';

export type {
  AppEnd,
  DaemonHost,
  DaemonSession,
  EventLoopOptions,
  LogStream,
  LoopObserver,
} from './loop-types.ts';

const MAX_PASSES = 100;

export class EventLoop {
  readonly app: LightningApp;
  private readonly root: Flow;
  private readonly works = new Map<string, WorkRecord>();
  private readonly flowVars = new Map<string, Record<string, JsonValue>>();
  private readonly sessions = new Map<DaemonSession, WorkRecord>();
  private readonly observers: LoopObserver[] = [];
  /** Fans every event out to the registered observers. */
  private readonly observer: Required<LoopObserver> = {
    onLog: (w, st, lines) => {
      for (const o of this.observers) o.onLog?.(w, st, lines);
    },
    onStatus: (w, status, previous) => {
      for (const o of this.observers) o.onStatus?.(w, status, previous);
    },
    onNotice: (m) => {
      for (const o of this.observers) o.onNotice?.(m);
    },
    onStateChanged: () => {
      for (const o of this.observers) o.onStateChanged?.();
    },
  };
  private readonly host: DaemonHost | undefined;
  private readonly defaultStopGraceMs: number;
  private readonly daemonLostAfterMs: number;

  private queue: LoopEvent[] = [];
  private scheduled = false;
  private changed = false;
  private passChanged = false;
  private endRequest: AppEnd | null = null;
  private ended: AppEnd | null = null;
  private idleNoticeShown = false;
  private resolveDone!: (end: AppEnd) => void;
  /** Resolves when the app has ended (stopApp/failApp/error/shutdown). */
  readonly done: Promise<AppEnd>;

  /** Counters, for tests and benchmarks. */
  readonly stats = {
    deltasApplied: 0,
    opsApplied: 0,
    duplicates: 0,
    gaps: 0,
    rejected: 0,
    passes: 0,
    drains: 0,
  };

  constructor(app: LightningApp, options: EventLoopOptions = {}) {
    this.app = app;
    this.root = app.root;
    if (options.observer) this.observers.push(options.observer);
    this.host = options.host;
    this.defaultStopGraceMs = options.defaultStopGraceMs ?? 10_000;
    this.daemonLostAfterMs = options.daemonLostAfterMs ?? 60_000;
    this.changes = new DrainChanges(options.journal);
    this.restored = options.restored ?? null;
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

  // ---- inputs (any thread of control may call these; they only enqueue) ----

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

  private readonly restored: ComponentDocs | null;
  /** Changes applied in the current drain, by component, for the journal. */
  /** This drain's changes, journaled (and then acknowledged) at its end. */
  private readonly changes: DrainChanges;

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

  // ---- the loop ----

  private enqueue(event: LoopEvent): void {
    this.queue.push(event);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.ended) return;
    this.scheduled = true;
    setImmediate(() => this.drain());
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

  private drain(): void {
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

  /** The CallPending signals thrown in the current pass. */
  private waits: CallPending[] = [];

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
    call: (e) => {
      e.fn();
      this.changed = true;
    },
  };

  private handle(event: LoopEvent): void {
    (this.handlers[event.kind] as (e: LoopEvent) => void)(event);
  }

  /** A daemon's stream ended; if it stays gone while a call is in flight, 'lost' follows. */
  private onStreamClosed(session: DaemonSession): void {
    const rec = this.sessions.get(session);
    this.sessions.delete(session);
    if (!rec || rec.session !== session) return;
    rec.session = null;
    if (this.daemonLostAfterMs > 0 && (rec.lifecycle.inFlight || rec.lifecycle.stage === 'retry-wait')) {
      setTimeout(
        () => this.enqueue({ kind: 'lost', work: rec.name, session }),
        this.daemonLostAfterMs,
      ).unref();
    }
  }

  /** Still without a stream since `session` closed: the daemon (or its VM) is gone. */
  private onDaemonLost(work: string, session: DaemonSession): void {
    const rec = this.works.get(work);
    if (!rec || rec.session !== null || rec.lastSession !== session) return;
    if (!rec.lifecycle.inFlight) return;
    rec.instanceId = null;
    rec.replica.takeBack();
    this.callFailed(
      rec,
      'daemon_lost',
      null,
      `the work's daemon has been unreachable for ${formatMs(this.daemonLostAfterMs)} (process or VM stopped, preempted, or cut off)`,
    );
  }

  /** A retry's backoff is over: send the next attempt (unless the call moved on meanwhile). */
  private onRetryDue(work: string, hash: string): void {
    const rec = this.works.get(work);
    if (!rec || rec.call?.hash !== hash || rec.lifecycle.stage !== 'retry-wait') return;
    rec.call.attempt++;
    this.sendRun(rec);
  }

  /** The local host saw the daemon process end: the flow holds the work's state again. */
  private onDaemonProcessEnded(work: string, detail: string): void {
    const rec = this.works.get(work);
    if (!rec) return;
    if (rec.session) {
      this.sessions.delete(rec.session);
      rec.session = null;
    }
    rec.instanceId = null;
    rec.replica.takeBack();
    if (rec.call && rec.lifecycle.inFlight) {
      this.callFailed(rec, 'daemon_exit', null, `the work's daemon process ended (${detail})`);
    }
  }

  private handleHello(session: DaemonSession, hello: Hello): void {
    if (hello.protocolVersion !== PROTOCOL_VERSION) {
      session.close(
        GrpcCode.FAILED_PRECONDITION,
        `protocol version ${hello.protocolVersion} is not supported (flow speaks ${PROTOCOL_VERSION}); run the same lightning-local version on both ends`,
      );
      return;
    }
    if (this.ended || this.endRequest) {
      session.close(GrpcCode.UNAVAILABLE, 'the app is shutting down');
      return;
    }
    let rec = this.works.get(hello.work);
    if (!rec) {
      const found = safeFind(this.app, hello.work);
      if (found) rec = this.works.get(found.name);
    }
    if (!rec) {
      session.close(GrpcCode.NOT_FOUND, `no work named "${hello.work}" in app ${this.app.name}`);
      return;
    }
    if (!hello.instanceId) {
      session.close(GrpcCode.INVALID_ARGUMENT, 'hello has no instance_id');
      return;
    }
    const resumed = rec.instanceId === hello.instanceId && Number(hello.epoch) === rec.epoch && rec.epoch > 0;
    if (rec.session && rec.session !== session) {
      const old = rec.session;
      this.sessions.delete(old);
      old.close(GrpcCode.ABORTED, `superseded by a newer connection for ${rec.name}`);
    }
    rec.session = session;
    rec.lastSession = session;
    this.sessions.set(session, rec);
    if (!resumed) {
      rec.epoch++;
      rec.instanceId = hello.instanceId;
      // The new daemon owns the document from here on, starting from the flow's copy.
      rec.replica.handToDaemon();
      this.changes.record(rec.name, {
        op: 'add',
        path: '/daemon',
        value: { epoch: rec.epoch, instanceId: rec.instanceId },
      });
      rec.appliedSeq = 0;
      // A new daemon process while a call was active: the old process (and its script) is
      // gone; run the call again on the new one.
      const stage = rec.lifecycle.stage;
      if (rec.call && (stage === 'running' || stage === 'dispatched')) {
        rec.status.restarts++;
        this.setStatus(rec, {
          phase: 'pending',
          reason: 'daemon_restart',
          message: 'the daemon restarted; running the call again',
        });
        rec.lifecycle.to('awaiting-daemon');
      }
    }
    rec.awaitingSnapshot = true;
    const welcome = create(FlowMessageSchema, {
      kind: {
        case: 'welcome',
        value: {
          epoch: BigInt(rec.epoch),
          appliedSeq: BigInt(rec.appliedSeq),
          stateJson: JSON.stringify(rec.replica.vars),
        },
      },
    });
    session.send(welcome);
    // Requests the owner may not have seen yet (it skips the ones it applied).
    for (const request of rec.replica.unconfirmed()) this.sendRequest(rec, request);
    if (rec.lifecycle.stage === 'awaiting-daemon') this.sendRun(rec);
  }

  private handleMessage(session: DaemonSession, message: DaemonMessage): void {
    const rec = this.sessions.get(session);
    if (!rec) {
      session.close(GrpcCode.FAILED_PRECONDITION, 'send hello first');
      return;
    }
    const kind = message.kind;
    switch (kind.case) {
      case 'delta':
        this.sequenced(rec, session, kind.value, () => this.applyDelta(rec, kind.value));
        return;
      case 'status':
        this.sequenced(rec, session, kind.value, () => this.applyStatus(rec, kind.value));
        return;
      case 'snapshot':
        this.applySnapshot(rec, session, kind.value);
        return;
      case 'log':
        if (kind.value.lines.length > 0) {
          this.observer.onLog?.(rec.name, logStream(kind.value.stream), kind.value.lines);
        }
        return;
      case 'heartbeat':
        return;
      case 'hello':
        session.close(GrpcCode.FAILED_PRECONDITION, 'hello may be sent only once per stream');
        return;
      default:
        session.close(GrpcCode.INVALID_ARGUMENT, 'empty or unknown message kind');
    }
  }

  /** Epoch fencing and seq ordering for deltas and statuses. */
  private sequenced(
    rec: WorkRecord,
    session: DaemonSession,
    m: { readonly work: string; readonly epoch: bigint; readonly seq: bigint },
    apply: () => void,
  ): void {
    if (m.work !== '' && m.work !== rec.name) {
      this.reject(
        rec,
        session,
        GrpcCode.INVALID_ARGUMENT,
        `message for "${m.work}" on the stream of ${rec.name}`,
      );
      return;
    }
    const epoch = Number(m.epoch);
    if (epoch !== rec.epoch) {
      this.reject(
        rec,
        session,
        GrpcCode.FAILED_PRECONDITION,
        `stale epoch ${epoch} for ${rec.name} (current ${rec.epoch}): a newer daemon owns this work`,
      );
      return;
    }
    const seq = Number(m.seq);
    if (seq <= rec.appliedSeq) {
      this.stats.duplicates++;
      return;
    }
    if (rec.awaitingSnapshot) return;
    if (seq !== rec.appliedSeq + 1) {
      this.stats.gaps++;
      rec.awaitingSnapshot = true;
      session.send(
        create(FlowMessageSchema, {
          kind: {
            case: 'snapshotRequest',
            value: {
              epoch: BigInt(rec.epoch),
              reason: `gap: expected seq ${rec.appliedSeq + 1}, got ${seq}`,
            },
          },
        }),
      );
      return;
    }
    try {
      apply();
    } catch (err) {
      const code = err instanceof DaemonError ? err.grpcCode : GrpcCode.INVALID_ARGUMENT;
      this.reject(rec, session, code, err instanceof Error ? err.message : String(err));
      return;
    }
    rec.appliedSeq = seq;
    rec.ackDue = true;
  }

  private reject(rec: WorkRecord, session: DaemonSession, code: GrpcCode, message: string): void {
    this.stats.rejected++;
    this.observer.onNotice?.(`${rec.name}: rejected a message from its daemon: ${message}`);
    this.sessions.delete(session);
    if (rec.session === session) rec.session = null;
    session.close(code, message);
  }

  private applyDelta(rec: WorkRecord, delta: StateDelta): void {
    const ops = opsFromWire(delta.ops);
    rec.replica.applyOwnerDelta(ops, Number(delta.appliedFlowSeq));
    this.stats.deltasApplied++;
    this.stats.opsApplied += ops.length;
    if (ops.length > 0) this.changed = true;
  }

  private applyStatus(rec: WorkRecord, s: Status): void {
    const phase = phaseFromWire(s.phase);
    if (!phase) throw new DaemonError(GrpcCode.INVALID_ARGUMENT, `status has no valid phase (${s.phase})`);
    if (!rec.call || s.callHash !== rec.call.hash) return; // a superseded call: stale
    if (rec.lifecycle.stage === 'retry-wait') return; // a retry is already scheduled for this failure
    const ts = Number(s.timestampMs) || Date.now();
    if (phase === 'failed' && rec.call.attempt < (rec.work.props.maxRetries ?? 0)) {
      this.callFailed(rec, s.reason || 'exit_code', s.exitCode ?? null, s.message);
      return;
    }
    this.setStatus(rec, {
      phase,
      updatedAt: ts,
      ...(phase === 'running' && rec.status.phase !== 'running' ? { startedAt: ts } : {}),
      ...(isTerminal(phase) ? { endedAt: ts } : {}),
      exitCode: s.exitCode ?? (isTerminal(phase) ? rec.status.exitCode : null),
      reason: s.reason || null,
      message: s.message || null,
      // The daemon's status always carries its current URL: empty until this call's port answers.
      url: s.url || null,
    });
    if (phase === 'running') rec.lifecycle.to('running');
    else if (isTerminal(phase)) rec.lifecycle.to('ended');
  }

  private applySnapshot(rec: WorkRecord, session: DaemonSession, snap: Snapshot): void {
    if (Number(snap.epoch) !== rec.epoch) {
      this.reject(
        rec,
        session,
        GrpcCode.FAILED_PRECONDITION,
        `stale epoch ${snap.epoch} in snapshot for ${rec.name}`,
      );
      return;
    }
    const seq = Number(snap.seq);
    if (seq <= rec.appliedSeq) {
      this.stats.duplicates++;
      return;
    }
    let vars: JsonValue;
    try {
      vars = parseStateJson(snap.stateJson, `${rec.name} snapshot`);
      if (typeof vars !== 'object' || vars === null || Array.isArray(vars)) {
        throw new DaemonError(GrpcCode.INVALID_ARGUMENT, 'snapshot state must be a JSON object');
      }
      if (snap.status) this.applyStatus(rec, snap.status);
    } catch (err) {
      const code = err instanceof DaemonError ? err.grpcCode : GrpcCode.INVALID_ARGUMENT;
      this.reject(rec, session, code, (err as Error).message);
      return;
    }
    rec.replica.applyOwnerSnapshot(vars as Record<string, JsonValue>, Number(snap.appliedFlowSeq));
    rec.appliedSeq = seq;
    rec.awaitingSnapshot = false;
    rec.ackDue = true;
    this.changed = true;
  }

  // ---- calls ----

  private declareCall(rec: WorkRecord, args: JsonObject, options: RunOptions): void {
    if (this.ended || this.endRequest) return;
    // run() is called on every pass, usually with the same arguments: the last validated
    // arguments' text and hash are kept per work, so a repeated call costs one stringify.
    const key = stableStringify(args);
    let hash: string;
    let argsValue: JsonValue | undefined;
    if (key === rec.lastArgsKey && rec.lastArgsHash !== null) {
      hash = rec.lastArgsHash;
    } else {
      try {
        argsValue = toStateValue(args, '');
      } catch (err) {
        throw new LightningError(
          'INVALID_ARGS',
          `${rec.name}.run(): arguments must be JSON (Paths allowed): ${(err as Error).message}`,
        );
      }
      hash = callHash(argsValue);
      rec.lastArgsKey = key;
      rec.lastArgsHash = hash;
    }
    const props = rec.work.props;
    const parallel = options.parallel ?? props.parallel ?? false;
    const cacheCalls = props.cacheCalls ?? true;
    const st = rec.status;
    const sameCall = rec.call?.hash === hash;
    const dispatch =
      !sameCall || st.phase === 'not_started' || (!cacheCalls && rec.lifecycle.stage === 'ended');
    if (dispatch) {
      rec.call = { hash, argsJson: JSON.stringify(argsValue ?? toStateValue(args, '')), attempt: 0 };
      this.changes.record(rec.name, { op: 'add', path: '/call', value: { ...rec.call } });
      this.setStatus(rec, {
        phase: 'pending',
        callHash: hash,
        attempt: 0,
        startedAt: null,
        endedAt: null,
        exitCode: null,
        reason: null,
        message: null,
        url: null, // the previous call's server is going away; set again once the new one answers
      });
      this.sendRun(rec);
    }
    if (parallel) return;
    if (rec.status.phase === 'succeeded' && rec.status.callHash === hash) return;
    if (
      (rec.status.phase === 'failed' || rec.status.phase === 'stopped') &&
      rec.lifecycle.stage === 'ended' &&
      !dispatch
    ) {
      throw new WorkFailedError(
        rec.name,
        rec.status.reason ?? rec.status.phase,
        rec.status.exitCode,
        rec.status.message ?? `the call ended ${rec.status.phase}`,
      );
    }
    const wait = new CallPending(rec.name, rec.status.phase);
    this.waits.push(wait);
    throw wait;
  }

  private sendRun(rec: WorkRecord): void {
    const call = rec.call;
    if (!call) return;
    this.flushOps(rec);
    if (!rec.session) {
      rec.lifecycle.to('awaiting-daemon');
      this.host?.ensureDaemon(rec.name, 'call');
      return;
    }
    rec.lifecycle.to('dispatched');
    if (rec.status.phase !== 'pending' || rec.status.attempt !== call.attempt) {
      this.setStatus(rec, { phase: 'pending', attempt: call.attempt });
    }
    rec.session.send(
      create(FlowMessageSchema, {
        kind: { case: 'run', value: { callHash: call.hash, argsJson: call.argsJson, attempt: call.attempt } },
      }),
    );
  }

  private callFailed(rec: WorkRecord, reason: string, exitCode: number | null, message: string): void {
    const call = rec.call;
    const maxRetries = rec.work.props.maxRetries ?? 0;
    if (call && call.attempt < maxRetries) {
      const base = (rec.work.props.retryBackoffSeconds ?? 1) * 1000;
      const delayMs = Math.min(60_000, base * 2 ** call.attempt);
      rec.status.restarts++;
      this.setStatus(rec, {
        phase: 'pending',
        reason: 'retry_scheduled',
        exitCode,
        message: `attempt ${call.attempt + 1} failed (${reason}${exitCode === null ? '' : `, exit code ${exitCode}`}): ${message}; retry ${call.attempt + 1}/${maxRetries} in ${delayMs / 1000}s`,
      });
      const hash = call.hash;
      rec.lifecycle.retryIn(delayMs, () => this.enqueue({ kind: 'retry', work: rec.name, hash }));
      return;
    }
    this.setStatus(rec, { phase: 'failed', reason, exitCode, message, endedAt: Date.now() });
    rec.lifecycle.to('ended');
  }

  private stopWork(rec: WorkRecord): void {
    const stage = rec.lifecycle.stage;
    if (stage === 'none' || stage === 'ended') return;
    if (stage === 'retry-wait' || stage === 'awaiting-daemon') {
      // Nothing runs on a daemon: the call ends here.
      rec.lifecycle.to('ended');
      this.setStatus(rec, {
        phase: 'stopped',
        reason: 'stopped',
        message: stage === 'retry-wait' ? 'stopped by the flow' : 'stopped before it started',
        endedAt: Date.now(),
      });
      return;
    }
    this.flushOps(rec);
    rec.session?.send(
      create(FlowMessageSchema, {
        kind: { case: 'stop', value: { reason: 'stopped by the flow', graceMs: this.graceMs(rec) } },
      }),
    );
  }

  private graceMs(rec: WorkRecord): number {
    const s = rec.work.props.stopGraceSeconds;
    return s === undefined ? this.defaultStopGraceMs : Math.round(s * 1000);
  }

  private setStatus(rec: WorkRecord, patch: Partial<WorkStatus>): void {
    const previous = rec.status.phase;
    const previousUrl = rec.status.url;
    Object.assign(rec.status, patch, { updatedAt: patch.updatedAt ?? Date.now() });
    this.changed = true;
    this.passChanged = true;
    this.idleNoticeShown = false;
    this.changes.record(rec.name, { op: 'add', path: '/status', value: { ...rec.status } });
    const phaseChanged = patch.phase !== undefined && patch.phase !== previous;
    if (phaseChanged || patch.reason === 'retry_scheduled' || (patch.url && patch.url !== previousUrl)) {
      this.observer.onStatus?.(rec.name, { ...rec.status }, previous);
    }
  }

  // ---- outgoing ----

  /** Sends the flow's writes to a work made since the last flush as one request to its owner. */
  private flushOps(rec: WorkRecord): void {
    flushPendingArrays();
    const request = rec.replica.takeRequest();
    if (request) this.sendRequest(rec, request);
  }

  private sendRequest(rec: WorkRecord, request: FlowRequest): void {
    rec.session?.send(
      create(FlowMessageSchema, {
        kind: {
          case: 'delta',
          value: {
            work: rec.name,
            epoch: BigInt(rec.epoch),
            seq: BigInt(request.seq),
            ops: opsToWire(request.ops),
          },
        },
      }),
    );
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

  // ---- binding constructs to the loop ----

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

function formatMs(ms: number): string {
  return ms >= 1000 ? `${Math.round(ms / 1000)} s` : `${ms} ms`;
}

function prefixed(op: PatchOperation, base: string): PatchOperation {
  return op.from === undefined
    ? { ...op, path: base + op.path }
    : { ...op, path: base + op.path, from: base + op.from };
}

function isObject(v: unknown): v is Record<string, JsonValue> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function safeFind(app: LightningApp, name: string): Work | undefined {
  try {
    const found = app.find(name);
    return found && Work.isWork(found) ? found : undefined;
  } catch {
    return undefined;
  }
}

function logStream(s: LogChunk_Stream): LogStream {
  return s === LogChunk_Stream.STDERR ? 'stderr' : s === LogChunk_Stream.DAEMON ? 'daemon' : 'stdout';
}
