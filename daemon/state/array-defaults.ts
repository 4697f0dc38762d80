/**
 * What a plain array's methods do by default, for state arrays that run them on the array
 * itself (state-recorder.ts): state objects have no prototype, so the built-in default sort
 * (which calls String() on each element) would throw on them.
 */

/** An index argument of fill/slice-like methods: negative counts from the end, clamped. */
export function relativeIndex(value: number | undefined, fallback: number, length: number): number {
  if (value === undefined) return fallback;
  const n = Math.trunc(Number(value)) || 0;
  return n < 0 ? Math.max(length + n, 0) : Math.min(n, length);
}

function sortString(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (Array.isArray(v)) return v.map(sortString).join(',');
  return typeof v === 'object' ? '[object Object]' : String(v);
}

/** Array.prototype.sort's default order, for arrays whose objects have no prototype. */
export function compareAsStrings(a: unknown, b: unknown): number {
  // Array.prototype.sort's default: top-level null is "null", nested null is "".
  const x = a === null ? 'null' : sortString(a);
  const y = b === null ? 'null' : sortString(b);
  return x < y ? -1 : x > y ? 1 : 0;
}
