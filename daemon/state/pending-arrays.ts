/**
 * Whole-array records of state-recorder.ts: an array mutated other than by appending (splice,
 * sort, an index write) is marked, and one `replace` of the whole array is recorded when the
 * mutation is over (a microtask later, at the next `flushPendingArrays`, or just before an op
 * on a path that contains the array), so the ops a sink receives stay in document order and
 * never carry an array's intermediate states.
 */
import { type PatchOperation, toStateValue } from './json-patch.ts';

/** Where a recording view's ops go. */
export type OpSink = (op: PatchOperation) => void;

// Marked arrays per sink: pointer → the live array, replaced whole when flushed.
const pendingArrays = new Map<OpSink, Map<string, unknown[]>>();
let flushQueued = false;

function isWithin(path: string, ancestor: string): boolean {
  return path.startsWith(`${ancestor}/`);
}

/** Marks `arr` (at `pointer`) to be recorded whole, once its mutation is over. */
export function markArray(sink: OpSink, pointer: string, arr: unknown[]): void {
  let marks = pendingArrays.get(sink);
  if (!marks) {
    marks = new Map();
    pendingArrays.set(sink, marks);
  }
  for (const p of marks.keys()) {
    if (p === pointer || isWithin(pointer, p)) return; // already covered
    if (isWithin(p, pointer)) marks.delete(p); // now covered by this one
  }
  marks.set(pointer, arr);
  if (!flushQueued) {
    flushQueued = true;
    queueMicrotask(() => {
      flushQueued = false;
      flushPendingArrays();
    });
  }
}

/** Records the pending whole-array replaces (of one sink, or all). Call before sending ops. */
export function flushPendingArrays(sink?: OpSink): void {
  for (const [s, marks] of pendingArrays) {
    if (sink && s !== sink) continue;
    pendingArrays.delete(s);
    for (const [pointer, arr] of marks)
      s({ op: 'replace', path: pointer, value: toStateValue(arr, pointer) });
  }
}

/** Sends `op` to the sink in order with the marked arrays (see the module comment). */
export function emit(sink: OpSink, op: PatchOperation): void {
  const marks = pendingArrays.get(sink);
  if (marks && marks.size > 0) {
    for (const [pointer, arr] of marks) {
      if (op.path === pointer) {
        // The marked array itself is replaced or removed: this op supersedes the mark (whose
        // array is no longer in the document).
        marks.delete(pointer);
        break;
      }
      if (isWithin(op.path, pointer)) return; // carried by the replace
      if (isWithin(pointer, op.path)) {
        marks.delete(pointer);
        sink({ op: 'replace', path: pointer, value: toStateValue(arr, pointer) });
      }
    }
  }
  sink(op);
}
