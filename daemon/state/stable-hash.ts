import { createHash } from 'node:crypto';

/** JSON text with object keys sorted, so equal values always give equal text. */
export function stableStringify(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => stableStringify(v)).join(',')}]`;
  const keys = Object.keys(value).sort();
  const parts: string[] = [];
  for (const k of keys) {
    const v = (value as Record<string, unknown>)[k];
    if (v !== undefined) parts.push(`${JSON.stringify(k)}:${stableStringify(v)}`);
  }
  return `{${parts.join(',')}}`;
}

/**
 * True when `value` is, key for key, the JSON value `known` (a value that passed
 * `toStateValue`, so plain objects, arrays and JSON primitives only): then
 * `stableStringify(value) === stableStringify(known)`. Allocates nothing, so the loop can ask it
 * of every work's `run()` arguments on every pass. It may answer false for values whose text is
 * equal (a key set to `undefined`, `-0`); callers then compare the text, so a false is only slower.
 */
export function sameJson(value: unknown, known: unknown): boolean {
  if (value === known) return typeof value !== 'number' || Number.isFinite(value);
  if (value === null || known === null || typeof value !== 'object' || typeof known !== 'object')
    return false;
  if (Array.isArray(known)) {
    if (!Array.isArray(value) || value.length !== known.length) return false;
    for (let i = 0; i < known.length; i++) if (!sameJson(value[i], known[i])) return false;
    return true;
  }
  if (Array.isArray(value)) return false;
  // Equal key counts and every key of `known` in `value`: the same key sets.
  let count = 0;
  for (const k in value) {
    if (!Object.hasOwn(value, k)) return false; // inherited keys: leave it to the text
    count++;
  }
  const keys = Object.keys(known);
  if (count !== keys.length) return false;
  for (const k of keys) {
    if (!Object.hasOwn(value, k)) return false;
    if (!sameJson((value as Record<string, unknown>)[k], (known as Record<string, unknown>)[k])) return false;
  }
  return true;
}

/** The identity of a work.run() call: a short hash of its arguments. */
export function callHash(args: unknown): string {
  return createHash('sha256').update(stableStringify(args)).digest('hex').slice(0, 16);
}
