/**
 * Data-only JSON documents and RFC 6902 JSON Patch.
 *
 * Every state document lives in prototype-free objects (`Object.create(null)`), so no key a
 * peer sends can reach `Object.prototype`. Keys `__proto__`, `constructor` and `prototype`
 * are refused outright anyway (Lightning's CVE-2024-5452 was RCE through state deltas), as
 * are non-JSON values (functions, undefined, NaN, Infinity, class instances) and documents
 * deeper or larger than the limits. A patch is applied atomically: if any op fails, the
 * ops already applied are undone and the document is as before.
 *
 * Hand-written rather than taken from a library: the state path needs these security rules
 * built in (not bolted on), prototype-free containers, and an undo log for atomicity; see
 * docs/adr/0003-json-patch-deltas.md.
 */
import { DaemonError, GrpcCode } from '../../constructs/errors.ts';
import type { JsonValue } from '../../constructs/json.ts';

export type PatchOpName = 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test';

export interface PatchOperation {
  readonly op: PatchOpName;
  readonly path: string;
  readonly from?: string;
  readonly value?: JsonValue;
}

/** Limits that keep one peer from exhausting the flow. */
export const StateLimits = {
  /** Max nesting depth of any value in a state document. */
  maxDepth: 64,
  /** Max length of one key. */
  maxKeyLength: 1024,
  /** Max JSON text size of one value carried by an op or snapshot. */
  maxValueBytes: 1024 * 1024,
  /** Max ops in one delta (a daemon splits a larger tick into several deltas). */
  maxOpsPerDelta: 100_000,
  /**
   * Max JSON text size of one whole state document, enforced when written (see
   * document-budget.ts); resyncs carry it in parts of at most {@link StateLimits.maxPartBytes}.
   */
  maxDocumentBytes: 8 * 1024 * 1024,
  /**
   * Max JSON text (UTF-16 code units) per part of a snapshot or welcome: at most 3 bytes of
   * UTF-8 each, so a part stays under the 4 MiB message limit.
   */
  maxPartBytes: 1024 * 1024,
} as const;

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

export type JsonContainer = Record<string, unknown> | unknown[];

function invalid(message: string): DaemonError {
  return new DaemonError(GrpcCode.INVALID_ARGUMENT, message);
}

/** Throws if `key` may not appear in state. */
export function checkKey(key: string, where: string): void {
  if (FORBIDDEN_KEYS.has(key)) {
    throw invalid(`key "${key}" at ${where} is not allowed in state (it could reach object prototypes)`);
  }
  if (key.length > StateLimits.maxKeyLength) {
    throw invalid(
      `key at ${where} is ${key.length} characters long; the limit is ${StateLimits.maxKeyLength}`,
    );
  }
}

/**
 * Deep-copies a value into a state value: prototype-free objects, validated keys, finite
 * numbers, bounded depth. Objects with `toJSON` (Path, Date) are converted first. Throws a
 * DaemonError(INVALID_ARGUMENT) naming the offending location.
 */
export function toStateValue(value: unknown, where = '', depth = 0): JsonValue {
  if (depth > StateLimits.maxDepth) {
    throw invalid(`value at ${where || '/'} is nested deeper than ${StateLimits.maxDepth} levels`);
  }
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      if (!Number.isFinite(value))
        throw invalid(`value at ${where || '/'} is ${value}; state numbers must be finite`);
      return value;
    case 'object': {
      if (value === null) return null;
      if (Array.isArray(value)) {
        const out: JsonValue[] = new Array(value.length);
        for (let i = 0; i < value.length; i++) out[i] = toStateValue(value[i], `${where}/${i}`, depth + 1);
        return out;
      }
      const maybeToJson = (value as { toJSON?: unknown }).toJSON;
      if (typeof maybeToJson === 'function') {
        return toStateValue(maybeToJson.call(value), where, depth);
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== null && proto !== Object.prototype) {
        const name = (value as { constructor?: { name?: string } }).constructor?.name ?? 'object';
        throw invalid(`value at ${where || '/'} is a ${name} instance; state holds plain JSON objects only`);
      }
      const out = Object.create(null) as Record<string, JsonValue>;
      for (const key of Object.keys(value)) {
        checkKey(key, `${where}/${escapeToken(key)}`);
        const v = (value as Record<string, unknown>)[key];
        if (v === undefined) continue;
        out[key] = toStateValue(v, `${where}/${escapeToken(key)}`, depth + 1);
      }
      return out;
    }
    default:
      throw invalid(`value at ${where || '/'} is ${typeof value}; state holds JSON values only`);
  }
}

/**
 * Parses JSON text from a peer into a state value (size and shape checked). `maxBytes` is the
 * limit of one value (an op's) unless the text is a whole document (a snapshot, a welcome).
 */
export function parseStateJson(
  text: string,
  where: string,
  maxBytes: number = StateLimits.maxValueBytes,
): JsonValue {
  if (text.length > maxBytes) {
    throw new DaemonError(
      GrpcCode.RESOURCE_EXHAUSTED,
      `value at ${where} is ${text.length} bytes of JSON; the limit is ${maxBytes}. ` +
        'Move large data to the Drive and put a Path or Payload in state.',
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw invalid(`value at ${where} is not valid JSON (${(err as Error).message})`);
  }
  return toStateValue(parsed, where);
}

export function escapeToken(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** Parses an RFC 6901 pointer into tokens, refusing forbidden keys. */
export function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (pointer[0] !== '/') throw invalid(`JSON pointer "${pointer}" must start with "/"`);
  const tokens = pointer.slice(1).split('/');
  for (let i = 0; i < tokens.length; i++) {
    const raw = tokens[i]!;
    const token = raw.includes('~') ? unescapeToken(raw, pointer) : raw;
    checkKey(token, pointer);
    tokens[i] = token;
  }
  if (tokens.length > StateLimits.maxDepth) {
    throw invalid(`JSON pointer "${pointer.slice(0, 80)}…" is deeper than ${StateLimits.maxDepth} levels`);
  }
  return tokens;
}

function unescapeToken(raw: string, pointer: string): string {
  if (/~[^01]|~$/.test(raw)) throw invalid(`JSON pointer "${pointer}" has an invalid escape`);
  return raw.replace(/~1/g, '/').replace(/~0/g, '~');
}

export function toPointer(tokens: readonly string[]): string {
  let out = '';
  for (const t of tokens) out += `/${escapeToken(t)}`;
  return out;
}

function isContainer(v: unknown): v is JsonContainer {
  return typeof v === 'object' && v !== null;
}

function arrayIndex(token: string, length: number, allowEnd: boolean, pointer: string): number {
  if (token === '-' && allowEnd) return length;
  if (!/^(0|[1-9][0-9]*)$/.test(token)) throw invalid(`"${token}" in ${pointer} is not an array index`);
  const index = Number(token);
  if (index > length || (!allowEnd && index === length)) {
    throw invalid(`index ${index} in ${pointer} is out of bounds (array length ${length})`);
  }
  return index;
}

function depthOf(tokens: readonly string[], value: JsonValue): number {
  let max = 0;
  const walk = (v: unknown, d: number) => {
    if (d > max) max = d;
    if (d > StateLimits.maxDepth) return;
    if (Array.isArray(v)) for (const x of v) walk(x, d + 1);
    else if (isContainer(v)) for (const k in v) walk((v as Record<string, unknown>)[k], d + 1);
  };
  walk(value, tokens.length);
  return max;
}

/** Deep clone of a state value (already validated, so no checks). */
export function cloneState<T extends JsonValue>(value: T): T {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map((v) => cloneState(v)) as T;
  const out = Object.create(null) as Record<string, JsonValue>;
  for (const k in value) out[k] = cloneState((value as Record<string, JsonValue>)[k]!);
  return out as T;
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    if (a.length !== bb.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], bb[i])) return false;
    return true;
  }
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) {
    if (
      !Object.hasOwn(b, k) ||
      !deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])
    ) {
      return false;
    }
  }
  return true;
}

function getAt(doc: JsonValue, tokens: readonly string[], pointer: string): JsonValue {
  let cur: unknown = doc;
  for (const t of tokens) {
    if (Array.isArray(cur)) cur = cur[arrayIndex(t, cur.length, false, pointer)];
    else if (isContainer(cur) && Object.hasOwn(cur, t)) cur = (cur as Record<string, unknown>)[t];
    else throw invalid(`path ${pointer} does not exist`);
  }
  return cur as JsonValue;
}

function parentOf(doc: JsonValue, tokens: readonly string[], pointer: string): JsonContainer {
  const parent = getAt(doc, tokens.slice(0, -1), pointer);
  if (!isContainer(parent)) throw invalid(`parent of ${pointer} is not an object or array`);
  return parent;
}

type Undo = () => void;

function addAt(doc: JsonValue, tokens: string[], value: JsonValue, pointer: string, undo: Undo[]): void {
  if (depthOf(tokens, value) > StateLimits.maxDepth) {
    throw invalid(`${pointer} would nest state deeper than ${StateLimits.maxDepth} levels`);
  }
  const parent = parentOf(doc, tokens, pointer);
  const key = tokens[tokens.length - 1]!;
  if (Array.isArray(parent)) {
    const i = arrayIndex(key, parent.length, true, pointer);
    parent.splice(i, 0, value);
    undo.push(() => parent.splice(i, 1));
  } else {
    const had = Object.hasOwn(parent, key);
    const old = parent[key];
    parent[key] = value;
    undo.push(() => {
      if (had) parent[key] = old;
      else delete parent[key];
    });
  }
}

function removeAt(doc: JsonValue, tokens: string[], pointer: string, undo: Undo[]): JsonValue {
  const parent = parentOf(doc, tokens, pointer);
  const key = tokens[tokens.length - 1]!;
  if (Array.isArray(parent)) {
    const i = arrayIndex(key, parent.length, false, pointer);
    const [old] = parent.splice(i, 1);
    undo.push(() => parent.splice(i, 0, old));
    return old as JsonValue;
  }
  if (!Object.hasOwn(parent, key)) throw invalid(`path ${pointer} does not exist`);
  const old = parent[key] as JsonValue;
  delete parent[key];
  undo.push(() => {
    parent[key] = old;
  });
  return old;
}

/**
 * Applies ops to `doc` in place, atomically. `doc` must be a container (the root cannot be
 * replaced). Values must already be state values (see {@link toStateValue}).
 */
export function applyPatch(doc: JsonContainer, ops: readonly PatchOperation[]): void {
  if (ops.length > StateLimits.maxOpsPerDelta) {
    throw new DaemonError(
      GrpcCode.RESOURCE_EXHAUSTED,
      `delta has ${ops.length} ops; the limit is ${StateLimits.maxOpsPerDelta}`,
    );
  }
  const undo: Undo[] = [];
  try {
    for (const op of ops) applyOne(doc, op, undo);
  } catch (err) {
    for (let i = undo.length - 1; i >= 0; i--) undo[i]!();
    throw err;
  }
}

function needValue(op: PatchOperation): JsonValue {
  if (op.value === undefined) throw invalid(`"${op.op}" at ${op.path} has no value`);
  return op.value;
}

function applyOne(doc: JsonContainer, op: PatchOperation, undo: Undo[]): void {
  const tokens = parsePointer(op.path);
  const root = doc as JsonValue;
  if (tokens.length === 0 && op.op !== 'test') {
    throw invalid(`"${op.op}" on the document root is not allowed; patch a key inside it`);
  }
  switch (op.op) {
    case 'add':
      addAt(root, tokens, needValue(op), op.path, undo);
      return;
    case 'remove':
      removeAt(root, tokens, op.path, undo);
      return;
    case 'replace':
      removeAt(root, tokens, op.path, undo);
      addAt(root, tokens, needValue(op), op.path, undo);
      return;
    case 'move': {
      if (op.from === undefined) throw invalid(`"move" to ${op.path} has no "from"`);
      const fromTokens = parsePointer(op.from);
      if (op.path.startsWith(`${op.from}/`))
        throw invalid(`cannot move ${op.from} into its own child ${op.path}`);
      const value = removeAt(root, fromTokens, op.from, undo);
      addAt(root, tokens, value, op.path, undo);
      return;
    }
    case 'copy': {
      if (op.from === undefined) throw invalid(`"copy" to ${op.path} has no "from"`);
      const value = cloneState(getAt(root, parsePointer(op.from), op.from));
      addAt(root, tokens, value, op.path, undo);
      return;
    }
    case 'test':
      if (!deepEqual(getAt(root, tokens, op.path), needValue(op))) throw invalid(`test at ${op.path} failed`);
      return;
    default:
      throw invalid(`unknown op "${String((op as { op: unknown }).op)}"`);
  }
}

/** Reads the value at a pointer, or undefined if absent. */
export function readPointer(doc: JsonValue, pointer: string): JsonValue | undefined {
  try {
    return getAt(doc, parsePointer(pointer), pointer);
  } catch {
    return undefined;
  }
}

/**
 * Converts an RFC 7386 JSON merge patch into JSON Patch ops against `target` (the value at
 * `base`). `null` removes a key; objects merge recursively; anything else replaces.
 */
export function mergePatchToOps(
  target: JsonValue | undefined,
  patch: JsonValue,
  base: string,
): PatchOperation[] {
  const ops: PatchOperation[] = [];
  const walk = (cur: JsonValue | undefined, p: JsonValue, path: string) => {
    if (!isContainer(p) || Array.isArray(p)) {
      ops.push({ op: cur === undefined ? 'add' : 'replace', path, value: p });
      return;
    }
    if (!isContainer(cur) || Array.isArray(cur)) {
      const obj = Object.create(null) as Record<string, JsonValue>;
      for (const k in p) if (p[k] !== null) obj[k] = stripNulls(p[k]!);
      ops.push({ op: cur === undefined ? 'add' : 'replace', path, value: obj });
      return;
    }
    for (const k in p) {
      const v = p[k]!;
      const childPath = `${path}/${escapeToken(k)}`;
      const has = Object.hasOwn(cur, k);
      if (v === null) {
        if (has) ops.push({ op: 'remove', path: childPath });
      } else walk(has ? (cur as Record<string, JsonValue>)[k] : undefined, v, childPath);
    }
  };
  walk(target, patch, base);
  return ops;
}

function stripNulls(v: JsonValue): JsonValue {
  if (!isContainer(v) || Array.isArray(v)) return v;
  const out = Object.create(null) as Record<string, JsonValue>;
  for (const k in v) if (v[k] !== null) out[k] = stripNulls(v[k]!);
  return out;
}

/**
 * `ops` with their values copied: for applying ops to a document while keeping (or sending,
 * or journaling) the same ops, without the two sharing objects (ADR 0013).
 */
export function captureOps(ops: readonly PatchOperation[]): PatchOperation[] {
  return ops.map((op) => (op.value === undefined ? op : { ...op, value: cloneState(op.value) }));
}
