import { describe, expect, it } from 'vitest';
import { applyPatch, type PatchOperation, toStateValue } from '../../daemon/state/json-patch.ts';
import { flushPendingArrays, readonlyView, recordingView } from '../../daemon/state/state-recorder.ts';

function setup(initial: object) {
  const source = toStateValue(initial) as Record<string, unknown>;
  const mirror = toStateValue(initial) as Record<string, unknown>;
  const ops: PatchOperation[] = [];
  // biome-ignore lint/suspicious/noExplicitAny: the tests write arbitrary shapes through the view
  const view = recordingView<Record<string, any>>(source, '', (op) => ops.push(op), 'test.state');
  return { source, mirror, ops, view };
}

describe('recording views', () => {
  it('records each write as an op whose replay reproduces the document', () => {
    const { source, mirror, ops, view } = setup({ loss: null, metrics: { acc: 0 }, history: [] });
    view.loss = 0.5;
    view.metrics.acc = 0.9;
    view.metrics.f1 = 0.8;
    view.history.push(1, 2);
    view.history[0] = 10;
    view.history.splice(1, 1);
    delete view.metrics.f1;
    view.nested = { deep: [1, { x: 2 }] };
    view.nested.deep[1].x = 3;
    flushPendingArrays();
    applyPatch(mirror, ops);
    expect(JSON.parse(JSON.stringify(mirror))).toEqual(JSON.parse(JSON.stringify(source)));
    expect(ops.slice(0, 4)).toEqual([
      { op: 'replace', path: '/loss', value: 0.5 },
      { op: 'replace', path: '/metrics/acc', value: 0.9 },
      { op: 'add', path: '/metrics/f1', value: 0.8 },
      { op: 'add', path: '/history/-', value: 1 },
    ]);
  });

  it('an object that moved inside an array is written at its new position', () => {
    const { source, mirror, ops, view } = setup({ items: [{ v: 1 }, { v: 2 }] });
    expect(view.items[1].v).toBe(2); // read through the proxy at index 1
    view.items.shift();
    view.items[0].v = 20; // the same object, now at index 0
    view.items.push({ v: 30 });
    flushPendingArrays();
    applyPatch(mirror, ops);
    expect(JSON.parse(JSON.stringify(mirror))).toEqual({ items: [{ v: 20 }, { v: 30 }] });
    expect(JSON.parse(JSON.stringify(source))).toEqual({ items: [{ v: 20 }, { v: 30 }] });
    // One replace of the whole array for the shift and everything after it, not one per step.
    expect(ops).toEqual([{ op: 'replace', path: '/items', value: [{ v: 20 }, { v: 30 }] }]);
  });

  it('refuses non-JSON values and forbidden keys with a message naming the place', () => {
    const { view, ops } = setup({ a: {} });
    expect(() => {
      view.a.f = () => 1;
    }).toThrow(/test\.state\/a\/f/);
    expect(() => {
      // biome-ignore lint/suspicious/noProto: writing __proto__ through state is what is tested
      view.a.__proto__ = { polluted: true };
    }).toThrow();
    expect(ops).toEqual([]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('read-only views explain who owns the state', () => {
    const status = readonlyView<Record<string, unknown>>(
      toStateValue({ phase: 'running' }) as object,
      'root.w.status',
    );
    expect(status.phase).toBe('running');
    expect(() => {
      status.phase = 'failed';
    }).toThrow(/root\.w\.status is read-only/);
  });
});

describe('array mutations and the ops around them', () => {
  it('flushes a marked array before an op that replaces its parent, so order is kept', () => {
    const { source, mirror, ops, view } = setup({ parent: { arr: [1, 2, 3] } });
    view.parent.arr.reverse();
    view.parent = { arr: ['new'] };
    flushPendingArrays();
    applyPatch(mirror, ops);
    expect(JSON.parse(JSON.stringify(mirror))).toEqual(JSON.parse(JSON.stringify(source)));
    expect(ops.map((o) => o.path)).toEqual(['/parent/arr', '/parent']);
  });

  it('without an explicit flush, the replace is recorded a microtask later', async () => {
    const { ops, view } = setup({ arr: [3, 1, 2] });
    view.arr.sort();
    expect(ops).toEqual([]);
    await Promise.resolve();
    expect(ops).toEqual([{ op: 'replace', path: '/arr', value: [1, 2, 3] }]);
  });
});

describe('a view held across an array reshuffle', () => {
  // Each case reads an element, reshuffles its array, lets the reshuffle be recorded (as the
  // next microtask would), then writes through the view it held: the write must land on that
  // element where it is now, on every copy, or fail saying why.
  const rows = () => ({ items: [{ id: 0 }, { id: 1 }, { id: 2 }, { id: 3 }] });
  const cases: [string, (items: { id: number }[]) => void, number][] = [
    ['splice before it', (items) => items.splice(0, 1), 1],
    ['shift', (items) => items.shift(), 1],
    ['unshift', (items) => items.unshift({ id: 9 }), 3],
    ['reverse', (items) => items.reverse(), 1],
    ['sort', (items) => items.sort((a, b) => b.id - a.id), 1],
    ['splice after it', (items) => items.splice(3, 1, { id: 8 }, { id: 7 }), 2],
  ];
  for (const [name, reshuffle, newIndex] of cases) {
    it(`follows its element through ${name}`, () => {
      const { source, mirror, ops, view } = setup(rows());
      const item = view.items[2];
      reshuffle(view.items);
      flushPendingArrays();
      item.x = 5;
      flushPendingArrays();
      applyPatch(mirror, ops);
      expect(JSON.parse(JSON.stringify(source)).items[newIndex]).toEqual({ id: 2, x: 5 });
      expect(JSON.parse(JSON.stringify(mirror))).toEqual(JSON.parse(JSON.stringify(source)));
      expect(ops.at(-1)).toEqual({ op: 'add', path: `/items/${newIndex}/x`, value: 5 });
    });
  }

  it('follows an element whose parent element moved', () => {
    const { source, mirror, ops, view } = setup({ runs: [{ m: { a: 1 } }, { m: { a: 2 } }] });
    const metrics = view.runs[1].m;
    view.runs.shift();
    flushPendingArrays();
    metrics.a = 20;
    applyPatch(mirror, ops);
    expect(JSON.parse(JSON.stringify(mirror))).toEqual({ runs: [{ m: { a: 20 } }] });
    expect(JSON.parse(JSON.stringify(source))).toEqual({ runs: [{ m: { a: 20 } }] });
  });

  it('refuses a write to an element that left the state, naming where it was and the fix', () => {
    const { ops, view } = setup(rows());
    const gone = view.items[0];
    const replaced = view.items[1];
    view.items.shift();
    view.items[0] = { id: 11 };
    flushPendingArrays();
    const before = ops.length;
    expect(() => {
      gone.x = 1;
    }).toThrow(
      /test\.state\/items\/0 is no longer in the state.*read it again.*`this\.state\.items\[0\]\.x = …`/is,
    );
    expect(() => {
      replaced.x = 1;
    }).toThrow(/no longer in the state/);
    expect(ops.length).toBe(before);
  });

  it('fill and copyWithin copy what they repeat; splice() with no arguments removes nothing', () => {
    const { source, mirror, ops, view } = setup({ a: [{ n: 1 }, { n: 2 }, { n: 3 }], b: [1, 2] });
    view.a.copyWithin(0, 2);
    view.a[0].n = 30; // the copy at 0, not the element at 2
    view.b.fill({ z: 0 });
    view.b[1].z = 1;
    expect(view.b.splice()).toEqual([]);
    flushPendingArrays();
    applyPatch(mirror, ops);
    expect(JSON.parse(JSON.stringify(source))).toEqual({
      a: [{ n: 30 }, { n: 2 }, { n: 3 }],
      b: [{ z: 0 }, { z: 1 }],
    });
    expect(JSON.parse(JSON.stringify(mirror))).toEqual(JSON.parse(JSON.stringify(source)));
  });

  it('a default sort of objects works and orders like a plain array', () => {
    const plain = [{ b: 1 }, 3, [2, 1], 'a', null, 10];
    const { source, view } = setup({ arr: plain });
    view.arr.sort();
    expect(JSON.parse(JSON.stringify(source)).arr).toEqual(structuredClone(plain).sort());
  });
});
