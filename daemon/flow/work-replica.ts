/**
 * The flow's replica of one work's state document (ADR 0013: one owner per document).
 *
 * The work's daemon owns its document while one is registered (an epoch with an instance);
 * between daemons (none started yet, the process exited or was lost) the flow holds it and
 * hands it to the next daemon in the Welcome. While a daemon owns it:
 * - `confirmed` is the owner's state as far as its deltas have arrived, in its one order.
 * - The flow's own writes (`this.w.state.x = …` in run(), the UI's PATCH) are applied to
 *   `vars` at once (run() reads its own writes) and sent to the owner as numbered requests.
 *   The owner applies each request once, in seq order, and its deltas carry them back with
 *   `applied_flow_seq`; the flow then drops its unconfirmed copy. Nothing is applied twice:
 *   owner ops go to `confirmed`, and `vars` is recomputed from it.
 * - Invariant: `vars == confirmed + unconfirmed requests + unsent writes`, in that order (a
 *   batch that does not apply on the newer confirmed state is skipped). So
 *   every state run() sees is a state the owner held plus the flow's own pending writes; with
 *   none pending, exactly an owner state.
 * - The journal records only confirmed changes (owner deltas and snapshots, writes while the
 *   flow owns), so a replay equals `confirmed`, which equals `vars` once nothing is pending.
 */
import type { JsonValue } from '../../constructs/json.ts';
import { jsonLength } from '../state/document-budget.ts';
import { applyPatch, captureOps, cloneState, type PatchOperation, StateLimits } from '../state/json-patch.ts';

type Doc = Record<string, JsonValue>;

/** A batch of the flow's writes, sent to the owner as one flow → daemon StateDelta. */
export interface FlowRequest {
  readonly seq: number;
  readonly ops: readonly PatchOperation[];
}

export interface ReplicaHooks {
  /** Records a confirmed op (path relative to the vars document) in the journal, capturing its value. */
  journal(op: PatchOperation): void;
  /** `vars` is a new object: the work's recording view must be rebuilt over it. */
  rebind(): void;
}

export class WorkReplica {
  /** What run() and the UI see. */
  vars: Doc;
  /**
   * The owner's last confirmed state: the same object as `vars` while the flow owns or
   * nothing is unconfirmed (so an owner delta is applied once); split off by `beforeWrite`.
   */
  private confirmed: Doc;
  private pending: FlowRequest[] = [];
  private unsent: PatchOperation[] = [];
  private requestSeq = 0;
  private flowOwns = true;

  constructor(
    initial: Doc,
    private readonly hooks: ReplicaHooks,
  ) {
    this.vars = initial;
    this.confirmed = initial;
  }

  /** Whether the flow holds the document now (no daemon registered). */
  get ownedByFlow(): boolean {
    return this.flowOwns;
  }

  /** Flow writes not yet confirmed by the owner (sent or not). */
  get unconfirmedCount(): number {
    return this.pending.length + (this.unsent.length > 0 ? 1 : 0);
  }

  /** The owner's last confirmed state (for the model tests' invariants). */
  get confirmedState(): Doc {
    return this.confirmed;
  }

  /** Called before a write of the flow changes `vars`: keeps the owner's copy apart. */
  beforeWrite(): void {
    if (!this.flowOwns && this.confirmed === this.vars) this.confirmed = cloneState(this.vars);
  }

  /** A write of the flow, already applied to `vars` (values captured by the recorder). */
  localWrite(op: PatchOperation): void {
    if (this.flowOwns) this.hooks.journal(op);
    else this.unsent.push(op);
  }

  /** Ops from outside (the UI's PATCH) for `vars`: applied atomically, then like localWrite. */
  externalWrite(ops: readonly PatchOperation[]): void {
    const before = this.confirmed;
    this.beforeWrite();
    try {
      applyPatch(this.vars, captureOps(ops));
    } catch (err) {
      this.confirmed = before;
      throw err;
    }
    for (const op of ops) this.localWrite(op);
  }

  /**
   * Cuts the unsent writes into the next requests (to send now, in order): one, or several
   * when they are more than the owner takes in one message (StateLimits.maxOpsPerDelta ops,
   * about StateLimits.maxPartBytes of JSON). Empty if there are none.
   */
  takeRequests(): FlowRequest[] {
    const out: FlowRequest[] = [];
    let batch: PatchOperation[] = [];
    let units = 0;
    for (const op of this.unsent) {
      const size =
        op.path.length + (op.from?.length ?? 0) + 16 + (op.value === undefined ? 0 : jsonLength(op.value));
      if (
        batch.length > 0 &&
        (batch.length >= StateLimits.maxOpsPerDelta || units + size > StateLimits.maxPartBytes)
      ) {
        out.push({ seq: ++this.requestSeq, ops: batch });
        batch = [];
        units = 0;
      }
      batch.push(op);
      units += size;
    }
    if (batch.length > 0) out.push({ seq: ++this.requestSeq, ops: batch });
    this.unsent = [];
    this.pending.push(...out);
    return out;
  }

  /** Every sent, unconfirmed request, oldest first: resent after a reconnect (the owner skips repeats). */
  unconfirmed(): readonly FlowRequest[] {
    return this.pending;
  }

  /**
   * A delta from the owner: applied to `confirmed` atomically (throws, changing nothing, if
   * it does not apply), journaled, and the requests up to `appliedFlowSeq` confirmed.
   */
  applyOwnerDelta(ops: readonly PatchOperation[], appliedFlowSeq: number): void {
    if (this.flowOwns) throw new Error('unreachable: an owner delta while the flow owns the document');
    applyPatch(this.confirmed, captureOps(ops));
    for (const op of ops) this.hooks.journal(op);
    if (this.confirmed === this.vars) return; // nothing of the flow's is unconfirmed
    this.confirmUpTo(appliedFlowSeq);
    this.rebuild();
  }

  /** A snapshot from the owner replaces `confirmed` (a resync after a gap or a reconnect). */
  applyOwnerSnapshot(vars: Doc, appliedFlowSeq: number): void {
    this.flowOwns = false;
    this.confirmed = vars;
    this.hooks.journal({ op: 'add', path: '', value: vars });
    this.confirmUpTo(appliedFlowSeq);
    this.rebuild();
  }

  /**
   * A new daemon (a new epoch) takes the document over: it starts from `vars`, so every write
   * of the flow so far is folded in and journaled, and request numbering restarts.
   */
  handToDaemon(): Doc {
    this.fold();
    this.flowOwns = false;
    return this.vars;
  }

  /** The daemon is gone (exited, lost): the flow holds the document until the next one. */
  takeBack(): void {
    if (this.flowOwns) return;
    this.fold();
  }

  private fold(): void {
    if (!this.flowOwns && this.confirmed !== this.vars) {
      this.hooks.journal({ op: 'add', path: '', value: this.vars });
    }
    this.pending = [];
    this.unsent = [];
    this.requestSeq = 0;
    this.flowOwns = true;
    this.confirmed = this.vars;
  }

  private confirmUpTo(appliedFlowSeq: number): void {
    while (this.pending.length > 0 && this.pending[0]!.seq <= appliedFlowSeq) this.pending.shift();
  }

  /**
   * vars = confirmed + pending + unsent. A batch that no longer applies on the owner's newer
   * state (the work deleted what the flow replaces) is skipped here but kept: the owner is the
   * arbiter, it applies or refuses the request (and says so in the work's log) and its delta
   * brings the outcome back.
   */
  private rebuild(): void {
    if (this.pending.length === 0 && this.unsent.length === 0) {
      this.vars = this.confirmed;
      this.hooks.rebind();
      return;
    }
    const vars = cloneState(this.confirmed);
    for (const ops of [...this.pending.map((r) => r.ops), this.unsent]) {
      try {
        applyPatch(vars, captureOps(ops));
      } catch {
        // see above: the owner decides
      }
    }
    this.vars = vars;
    this.hooks.rebind();
  }
}
