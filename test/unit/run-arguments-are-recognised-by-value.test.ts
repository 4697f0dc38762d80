import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { JsonValue } from '../../constructs/json.ts';
import { cloneState, toStateValue } from '../../daemon/state/json-patch.ts';
import { sameJson, stableStringify } from '../../daemon/state/stable-hash.ts';

// The loop reuses a call's hash when sameJson(args, lastArgs) says the arguments are the last
// ones: a true where the stable text differs would skip a new call.
const json = fc.jsonValue() as fc.Arbitrary<JsonValue>;

/** The validated copy the loop keeps, or null for values state refuses (`__proto__` keys). */
function validated(value: JsonValue): JsonValue | null {
  try {
    return toStateValue(value);
  } catch {
    return null;
  }
}

describe('sameJson (how the loop recognises repeated run() arguments)', () => {
  it('is true only when the stable JSON text is the same', () => {
    fc.assert(
      fc.property(json, json, (a, b) => {
        const known = validated(b);
        if (known === null) return;
        if (sameJson(a, known)) expect(stableStringify(a)).toBe(stableStringify(known));
      }),
      { numRuns: 20_000 },
    );
  });

  it('recognises a value equal to the copy, whatever its key order', () => {
    fc.assert(
      fc.property(json, (a) => {
        const valid = validated(a);
        if (valid === null) return;
        const known = cloneState(valid);
        // -0 reads back as 0 in the text; sameJson may answer false there, never wrongly true.
        if (!JSON.stringify(a).includes('-0')) expect(sameJson(a, known)).toBe(true);
      }),
    );
    expect(sameJson({ b: 1, a: [1, { c: 'x' }] }, toStateValue({ a: [1, { c: 'x' }], b: 1 }))).toBe(true);
  });

  it('sees a change deep inside, a missing or extra key, and a different type', () => {
    const known = toStateValue({ opt: { lr: 1, tags: ['a'] }, n: null });
    expect(sameJson({ opt: { lr: 2, tags: ['a'] }, n: null }, known)).toBe(false);
    expect(sameJson({ opt: { lr: 1, tags: ['a', 'b'] }, n: null }, known)).toBe(false);
    expect(sameJson({ opt: { lr: 1, tags: ['a'] } }, known)).toBe(false);
    expect(sameJson({ opt: { lr: 1, tags: ['a'] }, n: null, x: 1 }, known)).toBe(false);
    expect(sameJson({ opt: { lr: '1', tags: ['a'] }, n: null }, known)).toBe(false);
    expect(sameJson({ opt: { lr: 1, tags: { 0: 'a' } }, n: null }, known)).toBe(false);
    expect(
      sameJson(
        { opt: { lr: Number.NaN, tags: ['a'] }, n: null },
        toStateValue({ opt: { lr: null, tags: ['a'] }, n: null }),
      ),
    ).toBe(false);
  });
});
