/**
 * The cutting and collecting of state documents larger than one message (ADR 0021): pieces
 * never split a surrogate pair (protobuf strings are UTF-8: half a pair would arrive as
 * U+FFFD), collect back to the same text, and a peer cannot send parts out of order, change
 * the count midway or exceed the bound. And the document budget refuses a write over the
 * limit before it changes anything, without measuring the document on every write.
 */
import { describe, expect, it } from 'vitest';
import { GrpcCode } from '../../constructs/errors.ts';
import { PartAssembler, splitText } from '../../daemon/protocol/document-parts.ts';
import { DocumentBudget, StateSizeError } from '../../daemon/state/document-budget.ts';
import { toStateValue } from '../../daemon/state/json-patch.ts';
import { recordingView } from '../../daemon/state/state-recorder.ts';

describe('parts', () => {
  it('cut between code points only, and collect back to the same text', () => {
    const text = `"${'a😀'.repeat(1000)}"`;
    for (const max of [1, 2, 3, 7, 100]) {
      const pieces = splitText(text, max);
      for (const p of pieces) {
        expect(p.length).toBeLessThanOrEqual(Math.max(max, 2));
        expect(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(p)).toBe(false);
      }
      const collector = new PartAssembler('test doc');
      let whole: string | undefined;
      pieces.forEach((p, i) => {
        whole = collector.add('1/5', i, pieces.length, p);
      });
      expect(whole).toBe(text);
      expect(collector.pending).toBe(false);
    }
  });

  it('refuse parts out of order, a changed count or key, and more than the bound', () => {
    const c = new PartAssembler('test doc', 10);
    expect(() => c.add('k', 1, 3, 'x')).toThrow(/got part 1 of 3, expected part 0/);
    c.add('k', 0, 3, 'ab');
    expect(() => c.add('k', 1, 4, 'cd')).toThrow(/expected part 1 of 3/);
    c.add('k', 0, 3, 'ab');
    expect(() => c.add('other', 1, 3, 'cd')).toThrow(/expected part 1 of 3/);
    c.add('k', 0, 3, 'ab');
    expect(() => c.add('k', 0, 1, '{}')).toThrow(/expected part 1 of 3/);
    expect(() => c.add('k', 5, 3, 'x')).toThrow(/does not exist/);
    c.add('k', 0, 3, 'abcd');
    c.add('k', 1, 3, 'efgh');
    let err: unknown;
    try {
      c.add('k', 2, 3, 'ijk');
    } catch (e) {
      err = e;
    }
    expect((err as { grpcCode?: number }).grpcCode).toBe(GrpcCode.RESOURCE_EXHAUSTED);
    expect(c.pending).toBe(false);
    expect(c.add('k', 0, 1, '{}')).toBe('{}');
  });
});

describe('the document budget', () => {
  it('refuses the write that would cross the limit, before it changes the document', () => {
    const doc = toStateValue({ parts: [] }) as Record<string, never>;
    const ops: unknown[] = [];
    const budget = new DocumentBudget(doc, 'root.w.state', 1000);
    const state = recordingView<{ parts: string[]; other?: string }>(
      doc,
      '',
      (op) => ops.push(op),
      'root.w.state',
      undefined,
      budget,
    );
    for (let i = 0; i < 9; i++) state.parts.push('x'.repeat(100));
    expect(() => state.parts.push('y'.repeat(100))).toThrow(StateSizeError);
    expect(() => state.parts.push('y'.repeat(100))).toThrow(
      /root\.w\.state would be .* of JSON .*limit is 1\.0 kB.*Drive/,
    );
    expect(state.parts).toHaveLength(9);
    expect(ops).toHaveLength(9);
    // Replacing a value counts what it replaces: the same size again still fits.
    state.parts[0] = 'z'.repeat(100);
    expect(JSON.stringify(doc).length).toBeLessThanOrEqual(1000);
  });

  it('checks a batch of ops on a copy near the limit, and leaves their values alone', () => {
    const doc = toStateValue({ a: 'x'.repeat(900) }) as Record<string, never>;
    const budget = new DocumentBudget(doc, 'doc', 1000);
    const ops = [
      { op: 'add' as const, path: '/list', value: [] },
      { op: 'add' as const, path: '/list/-', value: [] },
    ];
    budget.admitOps(ops);
    expect(ops[0]!.value).toEqual([]);
    expect(() => budget.admitOps([{ op: 'add', path: '/b', value: 'y'.repeat(200) }])).toThrow(
      StateSizeError,
    );
  });
});
