/**
 * How the app's constructs reach the flow's loop (the layer under EventLoop): each flow's
 * state and each work's state, status, run() and stop() are bound to the loop's documents
 * through recording views, so every write becomes an op journaled and sent in the loop's one
 * order (ADR 0013: a work's document is owned by its daemon; the flow's writes to it are
 * requests, work-replica.ts). Works created at run time (WorkMaps) are bound as they appear.
 */
import type { Flow } from '../../constructs/flow.ts';
import type { JsonValue } from '../../constructs/json.ts';
import { BINDING } from '../../constructs/runtime-binding.ts';
import type { Work } from '../../constructs/work.ts';
import { initialStatus, type WorkStatus } from '../../constructs/work-status.ts';
import { PartAssembler } from '../protocol/document-parts.ts';
import { DocumentBudget } from '../state/document-budget.ts';
import { type PatchOperation, StateLimits, toStateValue } from '../state/json-patch.ts';
import { readonlyView, recordingView } from '../state/state-recorder.ts';
import { CallLifecycle } from './call-lifecycle.ts';
import type { WorkRecord } from './loop-types.ts';
import { OutsideRequests, prefixed } from './outside-requests.ts';
import { restoreWork } from './restore-work.ts';
import { WorkReplica } from './work-replica.ts';

export abstract class LoopBindings extends OutsideRequests {
  /** When start() ran; works bound after it (WorkMaps) are journaled as they appear. */
  protected startedAt: number | null = null;

  /**
   * Every write to state through a recording view lands here. Inside a drain it makes the
   * loop run another pass; outside one (a timer or promise started in run()) it schedules a
   * drain, so the write is sent, journaled and seen by a pass like any other change.
   */
  protected stateWritten(): void {
    this.changed = true;
    this.passChanged = true;
    if (!this.draining) this.schedule();
  }

  /** True while `drain()` runs (set by the event loop). */
  protected draining = false;

  protected bindFlow(flow: Flow, overrides?: Readonly<Record<string, JsonValue>>): void {
    const restored = this.restored?.[flow.name]?.vars as Record<string, JsonValue> | undefined;
    const base = restored ?? (flow.initialState as Record<string, unknown>);
    const vars = toStateValue({ ...base, ...(overrides ?? {}) }, '') as Record<string, JsonValue>;
    this.flowVars.set(flow.name, vars);
    const sink = (op: PatchOperation) => {
      this.changes.record(flow.name, prefixed(op, '/vars'));
      this.stateWritten();
    };
    const label = `${flow.name}.state`;
    const state = recordingView(vars, '', sink, label, undefined, new DocumentBudget(vars, label));
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

  protected bindWork(work: Work): void {
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
      snapshotParts: new PartAssembler(`snapshot of ${name}`),
      session: null,
      call: null,
      lifecycle: new CallLifecycle(name),
      ackDue: false,
      lastArgs: null,
      lastArgsHash: null,
      lastSession: null,
      restoredInFlight: false,
      forgottenCall: null,
    };
    let vars = toStateValue(work.initialState, '') as Record<string, JsonValue>;
    const restored = this.restored?.[name];
    if (restored) vars = restoreWork(rec, restored) ?? vars;
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
    const label = `${rec.name}.state`;
    // The flow's writes travel to the work's daemon as ops: one value is limited like an op's.
    const budget = new DocumentBudget(rec.replica.vars, label, undefined, StateLimits.maxValueBytes);
    const state = recordingView(rec.replica.vars, '', sink, label, () => rec.replica.beforeWrite(), budget);
    const status = readonlyView<WorkStatus>(rec.status, `${rec.name}.status`);
    rec.work[BINDING] = {
      state,
      status,
      run: (args, options) => this.declareCall(rec, args, options),
      stop: () => this.stopWork(rec),
    };
  }
}
