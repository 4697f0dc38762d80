/**
 * The changes of one drain of the event loop, on their way to the journal (DESIGN §3.3):
 * recorded as they are applied, with values captured at that moment (ADR 0013), appended as
 * one journal line at the end of the drain; the acknowledgements to daemons go out only once
 * that line is written.
 */
import { cloneState, type PatchOperation } from '../state/json-patch.ts';
import type { ComponentDocs, Journal, JournalChange } from './journal.ts';
import type { WorkRecord } from './loop-types.ts';

export class DrainChanges {
  private changes = new Map<string, PatchOperation[]>();
  private acks: (() => void)[] = [];

  constructor(private readonly journal: Journal | undefined) {}

  /** Records a change to a component's document (`/vars/…`, `/status`, `/call`, `/daemon`). */
  record(component: string, op: PatchOperation): void {
    if (!this.journal) return;
    if (op.value !== undefined) op = { ...op, value: cloneState(op.value) };
    let ops = this.changes.get(component);
    if (!ops) {
      ops = [];
      this.changes.set(component, ops);
    }
    ops.push(op);
  }

  /** Records a work's whole document (at start, or when a work is created at run time). */
  recordWork(rec: WorkRecord): void {
    this.record(rec.name, { op: 'add', path: '/vars', value: rec.replica.confirmedState });
    this.record(rec.name, { op: 'add', path: '/status', value: { ...rec.status } });
    this.record(rec.name, { op: 'add', path: '/call', value: rec.call ? { ...rec.call } : null });
    this.record(rec.name, {
      op: 'add',
      path: '/daemon',
      value: { epoch: rec.epoch, instanceId: rec.instanceId },
    });
  }

  /** Runs `send` once this drain's changes are written (at once without a journal). */
  whenWritten(send: () => void): void {
    this.acks.push(send);
  }

  /** Appends this drain's line; `docs` gives every document when the journal compacts. */
  write(docs: () => ComponentDocs): void {
    const acks = this.acks;
    this.acks = [];
    const sendAcks = () => {
      for (const send of acks) send();
    };
    if (!this.journal || this.changes.size === 0) {
      this.changes.clear();
      sendAcks();
      return;
    }
    const changes: JournalChange[] = [...this.changes];
    this.changes = new Map();
    this.journal.append(changes, sendAcks, docs);
  }
}
