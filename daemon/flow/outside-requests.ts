/**
 * What the world outside the loop may ask of it (the CLI, the UI's HTTP API, tests): read
 * its state (copies), post a function, end the app, observe it, patch state, stop or re-run a
 * work. Each request runs on
 * the loop (see the invariants in event-loop.ts); the ones that answer settle once it ran, and
 * are refused with FAILED_PRECONDITION when the app has ended or ends first, never left waiting.
 */
import { DaemonError, GrpcCode } from '../../constructs/errors.ts';
import type { JsonValue } from '../../constructs/json.ts';
import type { WorkStatus } from '../../constructs/work-status.ts';
import { DocumentBudget } from '../state/document-budget.ts';
import {
  applyPatch,
  captureOps,
  cloneState,
  type PatchOperation,
  toStateValue,
} from '../state/json-patch.ts';
import { DaemonStreams } from './daemon-streams.ts';
import type { LoopObserver } from './loop-types.ts';

export abstract class OutsideRequests extends DaemonStreams {
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

  /** A work's current call (its hash and arguments, a copy), or undefined before its first. */
  callOf(work: string): { callHash: string; args: JsonValue } | undefined {
    // A restored call that ended failed or stopped is forgotten until run() dispatches it
    // again (ADR 0020); its arguments are still the ones it ran with.
    const rec = this.works.get(work);
    const call = rec?.call ?? (rec?.forgottenCall ? { ...rec.forgottenCall } : null);
    return call ? { callHash: call.hash, args: JSON.parse(call.argsJson) as JsonValue } : undefined;
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
    return this.onLoop(() => {
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
      const label = `${component}.state`;
      if (rec) {
        new DocumentBudget(rec.replica.vars, label).admitOps(values);
        rec.replica.externalWrite(values);
      } else if (flowVars) {
        new DocumentBudget(flowVars, label).admitOps(values);
        applyPatch(flowVars, captureOps(values));
        for (const op of values) this.changes.record(component, prefixed(op, '/vars'));
      }
      this.passChanged = true;
    });
  }

  /**
   * Stops a work's current call from outside (the UI's Stop), as `work.stop()` in the flow
   * would: SIGTERM, then SIGKILL after the grace period; phase `stopped`. Nothing to stop is
   * not an error. Rejects with a DaemonError: NOT_FOUND for an unknown work,
   * FAILED_PRECONDITION once the app has ended.
   * `reason` becomes the stopped status's message (e.g. an idle stop's "stopped: idle 600 s, …").
   * @example await loop.stop('root.train');
   */
  stop(work: string, reason?: string): Promise<void> {
    return this.onLoop(() => {
      const rec = this.works.get(work);
      if (!rec) throw new DaemonError(GrpcCode.NOT_FOUND, `no work named "${work}" in app ${this.app.name}`);
      this.stopWork(rec, reason);
    });
  }

  /**
   * Runs a work's last call again with the same arguments, on the loop (the UI's Restart
   * button). Only a call that ended (succeeded, failed or stopped) can be re-run; observers
   * get `onCall` with cause `rerun`, then the usual status changes.
   * Rejects with a DaemonError, changing nothing: NOT_FOUND for an unknown work,
   * FAILED_PRECONDITION when the work has no call yet or its call has not ended.
   * @example await loop.rerun('root.train');
   */
  rerun(work: string): Promise<void> {
    return this.onLoop(() => {
      const rec = this.works.get(work);
      if (!rec) throw new DaemonError(GrpcCode.NOT_FOUND, `no work named "${work}" in app ${this.app.name}`);
      this.rerunCall(rec);
    });
  }

  /** Rejecters of onLoop requests not yet run: the app's end refuses them. */
  private readonly waitingRequests = new Set<(err: Error) => void>();

  /**
   * Runs `fn` on the loop for a caller outside it; settles with its outcome. An app that has
   * ended (or ends before `fn` runs) runs no more events: rejected with FAILED_PRECONDITION
   * instead of waiting forever.
   */
  private onLoop(fn: () => void): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.ended) return reject(this.endedError());
      this.waitingRequests.add(reject);
      this.post(() => {
        this.waitingRequests.delete(reject);
        try {
          if (this.endRequest) throw this.endedError();
          fn();
          resolve();
        } catch (err) {
          reject(err);
        }
      });
    });
  }

  private endedError(): DaemonError {
    return new DaemonError(GrpcCode.FAILED_PRECONDITION, `app ${this.app.name} has ended; nothing more runs`);
  }

  /** The app ended: requests that did not run yet are refused (the loop runs no more events). */
  protected refuseWaitingRequests(): void {
    for (const reject of this.waitingRequests) reject(this.endedError());
    this.waitingRequests.clear();
  }
}

/** `op` with `base` in front of its path(s): a component's vars live under `/vars` in the journal. */
export function prefixed(op: PatchOperation, base: string): PatchOperation {
  return op.from === undefined
    ? { ...op, path: base + op.path }
    : { ...op, path: base + op.path, from: base + op.from };
}
