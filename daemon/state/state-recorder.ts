/**
 * Typed, recording views of state documents.
 *
 * `recordingView(doc, base, sink)` returns a Proxy over the object at `base` inside `doc`.
 * Reads go straight through; every write is validated (JSON only, no forbidden keys),
 * applied to the document at once, and reported to `sink` as RFC 6902 ops. This is how user
 * code writes state (`this.state.loss = 0.3`) without the runtime ever diffing documents:
 * the cost of a change is O(size of the change), not O(size of the state).
 *
 * Arrays: appending (`push`, or assigning index == length) records `add /…/-`; any other
 * array mutation records one `replace` of the whole array (arrays in state are small; a
 * splice expressed as index moves would be larger than the array itself).
 */
import type { JsonValue } from '../../constructs/json.ts';
import { escapeToken, type PatchOperation, toStateValue } from './json-patch.ts';

export type OpSink = (op: PatchOperation) => void;

interface Meta {
  readonly pointer: string;
  readonly sink: OpSink;
  readonly readonly: boolean;
  readonly label: string;
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
      const isArray = Array.isArray(target);
      if (isArray && key === 'length') {
        const arr = target as unknown as unknown[];
        if (value === arr.length) return true;
        arr.length = value as number;
        meta.sink({ op: 'replace', path: meta.pointer, value: toStateValue(arr, meta.pointer) });
        return true;
      }
      if (value === undefined) {
        if (isArray) {
          // Arrays cannot hold undefined in JSON; treat as an error rather than a silent null.
          throw new TypeError(`${meta.label}${childPointer(key)}: arrays in state cannot hold undefined`);
        }
        if (Object.hasOwn(target, key)) {
          delete target[key];
          meta.sink({ op: 'remove', path: childPointer(key) });
        }
        return true;
      }
      const stateValue = toStateValueOrTypeError(value, `${meta.label}${childPointer(key)}`);
      if (isArray) {
        const arr = target as unknown as unknown[];
        if (key === String(arr.length)) {
          arr.push(stateValue);
          meta.sink({ op: 'add', path: `${meta.pointer}/-`, value: stateValue });
        } else {
          (target as Record<string, unknown>)[key] = stateValue;
          meta.sink({ op: 'replace', path: meta.pointer, value: toStateValue(arr, meta.pointer) });
        }
        return true;
      }
      const existed = Object.hasOwn(target, key);
      target[key] = stateValue;
      meta.sink({ op: existed ? 'replace' : 'add', path: childPointer(key), value: stateValue });
      return true;
    },
    deleteProperty(target, key) {
      if (typeof key === 'symbol') return false;
      if (meta.readonly) refuse(`cannot delete "${key}"`);
      if (!Object.hasOwn(target, key)) return true;
      if (Array.isArray(target)) {
        throw new TypeError(
          `${meta.label}${childPointer(key)}: use splice() to remove array elements in state`,
        );
      }
      delete target[key];
      meta.sink({ op: 'remove', path: childPointer(key) });
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

function toStateValueOrTypeError(value: unknown, where: string): JsonValue {
  try {
    return toStateValue(value, '');
  } catch (err) {
    throw new TypeError(`cannot store this value in state at ${where}: ${(err as Error).message}`);
  }
}

/**
 * A recording view of `target` (an object inside a state document located at `pointer`).
 * Writes are applied to `target` and reported to `sink`.
 */
export function recordingView<T extends object>(
  target: object,
  pointer: string,
  sink: OpSink,
  label: string,
): T {
  return viewOf(target, { pointer, sink, readonly: false, label }) as T;
}

/** A read-only view: writes throw a TypeError explaining who owns this state. */
export function readonlyView<T extends object>(target: object, label: string): T {
  return viewOf(target, { pointer: '', sink: READONLY_SINK, readonly: true, label }) as T;
}

const READONLY_SINK: OpSink = () => {
  throw new Error('unreachable: read-only view recorded an op');
};
