/**
 * Terraform's dynamic values (cty values in msgpack, see Terraform's
 * docs/plugin-protocol/object-wire-format.md) as plain JavaScript: objects, arrays (lists,
 * sets and tuples alike), strings, numbers, booleans, null, and `UNKNOWN` for a value known
 * only after apply. The msgpack codec is @msgpack/msgpack; this module only maps cty's
 * unknown-value extension onto a sentinel and fits values to a type.
 */
import { decode, ExtensionCodec, encode } from '@msgpack/msgpack';
import type { CtyType } from './provider-schema.ts';

/** The value of an attribute that is known only after apply. */
export const UNKNOWN: unique symbol = Symbol('unknown');

export type Value = null | string | number | boolean | typeof UNKNOWN | Value[] | { [key: string]: Value };

/** cty marks an unknown value with msgpack extension 0 (and 12 for an unknown with refinements). */
const UNKNOWN_EXT = 0;
const REFINED_UNKNOWN_EXT = 12;

const codec = new ExtensionCodec();
codec.register({
  type: UNKNOWN_EXT,
  // cty writes fixext1 with a zero byte: d4 00 00.
  encode: (input) => (input === UNKNOWN ? new Uint8Array([0]) : null),
  decode: () => UNKNOWN,
});
codec.register({
  type: REFINED_UNKNOWN_EXT,
  // Refinements (prefix, not-null, bounds) narrow an unknown; the stand-in needs only "unknown".
  encode: () => null,
  decode: () => UNKNOWN,
});

export function decodeValue(bytes: Uint8Array): Value {
  if (bytes.length === 0) return null;
  return decode(bytes, { extensionCodec: codec }) as Value;
}

export function encodeValue(value: Value): Uint8Array {
  return encode(value, { extensionCodec: codec });
}

export function isObject(v: Value | undefined): v is { [key: string]: Value } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Walks `value` along `type`, calling `visit` on every value (leaves and containers, outer
 * first) with its path; `visit` returns a replacement or undefined to keep the value and
 * descend into it.
 */
export function transform(
  type: CtyType,
  value: Value,
  visit: (type: CtyType, value: Value, path: readonly string[]) => Value | undefined,
  path: readonly string[] = [],
): Value {
  const replaced = visit(type, value, path);
  if (replaced !== undefined) return replaced;
  if (value === null || value === UNKNOWN || typeof type === 'string') return value;
  const [kind, inner] = type;
  if (kind === 'object' && isObject(value)) {
    const out: { [key: string]: Value } = {};
    for (const [name, t] of Object.entries(inner))
      out[name] = transform(t, value[name] ?? null, visit, [...path, name]);
    return out;
  }
  if (kind === 'tuple' && Array.isArray(value)) {
    return value.map((v, i) => transform(inner[i] ?? 'dynamic', v, visit, [...path, String(i)]));
  }
  if ((kind === 'list' || kind === 'set') && Array.isArray(value)) {
    return value.map((v, i) => transform(inner, v, visit, [...path, String(i)]));
  }
  if (kind === 'map' && isObject(value)) {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, transform(inner, v, visit, [...path, k])]),
    );
  }
  return value;
}

const JS_TYPEOF = { string: 'string', number: 'number', bool: 'boolean' } as const;

/**
 * Fits plain JSON (from the GCP simulator, or stored state) to `type`: every attribute of an
 * object present (null when missing). An attribute the type does not have is an error, so a
 * simulator bug shows up here rather than as a confusing Terraform message.
 */
export function conform(type: CtyType, value: unknown, where: string): Value {
  if (value === null || value === undefined) return null;
  if (typeof type === 'string') {
    if (type === 'dynamic' || typeof value === JS_TYPEOF[type]) return value as Value;
    if (type === 'string' && (typeof value === 'number' || typeof value === 'boolean')) return String(value);
    throw new Error(`${where}: expected ${type}, got ${JSON.stringify(value)}`);
  }
  const [kind, inner] = type;
  if (kind === 'object') {
    if (typeof value !== 'object' || Array.isArray(value)) throw new Error(`${where}: expected an object`);
    const extra = Object.keys(value).filter((k) => !(k in inner));
    if (extra.length > 0) throw new Error(`${where}: the schema has no attribute ${extra.join(', ')}`);
    const rec = value as Record<string, unknown>;
    return Object.fromEntries(
      Object.entries(inner).map(([k, t]) => [k, conform(t, rec[k], `${where}.${k}`)]),
    );
  }
  if (kind === 'map') {
    if (typeof value !== 'object' || Array.isArray(value)) throw new Error(`${where}: expected a map`);
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>).map(([k, v]) => [
        k,
        conform(inner, v, `${where}.${k}`),
      ]),
    );
  }
  if (!Array.isArray(value)) throw new Error(`${where}: expected a ${kind}`);
  return value.map((v, i) =>
    conform(kind === 'tuple' ? (inner[i] ?? 'dynamic') : inner, v, `${where}[${i}]`),
  );
}

/** Plain JSON for the simulator: unknowns (none should be left) become null. */
export function toJson(value: Value): unknown {
  return JSON.parse(JSON.stringify(value, (_k, v) => (v === UNKNOWN ? null : v)));
}
