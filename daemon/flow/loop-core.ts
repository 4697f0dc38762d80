/**
 * The event loop's state and its per-work call operations (declare, send, fail/retry, stop,
 * status): the base of EventLoop (event-loop.ts), split by responsibility. Everything here
 * runs on the loop (see the invariants in event-loop.ts); `status` is written only by
 * `setStatus`, from CallLifecycle transitions and the daemon's reports.
 */
import { randomUUID } from 'node:crypto';
import { create } from '@bufbuild/protobuf';
import type { LightningApp } from '../../constructs/app.ts';
import { DaemonError, GrpcCode, LightningError, WorkFailedError } from '../../constructs/errors.ts';
import type { Flow } from '../../constructs/flow.ts';
import type { JsonObject, JsonValue } from '../../constructs/json.ts';
import type { RunOptions } from '../../constructs/runtime-binding.ts';
import { pendingStatus, type WorkStatus } from '../../constructs/work-status.ts';
import { FlowMessageSchema } from '../../proto/gen/lightning/v1/runtime_pb.ts';
import { opsToWire } from '../protocol/flow-service.ts';
import { cloneState, toStateValue } from '../state/json-patch.ts';
import { callHash, sameJson } from '../state/stable-hash.ts';
import { flushPendingArrays } from '../state/state-recorder.ts';
import { DrainChanges } from './drain-changes.ts';
import type { ComponentDocs } from './journal.ts';
import type {
  ActiveCall,
  AppEnd,
  CallStart,
  DaemonHost,
  DaemonSession,
  EventLoopOptions,
  LoopEvent,
  LoopObserver,
  WorkRecord,
} from './loop-types.ts';
import { CallPending } from './pass-outcome.ts';
import type { FlowRequest } from './work-replica.ts';

export abstract class LoopCore {
  readonly app: LightningApp;
  protected readonly root: Flow;
  protected readonly works = new Map<string, WorkRecord>();
  protected readonly flowVars = new Map<string, Record<string, JsonValue>>();
  protected readonly sessions = new Map<DaemonSession, WorkRecord>();
  /** The id of the last Run sent to each work (see sendRun). */
  private readonly runIds = new Map<WorkRecord, string>();
  protected readonly observers: LoopObserver[] = [];
  /** Fans every event out to the registered observers. */
  protected readonly observer: Required<LoopObserver> = {
    onCall: (w, call) => {
      for (const o of this.observers) o.onCall?.(w, call);
    },
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
    onHeartbeat: (w, beat) => {
      for (const o of this.observers) o.onHeartbeat?.(w, beat);
    },
  };
  protected readonly host: DaemonHost | undefined;
  protected readonly defaultStopGraceMs: number;
  protected readonly daemonLostAfterMs: number;
  protected queue: LoopEvent[] = [];
  protected scheduled = false;
  protected changed = false;
  protected passChanged = false;
  protected endRequest: AppEnd | null = null;
  protected ended: AppEnd | null = null;
  /**
   * Set by close(): nothing is handled any more. Between `ended` and `closed` the loop still
   * applies what daemons send while they stop (their last logs, state and statuses).
   */
  protected closed = false;
  protected idleNoticeShown = false;
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
  protected readonly restored: ComponentDocs | null;
  /** Changes applied in the current drain, by component, for the journal. */
  /** This drain's changes, journaled (and then acknowledged) at its end. */
  protected readonly changes: DrainChanges;
  protected enqueue(event: LoopEvent): void {
    this.queue.push(event);
    this.schedule();
  }
  protected schedule(): void {
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    setImmediate(() => this.drain());
  }
  /** The CallPending signals thrown in the current pass. */
  protected waits: CallPending[] = [];
  protected declareCall(rec: WorkRecord, args: JsonObject, options: RunOptions): void {
    if (this.ended || this.endRequest) return;
    // run() is called on every pass, usually with the same arguments: the last validated
    // arguments (a copy) and their hash are kept per work, and a repeated call is recognised
    // by walking the arguments beside that copy, which allocates nothing (at 100 works this
    // walk runs 100 times a pass; the stable JSON text it replaced was half the pass's time
    // and most of the flow's garbage: docs/benchmarks.md).
    let hash: string;
    let argsValue: JsonValue | undefined;
    if (rec.lastArgsHash !== null && sameJson(args, rec.lastArgs)) {
      hash = rec.lastArgsHash;
    } else {
      try {
        argsValue = toStateValue(args, '');
      } catch (err) {
        throw new LightningError(
          'INVALID_ARGS',
          `${rec.name}.run(): arguments must be JSON (Paths allowed): ${(err as Error).message}`,
          { fix: 'pass plain objects, arrays, strings, finite numbers, booleans, null or Paths' },
        );
      }
      // Equal once validated (a key set to undefined, say): the same call.
      if (rec.lastArgsHash !== null && sameJson(argsValue, rec.lastArgs)) {
        hash = rec.lastArgsHash;
      } else {
        hash = callHash(argsValue);
        rec.lastArgs = cloneState(argsValue);
        rec.lastArgsHash = hash;
      }
    }
    const props = rec.work.props;
    const parallel = options.parallel ?? props.parallel ?? false;
    const cacheCalls = props.cacheCalls ?? true;
    const st = rec.status;
    const sameCall = rec.call?.hash === hash;
    const dispatch =
      !sameCall || st.phase === 'not_started' || (!cacheCalls && rec.lifecycle.stage === 'ended');
    if (dispatch) {
      const forgotten = rec.forgottenCall?.hash === hash ? rec.forgottenCall : null;
      rec.forgottenCall = null;
      const value = argsValue ?? toStateValue(args, '');
      const rerun = forgotten ? { reason: 'resume' as const, why: forgotten.why } : null;
      this.dispatchCall(rec, { hash, argsJson: JSON.stringify(value), attempt: 0, rerun }, value, 'flow');
      if (forgotten) this.announceRerun(rec);
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
  /** Makes `call` the work's current call, tells the observers, and sends it. */
  private dispatchCall(rec: WorkRecord, call: ActiveCall, args: JsonValue, cause: CallStart['cause']): void {
    rec.call = call;
    this.changes.record(rec.name, { op: 'add', path: '/call', value: { ...call } });
    this.observer.onCall(rec.name, { callHash: call.hash, args, cause });
    // url is reset too: the previous call's server is going away; set again once the new one answers
    this.setStatus(rec, pendingStatus(call.hash, 0));
    this.sendRun(rec);
  }
  /**
   * Runs the work's last call again with the same arguments (the UI's Restart): the lifecycle's
   * `rerun` transition, from `ended` only. A flow that waits for the work (not parallel) waits
   * for the new run as for any pending call. Throws a DaemonError (FAILED_PRECONDITION) saying
   * why when there is no call yet or it has not ended.
   */
  protected rerunCall(rec: WorkRecord): void {
    const call = rec.call;
    if (!call) {
      throw new DaemonError(
        GrpcCode.FAILED_PRECONDITION,
        `${rec.name} has not been called yet, so there is no call to run again. ` +
          `It runs when the flow calls ${rec.name}.run(…).`,
      );
    }
    if (rec.lifecycle.stage !== 'ended') {
      const where = rec.lifecycle.stage === 'retry-wait' ? 'waiting to be retried' : rec.status.phase;
      throw new DaemonError(
        GrpcCode.FAILED_PRECONDITION,
        `${rec.name}'s call is ${where}: only a call that ended (succeeded, failed or stopped) can be run again. ` +
          'Stop it first, then restart it.',
      );
    }
    rec.lifecycle.rerun();
    this.dispatchCall(
      rec,
      { ...call, attempt: 0, rerun: null },
      JSON.parse(call.argsJson) as JsonValue,
      'rerun',
    );
  }
  /**
   * Sends the work's call to its daemon (or asks the host for one). `again`: the same Run as
   * the last one sent, which a broken stream may have lost: it keeps its run id.
   */
  protected sendRun(rec: WorkRecord, again = false): void {
    const call = rec.call;
    if (!call) return;
    this.flushOps(rec);
    if (!rec.session) {
      rec.lifecycle.to('awaiting-daemon');
      this.host?.ensureDaemon(rec.name, 'call');
      return;
    }
    rec.lifecycle.to('dispatched');
    // The daemon starts a run id at most once: a copy of this Run never runs the call twice.
    if (!again || !this.runIds.has(rec)) this.runIds.set(rec, randomUUID());
    if (rec.status.phase !== 'pending' || rec.status.attempt !== call.attempt) {
      this.setStatus(rec, { phase: 'pending', attempt: call.attempt });
    }
    rec.session.send(
      create(FlowMessageSchema, {
        kind: {
          case: 'run',
          value: {
            callHash: call.hash,
            argsJson: call.argsJson,
            attempt: call.attempt,
            rerun: call.rerun?.reason ?? '',
            runId: this.runIds.get(rec)!,
          },
        },
      }),
    );
  }
  protected callFailed(rec: WorkRecord, reason: string, exitCode: number | null, message: string): void {
    const call = rec.call;
    const maxRetries = rec.work.props.maxRetries ?? 0;
    // Once the app ended nothing is retried: the failure is the call's last word.
    if (call && call.attempt < maxRetries && !this.ended) {
      const base = (rec.work.props.retryBackoffSeconds ?? 1) * 1000;
      const delayMs = Math.min(60_000, base * 2 ** call.attempt);
      rec.status.restarts++;
      call.rerun = {
        reason: 'retry',
        why: `attempt ${call.attempt + 1} failed (${reason}${exitCode === null ? '' : `, exit code ${exitCode}`}): ${message}`,
      };
      this.changes.record(rec.name, { op: 'add', path: '/call', value: { ...call } });
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
  /**
   * Says in the work's log (terminal and log file) that its call runs again and why, and
   * journals the call with its rerun reason: calls are at-least-once (ADR 0020), and a rerun
   * must never be silent.
   */
  protected announceRerun(rec: WorkRecord): void {
    const call = rec.call;
    if (!call?.rerun) return;
    this.changes.record(rec.name, { op: 'add', path: '/call', value: { ...call } });
    const maxRetries = rec.work.props.maxRetries ?? 0;
    const attempt = call.rerun.reason === 'retry' ? `, attempt ${call.attempt + 1} of ${maxRetries + 1}` : '';
    this.observer.onLog(rec.name, 'daemon', [
      `warning: running the call again (${call.rerun.reason}${attempt}): ${call.rerun.why}`,
    ]);
  }
  /**
   * The work's VM got a preemption notice and the attempt ended (its checkpoint saved). Not a
   * failure of the call and not counted against maxRetries: the call waits for a daemon
   * again, and the host starts the VM once GCE has stopped it; the new daemon's hello
   * dispatches the call, which resumes from the checkpoint.
   */
  protected callPreempted(rec: WorkRecord, message: string): void {
    rec.status.restarts++;
    this.setStatus(rec, { phase: 'pending', reason: 'preempted', exitCode: null, message });
    rec.lifecycle.to('awaiting-daemon');
    if (rec.call) {
      // A rerun is never silent (ADR 0020): a new daemon on the restarted VM runs it.
      rec.call.rerun = {
        reason: 'daemon_restart',
        why: `the work's VM was preempted (${message.split('\n')[0]}); the call runs again on the restarted VM, from its checkpoint if it saved one`,
      };
      this.announceRerun(rec);
    }
    this.host?.ensureDaemon(rec.name, 'preempted');
  }
  protected stopWork(rec: WorkRecord, reason = 'stopped by the flow'): void {
    const stage = rec.lifecycle.stage;
    if (stage === 'none' || stage === 'ended') return;
    if (stage === 'retry-wait' || stage === 'awaiting-daemon') {
      // Nothing runs on a daemon: the call ends here.
      rec.lifecycle.to('ended');
      this.setStatus(rec, {
        phase: 'stopped',
        reason: 'stopped',
        message: stage === 'retry-wait' ? reason : 'stopped before it started',
        endedAt: Date.now(),
      });
      return;
    }
    this.flushOps(rec);
    rec.session?.send(
      create(FlowMessageSchema, {
        kind: { case: 'stop', value: { reason, graceMs: this.graceMs(rec) } },
      }),
    );
  }
  protected graceMs(rec: WorkRecord): number {
    const s = rec.work.props.stopGraceSeconds;
    return s === undefined ? this.defaultStopGraceMs : Math.round(s * 1000);
  }
  protected setStatus(rec: WorkRecord, patch: Partial<WorkStatus>): void {
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
  /** Sends the flow's writes to a work made since the last flush as requests to its owner (one, unless large). */
  protected flushOps(rec: WorkRecord): void {
    flushPendingArrays();
    for (const request of rec.replica.takeRequests()) this.sendRequest(rec, request);
  }
  protected sendRequest(rec: WorkRecord, request: FlowRequest): void {
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

  constructor(app: LightningApp, options: EventLoopOptions) {
    this.app = app;
    this.root = app.root;
    if (options.observer) this.observers.push(options.observer);
    this.host = options.host;
    this.defaultStopGraceMs = options.defaultStopGraceMs ?? 10_000;
    this.daemonLostAfterMs = options.daemonLostAfterMs ?? 60_000;
    this.changes = new DrainChanges(options.journal);
    this.restored = options.restored ?? null;
  }

  /** Handles what is queued (the subclass's drain). */
  protected abstract drain(): void;
}
