/**
 * Typed, recording views of state documents.
 *
 * `recordingView(doc, base, sink)` returns a Proxy over the object at `base` inside `doc`.
 * Reads go straight through; every write is validated (JSON only, no forbidden keys),
 * applied to the document at once, and reported to `sink` as RFC 6902 ops. This is how user
 * code writes state (`this.state.loss = 0.3`) without the runtime ever diffing documents:
 * the cost of a change is O(size of the change), not O(size of the state).
 *
 * Arrays: appending (`push`, or assigning index == length) records `add /…/-`. Any other
 * array mutation (splice, shift, sort, index writes, length) marks the array; one `replace` of
 * the whole array is recorded when the mutation is over (a microtask later, or at the next
 * `flushPendingArrays`, or just before an op on a path that contains the array). A splice is
 * many intermediate writes, some leaving holes that are not JSON; sending the final array once
 * is both valid and smaller. Ops inside a marked array are not recorded separately: the
 * replace carries them.
 *
 * Values are captured when the op is recorded (ADR 0013): an op never shares an object with
 * the document, so a later in-place mutation (`s.list = [1]; s.list.push(2)`) cannot leak
 * into an op that is serialized later (on the wire, in the journal) and travel twice.
 */
import type { JsonValue } from '../../constructs/json.ts';
import type { DocumentBudget } from './document-budget.ts';
import { checkKey, cloneState, escapeToken, type PatchOperation, toStateValue } from './json-patch.ts';

export type OpSink = (op: PatchOperation) => void;

interface Meta {
  readonly pointer: string;
  readonly sink: OpSink;
  readonly readonly: boolean;
  readonly label: string;
  /** Called before a write changes the document (the flow keeps the owner's copy apart then). */
  readonly beforeWrite: (() => void) | undefined;
  /** The document's size limit: a write that would exceed it throws before it changes anything. */
  readonly budget: DocumentBudget | undefined;
}

// Marked arrays per sink: pointer → the live array, replaced whole when flushed.
const pendingArrays = new Map<OpSink, Map<string, unknown[]>>();
let flushQueued = false;

function isWithin(path: string, ancestor: string): boolean {
  return path.startsWith(`${ancestor}/`);
}

function markArray(meta: Meta, arr: unknown[]): void {
  let marks = pendingArrays.get(meta.sink);
  if (!marks) {
    marks = new Map();
    pendingArrays.set(meta.sink, marks);
  }
  for (const p of marks.keys()) {
    if (p === meta.pointer || isWithin(meta.pointer, p)) return; // already covered
    if (isWithin(p, meta.pointer)) marks.delete(p); // now covered by this one
  }
  marks.set(meta.pointer, arr);
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

/** Sends `op` to the sink in order with marked arrays (see the module comment). */
function emit(meta: Meta, op: PatchOperation): void {
  const marks = pendingArrays.get(meta.sink);
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
        meta.sink({ op: 'replace', path: pointer, value: toStateValue(arr, pointer) });
      }
    }
  }
  meta.sink(op);
}

// Views are cached per (target, sink, pointer): the same object re-read at the same place
// yields the same proxy, and an object that moved (inside an array) gets a fresh view.
const proxies = new WeakMap<object, Map<OpSink, Map<string, object>>>();

function viewOf(target: object, meta: Meta): object {
  let bySink = proxies.get(target);
  if (!bySink) {
    bySink = new Map();
    proxies.set(target, bySink);
  }
  let byPointer = bySink.get(meta.sink);
  if (!byPointer) {
    byPointer = new Map();
    bySink.set(meta.sink, byPointer);
  }
  const cached = byPointer.get(meta.pointer);
  if (cached) return cached;
  const proxy = new Proxy(target, handler(meta));
  byPointer.set(meta.pointer, proxy);
  return proxy;
}

function handler(meta: Meta): ProxyHandler<Record<string | symbol, unknown>> {
  const childPointer = (key: string) => `${meta.pointer}/${escapeToken(key)}`;
  const refuse = (what: string): never => {
    throw new TypeError(
      `${meta.label} is read-only here: ${what}. Work state is written by the work (or by the flow through ` +
        'work.state inside flow.run()).',
    );
  };
  return {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver);
      // State objects have no prototype, so String(obj) would throw (and with it a plain
      // `rows.sort()` on an array of objects); convert them as a plain object would.
      if (key === Symbol.toPrimitive && value === undefined && !Array.isArray(target))
        return objectToPrimitive;
      if (typeof key === 'symbol' || typeof value !== 'object' || value === null) return value;
      if (
        Array.isArray(target) &&
        typeof (Array.prototype as unknown as Record<string, unknown>)[key] === 'function'
      ) {
        return value;
      }
      return viewOf(value as object, { ...meta, pointer: childPointer(key) });
    },
    set(target, key, value) {
      if (typeof key === 'symbol') return false;
      if (meta.readonly) refuse(`cannot set "${key}"`);
      meta.beforeWrite?.();
      try {
        checkKey(key, childPointer(key));
      } catch (err) {
        throw new TypeError(`cannot write ${meta.label}${childPointer(key)}: ${(err as Error).message}`);
      }
      const isArray = Array.isArray(target);
      if (isArray && key === 'length') {
        const arr = target as unknown as unknown[];
        if (value === arr.length) return true;
        arr.length = value as number;
        markArray(meta, arr);
        return true;
      }
      if (value === undefined) {
        if (isArray) {
          // Arrays cannot hold undefined in JSON; treat as an error rather than a silent null.
          throw new TypeError(`${meta.label}${childPointer(key)}: arrays in state cannot hold undefined`);
        }
        if (Object.hasOwn(target, key)) {
          delete target[key];
          emit(meta, { op: 'remove', path: childPointer(key) });
        }
        return true;
      }
      const stateValue = toStateValueOrTypeError(value, `${meta.label}${childPointer(key)}`);
      meta.budget?.admit(target, key, stateValue, childPointer(key));
      if (isArray) {
        const arr = target as unknown as unknown[];
        if (key === String(arr.length)) {
          arr.push(stateValue);
          emit(meta, { op: 'add', path: `${meta.pointer}/-`, value: cloneState(stateValue) });
        } else {
          (target as Record<string, unknown>)[key] = stateValue;
          markArray(meta, arr);
        }
        return true;
      }
      const existed = Object.hasOwn(target, key);
      target[key] = stateValue;
      emit(meta, { op: existed ? 'replace' : 'add', path: childPointer(key), value: cloneState(stateValue) });
      return true;
    },
    deleteProperty(target, key) {
      if (typeof key === 'symbol') return false;
      if (meta.readonly) refuse(`cannot delete "${key}"`);
      if (!Object.hasOwn(target, key)) return true;
      meta.beforeWrite?.();
      delete target[key];
      if (Array.isArray(target)) {
        // Part of splice/shift: the array is sent whole (see the module comment).
        markArray(meta, target as unknown as unknown[]);
        return true;
      }
      emit(meta, { op: 'remove', path: childPointer(key) });
      return true;
    },
    defineProperty() {
      throw new TypeError(
        `${meta.label}: defineProperty is not supported on state; assign plain JSON values`,
      );
    },
    setPrototypeOf() {
      throw new TypeError(`${meta.label}: state objects have no prototype and cannot get one`);
    },
  };
}

const objectToPrimitive = (hint: string) => (hint === 'number' ? Number.NaN : '[object Object]');

function toStateValueOrTypeError(value: unknown, where: string): JsonValue {
  try {
    return toStateValue(value, '');
  } catch (err) {
    throw new TypeError(`cannot store this value in state at ${where}: ${(err as Error).message}`);
  }
}

/**
 * A recording view of `target` (an object inside a state document located at `pointer`).
 * Writes are applied to `target` and reported to `sink`; `beforeWrite` runs before each
 * write touches the document; `budget` (the whole document's size limit) refuses a write that
 * would make the document too large, before it touches it.
 */
export function recordingView<T extends object>(
  target: object,
  pointer: string,
  sink: OpSink,
  label: string,
  beforeWrite?: () => void,
  budget?: DocumentBudget,
): T {
  return viewOf(target, { pointer, sink, readonly: false, label, beforeWrite, budget }) as T;
}

/** A read-only view: writes throw a TypeError explaining who owns this state. */
export function readonlyView<T extends object>(target: object, label: string): T {
  return viewOf(target, {
    pointer: '',
    sink: READONLY_SINK,
    readonly: true,
    label,
    beforeWrite: undefined,
    budget: undefined,
  }) as T;
}

const READONLY_SINK: OpSink = () => {
  throw new Error('unreachable: read-only view recorded an op');
};
