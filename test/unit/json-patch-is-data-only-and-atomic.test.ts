import { describe, expect, it } from 'vitest';
import {
  applyPatch,
  mergePatchToOps,
  type PatchOperation,
  parseStateJson,
  StateLimits,
  toStateValue,
} from '../../daemon/state/json-patch.ts';

const doc = (v: object) => toStateValue(v) as Record<string, unknown>;
const plain = (v: unknown) => JSON.parse(JSON.stringify(v));

describe('RFC 6902 operations', () => {
  it('add, remove, replace, move, copy, test (RFC 6902 appendix examples)', () => {
    const d = doc({ foo: ['bar', 'baz'], baz: { qux: 'hello' } });
    applyPatch(d, [
      { op: 'add', path: '/foo/1', value: 'qux' },
      { op: 'remove', path: '/baz/qux' },
      { op: 'replace', path: '/foo/0', value: 'x' },
      { op: 'add', path: '/foo/-', value: 'end' },
      { op: 'copy', from: '/foo', path: '/copy' },
      { op: 'move', from: '/copy', path: '/moved' },
      { op: 'test', path: '/foo/3', value: 'end' },
      { op: 'add', path: '/a~1b', value: 1 },
      { op: 'add', path: '/m~0n', value: 2 },
    ]);
    expect(plain(d)).toEqual({
      foo: ['x', 'qux', 'baz', 'end'],
      baz: {},
      moved: ['x', 'qux', 'baz', 'end'],
      'a/b': 1,
      'm~n': 2,
    });
  });

  it('is atomic: a failing op undoes the ops before it', () => {
    const d = doc({ a: 1, list: [1, 2, 3] });
    const before = plain(d);
    const ops: PatchOperation[] = [
      { op: 'replace', path: '/a', value: 2 },
      { op: 'remove', path: '/list/0' },
      { op: 'add', path: '/new', value: { x: 1 } },
      { op: 'test', path: '/a', value: 999 },
    ];
    expect(() => applyPatch(d, ops)).toThrow(/test at \/a failed/);
    expect(plain(d)).toEqual(before);
  });

  it('refuses out-of-range indices, missing paths and moving a value into itself', () => {
    const d = doc({ list: [1], o: { p: 1 } });
    expect(() => applyPatch(d, [{ op: 'add', path: '/list/5', value: 1 }])).toThrow(/out of bounds/);
    expect(() => applyPatch(d, [{ op: 'remove', path: '/nope' }])).toThrow(/does not exist/);
    expect(() => applyPatch(d, [{ op: 'move', from: '/o', path: '/o/p/q' }])).toThrow(/own child/);
    expect(() => applyPatch(d, [{ op: 'replace', path: '', value: 1 }])).toThrow(/root/);
  });
});

describe('data only', () => {
  it.each(['__proto__', 'constructor', 'prototype'])('refuses the key %s in paths and in values', (key) => {
    const d = doc({ a: {} });
    expect(() => applyPatch(d, [{ op: 'add', path: `/a/${key}`, value: 1 }])).toThrow(/not allowed in state/);
    expect(() => parseStateJson(`{"ok":{"${key}":{"polluted":true}}}`, '/x')).toThrow(/not allowed in state/);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('stores state in prototype-free objects', () => {
    const v = toStateValue({ a: { b: 1 } }) as Record<string, Record<string, number>>;
    expect(Object.getPrototypeOf(v)).toBeNull();
    expect(Object.getPrototypeOf(v.a)).toBeNull();
  });

  it('refuses non-JSON values: functions, NaN, Infinity, class instances, undefined in arrays', () => {
    expect(() => toStateValue({ f: () => 1 })).toThrow(/function/);
    expect(() => toStateValue({ n: Number.NaN })).toThrow(/finite/);
    expect(() => toStateValue({ n: Number.POSITIVE_INFINITY })).toThrow(/finite/);
    expect(() => toStateValue({ m: new Map() })).toThrow(/Map instance/);
    expect(() => toStateValue([undefined])).toThrow(/undefined/);
    // toJSON is honoured (Date, Path).
    expect(toStateValue({ d: new Date(0) })).toEqual({ d: '1970-01-01T00:00:00.000Z' });
  });

  it('enforces the depth and size limits', () => {
    let deep: unknown = 1;
    for (let i = 0; i <= StateLimits.maxDepth + 1; i++) deep = [deep];
    expect(() => toStateValue(deep)).toThrow(/deeper than/);
    expect(() => parseStateJson(`"${'x'.repeat(StateLimits.maxValueBytes + 1)}"`, '/big')).toThrow(/limit/);
    expect(() => parseStateJson('{not json', '/bad')).toThrow(/not valid JSON/);
  });
});

describe('JSON merge patch (RFC 7386) to ops', () => {
  it('merges objects, removes keys with null, replaces everything else', () => {
    const d = doc({ a: 1, m: { x: 1, y: 2 }, arr: [1] });
    const patch = toStateValue({ a: 2, m: { x: null, z: 3 }, arr: [2, 3], fresh: { k: null, v: 1 } });
    applyPatch(d, mergePatchToOps(d as never, patch, ''));
    expect(plain(d)).toEqual({ a: 2, m: { y: 2, z: 3 }, arr: [2, 3], fresh: { v: 1 } });
  });
});
