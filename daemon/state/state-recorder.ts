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
 *
 * Held views (ADR 0027): a view remembers the object it was read from and the key, not only
 * the path, and finds its path again at each write. Array methods that reorder (splice, shift,
 * unshift, sort, reverse, copyWithin, fill) run on the array itself, so elements keep their
 * identity when they move: `const row = s.rows[2]; s.rows.shift(); row.x = 5` writes
 * `/rows/1/x`. A write through a view whose object left the document (removed, or replaced by
 * an assignment, which copies) throws, naming where it was read and how to fix it; it never
 * records a path that now names another element.
 */
import { LightningError } from '../../constructs/errors.ts';
import type { JsonValue } from '../../constructs/json.ts';
import { compareAsStrings, relativeIndex } from './array-defaults.ts';
import type { DocumentBudget } from './document-budget.ts';
import { checkKey, cloneState, escapeToken, toStateValue } from './json-patch.ts';
import { emit, markArray, type OpSink } from './pending-arrays.ts';
import { currentPointer, type Meta } from './view-paths.ts';

export { flushPendingArrays, type OpSink } from './pending-arrays.ts';

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

/**
 * Values an array method inserts, checked against the document's size budget first (counted
 * as growth, removals not subtracted: an upper bound, as the budget's other writes are).
 */
function admitted(meta: Meta, arr: unknown[], pointer: string, values: JsonValue[]): JsonValue[] {
  if (meta.budget) for (const v of values) meta.budget.admit(arr, String(arr.length), v, `${pointer}/-`);
  return values;
}

// Array methods that move elements run on the array itself (elements keep their identity,
// so held views follow them); values they insert are copied like any assignment.
const REORDERING = new Set(['splice', 'shift', 'unshift', 'sort', 'reverse', 'copyWithin', 'fill']);

function arrayMethod(
  meta: Meta,
  arr: unknown[],
  name: string,
  receiver: unknown,
  write: () => string,
): (...args: unknown[]) => unknown {
  return (...args: unknown[]) => {
    const pointer = write();
    const where = `${meta.label}${pointer}`;
    // Marked first: any write during the method (a comparator's) is carried by the replace.
    markArray(meta.sink, pointer, arr);
    let result: unknown;
    switch (name) {
      case 'splice': {
        const [start, deleteCount, ...items] = args as [number, number, ...unknown[]];
        const copies = admitted(
          meta,
          arr,
          pointer,
          items.map((v) => toStateValueOrTypeError(v, where)),
        );
        // splice() and splice(start) differ from splice(start, undefined): pass what was given.
        result =
          args.length < 2 ? arr.splice(...(args as [number])) : arr.splice(start, deleteCount, ...copies);
        break;
      }
      case 'unshift':
        result = arr.unshift(
          ...admitted(
            meta,
            arr,
            pointer,
            args.map((v) => toStateValueOrTypeError(v, where)),
          ),
        );
        break;
      case 'shift':
        result = arr.shift();
        break;
      case 'reverse':
        arr.reverse();
        result = receiver;
        break;
      case 'sort': {
        const compare = args[0] as ((a: unknown, b: unknown) => number) | undefined;
        if (compare !== undefined && typeof compare !== 'function')
          throw new LightningError('STATE_VALUE', `${where}: sort's comparator must be a function`, {
            fix: 'pass a function (a, b) => number, or nothing for the default order',
          });
        // The comparator sees views (as reads through the array would give it); the default
        // order compares as strings, like a plain array, without String() on prototype-free objects.
        const view = (v: unknown) => {
          if (typeof v !== 'object' || v === null) return v;
          const key = String(arr.indexOf(v));
          return viewOf(v, { ...meta, pointer: `${pointer}/${key}`, parent: { target: arr, key, meta } });
        };
        arr.sort(compare ? (a, b) => compare(view(a), view(b)) : (a, b) => compareAsStrings(a, b));
        result = receiver;
        break;
      }
      case 'fill': {
        const [value, start, end] = args as [unknown, number | undefined, number | undefined];
        const from = relativeIndex(start, 0, arr.length);
        const to = relativeIndex(end, arr.length, arr.length);
        const copy = toStateValueOrTypeError(value, where);
        admitted(
          meta,
          arr,
          pointer,
          Array.from({ length: Math.max(0, to - from) }, () => copy),
        );
        for (let i = from; i < to; i++) arr[i] = cloneState(copy);
        result = receiver;
        break;
      }
      default: {
        // copyWithin duplicates elements: copy them so no object sits twice in the document.
        arr.copyWithin(...(args as [number, number, number?]));
        const seen = new Set<unknown>();
        for (let i = 0; i < arr.length; i++) {
          const v = arr[i];
          if (typeof v !== 'object' || v === null) continue;
          if (seen.has(v)) arr[i] = cloneState(v as JsonValue);
          else seen.add(v);
        }
        result = receiver;
      }
    }
    return result;
  };
}

function handler(meta: Meta): ProxyHandler<Record<string | symbol, unknown>> {
  const refuse = (what: string): never => {
    throw new LightningError('NOT_OWNER', `${meta.label} is read-only here: ${what}.`, {
      fix: 'work state is written by the work itself, or by the flow through work.state inside flow.run()',
    });
  };
  return {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver);
      // State objects have no prototype, so String(obj) would throw; convert them as a plain
      // object would.
      if (key === Symbol.toPrimitive && value === undefined && !Array.isArray(target))
        return objectToPrimitive;
      if (typeof key === 'symbol') return value;
      if (Array.isArray(target) && typeof value === 'function' && value === (Array.prototype as never)[key]) {
        if (meta.readonly || !REORDERING.has(key)) return value;
        return arrayMethod(meta, target as unknown as unknown[], key, receiver, () => {
          meta.beforeWrite?.();
          return currentPointer(meta, target);
        });
      }
      if (typeof value !== 'object' || value === null) return value;
      return viewOf(value as object, {
        ...meta,
        pointer: `${meta.pointer}/${escapeToken(key)}`,
        parent: { target, key, meta },
      });
    },
    set(target, key, value) {
      if (typeof key === 'symbol') return false;
      if (meta.readonly) refuse(`cannot set "${key}"`);
      const pointer = currentPointer(meta, target);
      const childPointer = `${pointer}/${escapeToken(key)}`;
      meta.beforeWrite?.();
      try {
        checkKey(key, childPointer);
      } catch (err) {
        throw new LightningError(
          'STATE_VALUE',
          `cannot write ${meta.label}${childPointer}: ${(err as Error).message}`,
          { cause: err, fix: 'use another key name' },
        );
      }
      const isArray = Array.isArray(target);
      if (isArray && key === 'length') {
        const arr = target as unknown as unknown[];
        if (value === arr.length) return true;
        arr.length = value as number;
        markArray(meta.sink, pointer, arr);
        return true;
      }
      if (value === undefined) {
        if (isArray) {
          // Arrays cannot hold undefined in JSON; treat as an error rather than a silent null.
          throw new LightningError(
            'STATE_VALUE',
            `${meta.label}${childPointer}: arrays in state cannot hold undefined`,
            { fix: 'store null, or remove the element with splice()' },
          );
        }
        if (Object.hasOwn(target, key)) {
          delete target[key];
          emit(meta.sink, { op: 'remove', path: childPointer });
        }
        return true;
      }
      const stateValue = toStateValueOrTypeError(value, `${meta.label}${childPointer}`);
      meta.budget?.admit(target, key, stateValue, childPointer);
      if (isArray) {
        const arr = target as unknown as unknown[];
        if (key === String(arr.length)) {
          arr.push(stateValue);
          emit(meta.sink, { op: 'add', path: `${pointer}/-`, value: cloneState(stateValue) });
        } else {
          (target as Record<string, unknown>)[key] = stateValue;
          markArray(meta.sink, pointer, arr);
        }
        return true;
      }
      const existed = Object.hasOwn(target, key);
      target[key] = stateValue;
      emit(meta.sink, { op: existed ? 'replace' : 'add', path: childPointer, value: cloneState(stateValue) });
      return true;
    },
    deleteProperty(target, key) {
      if (typeof key === 'symbol') return false;
      if (meta.readonly) refuse(`cannot delete "${key}"`);
      if (!Object.hasOwn(target, key)) return true;
      const pointer = currentPointer(meta, target);
      meta.beforeWrite?.();
      delete target[key];
      if (Array.isArray(target)) {
        // Part of pop or a hand-written splice: the array is sent whole (see the module comment).
        markArray(meta.sink, pointer, target as unknown as unknown[]);
        return true;
      }
      emit(meta.sink, { op: 'remove', path: `${pointer}/${escapeToken(key)}` });
      return true;
    },
    defineProperty() {
      throw new LightningError('STATE_VALUE', `${meta.label}: defineProperty is not supported on state`, {
        fix: 'assign plain JSON values',
      });
    },
    setPrototypeOf() {
      throw new LightningError(
        'STATE_VALUE',
        `${meta.label}: state objects have no prototype and cannot get one`,
        {
          fix: 'keep state plain JSON: store class instances as plain objects',
        },
      );
    },
  };
}

const objectToPrimitive = (hint: string) => (hint === 'number' ? Number.NaN : '[object Object]');

function toStateValueOrTypeError(value: unknown, where: string): JsonValue {
  try {
    return toStateValue(value, '');
  } catch (err) {
    throw new LightningError(
      'STATE_VALUE',
      `cannot store this value in state at ${where}: ${(err as Error).message}`,
      {
        cause: err,
        fix: 'state holds plain objects, arrays, strings, finite numbers, booleans and null; put large or binary data in the Drive (a Payload)',
      },
    );
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
  return viewOf(target, { pointer, parent: null, sink, readonly: false, label, beforeWrite, budget }) as T;
}

/** A read-only view: writes throw a TypeError explaining who owns this state. */
export function readonlyView<T extends object>(target: object, label: string): T {
  return viewOf(target, {
    pointer: '',
    parent: null,
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
