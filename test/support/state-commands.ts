/**
 * Random state commands for the model-based tests (fast-check arbitraries), and one
 * interpreter that runs a command on either a real recording view (`this.state` of a flow or
 * a work) or a plain reference model. The model copies on assignment, as state does, so the
 * two agree exactly when the runtime is right.
 */
import fc from 'fast-check';

export type Cmd =
  | { readonly t: 'set'; readonly key: string; readonly value: unknown }
  | { readonly t: 'delete'; readonly key: string }
  | { readonly t: 'push'; readonly key: string; readonly value: unknown }
  | {
      readonly t: 'splice';
      readonly key: string;
      readonly start: number;
      readonly del: number;
      readonly items: readonly unknown[];
    }
  | { readonly t: 'sort'; readonly key: string }
  | { readonly t: 'nested'; readonly key: string; readonly sub: string; readonly value: unknown }
  | { readonly t: 'row'; readonly key: string; readonly index: number; readonly loss: number }
  | { readonly t: 'assignThenPush'; readonly key: string; readonly items: readonly number[] }
  | { readonly t: 'mutateAfterAssign'; readonly key: string }
  | { readonly t: 'large'; readonly key: string; readonly n: number }
  | {
      readonly t: 'heldRow';
      readonly key: string;
      readonly index: number;
      readonly shuffle: Shuffle;
      readonly loss: number;
    };

/** How `heldRow` reshuffles the array between reading a row and writing through it. */
export type Shuffle = 'unshift' | 'reverse' | 'sortByLoss' | 'removeOther' | 'shiftBefore';

type Doc = Record<string, unknown>;

const leaf = fc.oneof(
  fc.integer({ min: -5, max: 5 }),
  fc.string({ maxLength: 4 }),
  fc.boolean(),
  fc.constant(null),
);
const value = fc.oneof(
  { weight: 3, arbitrary: leaf },
  { weight: 1, arbitrary: fc.array(leaf, { maxLength: 3 }) },
  { weight: 1, arbitrary: fc.dictionary(fc.constantFrom('x', 'y', 'z'), leaf, { maxKeys: 2 }) },
  {
    weight: 1,
    arbitrary: fc.array(fc.record({ id: fc.nat(9), loss: fc.integer({ min: 0, max: 9 }) }), {
      maxLength: 3,
    }),
  },
);

/** Commands that write only `keys`. */
export function cmdArb(keys: readonly string[]): fc.Arbitrary<Cmd> {
  const key = fc.constantFrom(...keys);
  return fc.oneof(
    { weight: 3, arbitrary: fc.record({ t: fc.constant('set' as const), key, value }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('delete' as const), key }) },
    { weight: 2, arbitrary: fc.record({ t: fc.constant('push' as const), key, value }) },
    {
      weight: 1,
      arbitrary: fc.record({
        t: fc.constant('splice' as const),
        key,
        start: fc.nat(3),
        del: fc.nat(2),
        items: fc.array(leaf, { maxLength: 2 }),
      }),
    },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('sort' as const), key }) },
    {
      weight: 1,
      arbitrary: fc.record({ t: fc.constant('nested' as const), key, sub: fc.constantFrom('x', 'y'), value }),
    },
    {
      weight: 1,
      arbitrary: fc.record({ t: fc.constant('row' as const), key, index: fc.nat(2), loss: fc.nat(9) }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        t: fc.constant('assignThenPush' as const),
        key,
        items: fc.array(fc.nat(9), { maxLength: 3 }),
      }),
    },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('mutateAfterAssign' as const), key }) },
    {
      weight: 1,
      arbitrary: fc.record({
        t: fc.constant('large' as const),
        key,
        n: fc.integer({ min: 1000, max: 20_000 }),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        t: fc.constant('heldRow' as const),
        key,
        index: fc.nat(2),
        shuffle: fc.constantFrom<Shuffle>('unshift', 'reverse', 'sortByLoss', 'removeOther', 'shiftBefore'),
        loss: fc.nat(9),
      }),
    },
  );
}

/**
 * Runs `cmd` on `s`. `assign` stores a value the way the target does: the runtime copies on
 * assignment by itself; the model passes a function that copies. `settle` runs where a tick
 * may pass in real code (the runtime passes one that records pending array changes).
 */
export function runCmd(
  s: Doc,
  cmd: Cmd,
  assign: (s: Doc, key: string, v: unknown) => void,
  settle: () => void = () => {},
): void {
  const arr = (key: string): unknown[] => {
    if (!Array.isArray(s[key])) assign(s, key, []);
    return s[key] as unknown[];
  };
  switch (cmd.t) {
    case 'set':
      assign(s, cmd.key, cmd.value);
      return;
    case 'delete':
      delete s[cmd.key];
      return;
    case 'push':
      arr(cmd.key).push(structuredClone(cmd.value));
      return;
    case 'splice':
      arr(cmd.key).splice(cmd.start, cmd.del, ...structuredClone(cmd.items));
      return;
    case 'sort':
      arr(cmd.key).sort();
      return;
    case 'nested': {
      const cur = s[cmd.key];
      if (typeof cur !== 'object' || cur === null || Array.isArray(cur)) assign(s, cmd.key, {});
      (s[cmd.key] as Doc)[cmd.sub] = structuredClone(cmd.value);
      return;
    }
    case 'row': {
      const rows = arr(cmd.key);
      while (rows.length <= cmd.index) rows.push({ id: rows.length, loss: 0 });
      const row = rows[cmd.index];
      if (typeof row === 'object' && row !== null && !Array.isArray(row)) (row as Doc).loss = cmd.loss;
      else rows[cmd.index] = { id: cmd.index, loss: cmd.loss };
      return;
    }
    case 'assignThenPush':
      // Issue 9's first defect: an in-place mutation right after the assignment.
      assign(s, cmd.key, [...cmd.items]);
      (s[cmd.key] as unknown[]).push(99);
      return;
    case 'mutateAfterAssign': {
      // State holds a copy: mutating the original afterwards changes nothing.
      const v = { a: [1] };
      assign(s, cmd.key, v);
      v.a.push(2);
      return;
    }
    case 'large':
      assign(s, cmd.key, { big: 'x'.repeat(cmd.n), nums: Array.from({ length: cmd.n / 100 }, (_, i) => i) });
      return;
    case 'heldRow': {
      // Issue 9: a row read before its array is reshuffled is written after the reshuffle
      // has been recorded; the write belongs to that row wherever it now is.
      const rows = arr(cmd.key);
      while (rows.length <= cmd.index) rows.push({ id: rows.length, loss: 0 });
      if (typeof rows[cmd.index] !== 'object' || rows[cmd.index] === null || Array.isArray(rows[cmd.index]))
        rows[cmd.index] = { id: cmd.index, loss: 0 };
      const row = rows[cmd.index] as Doc;
      shuffle(rows, cmd.index, cmd.shuffle);
      settle();
      row.loss = cmd.loss;
      return;
    }
  }
}

const lossOf = (v: unknown): number =>
  typeof v === 'object' && v !== null && typeof (v as Doc).loss === 'number'
    ? ((v as Doc).loss as number)
    : -1;

/** Reorders `rows` without removing the row at `held`. */
function shuffle(rows: unknown[], held: number, how: Shuffle): void {
  switch (how) {
    case 'unshift':
      rows.unshift({ id: -1, loss: 0 });
      return;
    case 'reverse':
      rows.reverse();
      return;
    case 'sortByLoss':
      rows.sort((a, b) => lossOf(b) - lossOf(a));
      return;
    case 'removeOther':
      if (rows.length > 1) rows.splice((held + 1) % rows.length, 1);
      return;
    case 'shiftBefore':
      if (held > 0) rows.shift();
      return;
  }
}

export const assignDirect = (s: Doc, key: string, v: unknown): void => {
  s[key] = v;
};
export const assignCopy = (s: Doc, key: string, v: unknown): void => {
  s[key] = structuredClone(v);
};

/** A short text for a command (for failure reports). */
export function showCmd(c: Cmd): string {
  const { t, key, ...rest } = c as Cmd & Record<string, unknown>;
  const detail = JSON.stringify(rest, (_k, v) =>
    typeof v === 'string' && v.length > 20 ? `<${v.length} chars>` : v,
  );
  return `${t} ${key} ${detail === '{}' ? '' : detail}`.trim();
}
