/**
 * ADR 0014's measurement: our recorder (daemon/state/state-recorder.ts) against immer's
 * produceWithPatches and mutative's create(…, { enablePatches }) on (1) the aliasing bug of
 * issue 9 and (2) the cost of recording writes the way works make them: one transaction per
 * tick, its ops serialized for the wire.
 *
 *   npm i --no-save immer mutative && npx tsx bench/state/compare-recorders.ts
 *
 * (Not a dependency of the project: ADR 0014 keeps our recorder. The libraries are loaded by
 * name so the project builds without them.)
 */
import { type PatchOperation, toStateValue } from '../../daemon/state/json-patch.ts';
import { flushPendingArrays, recordingView } from '../../daemon/state/state-recorder.ts';

type Doc = Record<string, unknown>;
type Tx = (s: Doc) => void;
/** Runs one transaction on the current state; returns the JSON text of its patches. */
type Recorder = { name: string; make(initial: Doc): (tx: Tx) => string };

const ours: Recorder = {
  name: 'ours (recordingView)',
  make(initial) {
    const doc = toStateValue(initial) as Doc;
    let ops: PatchOperation[] = [];
    // Coalesces a replace of the path just written, as the work daemon's recordOp does.
    const sink = (op: PatchOperation) => {
      const last = ops[ops.length - 1];
      if (last && op.op === 'replace' && last.path === op.path && last.op !== 'remove') {
        ops[ops.length - 1] = { op: last.op, path: op.path, value: op.value! };
      } else ops.push(op);
    };
    const view = recordingView<Doc>(doc, '', sink, 'bench');
    return (tx) => {
      tx(view);
      flushPendingArrays();
      const text = JSON.stringify(ops);
      ops = [];
      return text;
    };
  },
};

async function library(name: 'immer' | 'mutative'): Promise<Recorder | null> {
  try {
    if (name === 'immer') {
      const immer = (await import(name as string)) as {
        enablePatches(): void;
        produceWithPatches(s: Doc, f: Tx): [Doc, unknown[]];
        setAutoFreeze(b: boolean): void;
      };
      immer.enablePatches();
      return {
        name: 'immer produceWithPatches',
        make(initial) {
          let state = structuredClone(initial);
          return (tx) => {
            const [next, patches] = immer.produceWithPatches(state, tx);
            state = next;
            return JSON.stringify(patches);
          };
        },
      };
    }
    const mutative = (await import(name as string)) as {
      create(s: Doc, f: Tx, o: { enablePatches: true }): [Doc, unknown[], unknown[]];
    };
    return {
      name: 'mutative create+patches',
      make(initial) {
        let state = structuredClone(initial);
        return (tx) => {
          const [next, patches] = mutative.create(state, tx, { enablePatches: true });
          state = next;
          return JSON.stringify(patches);
        };
      },
    };
  } catch {
    console.log(`(${name} not installed: npm i --no-save ${name})`);
    return null;
  }
}

const big = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`k${i}`, { v: i, tags: ['a', 'b'] }]));
const rows = { rows: Array.from({ length: 1000 }, (_, i) => ({ id: i, loss: 1 / (i + 1) })) };

const scenarios: { name: string; initial: Doc; tx: (i: number) => Tx; txs: number }[] = [
  {
    name: 'count++ x100 per tick',
    initial: { count: 0 },
    tx: () => (s) => {
      for (let k = 0; k < 100; k++) (s.count as number)++;
    },
    txs: 2000,
  },
  {
    name: 'distinct paths: 10 keys of a 1000-key doc per tick',
    initial: big,
    tx: (i) => (s) => {
      for (let k = 0; k < 10; k++) (s[`k${(i * 10 + k) % 1000}`] as { v: number }).v = i;
    },
    txs: 5000,
  },
  {
    name: 'push 1 row onto 1000 rows per tick',
    initial: rows,
    tx: (i) => (s) => {
      (s.rows as unknown[]).push({ id: 1000 + i, loss: 0 });
    },
    txs: 5000,
  },
];

const recorders = [ours, await library('immer'), await library('mutative')].filter((r) => r !== null);

console.log('aliasing (issue 9): s.list = [1]; s.list.push(2) in one transaction');
for (const r of recorders) {
  const run = r.make({});
  console.log(
    `  ${r.name.padEnd(28)} patches ${run((s) => {
      s.list = [1];
      (s.list as number[]).push(2);
    })}`,
  );
}

console.log('\nrecording cost (µs per transaction, median of 5)');
for (const sc of scenarios) {
  for (const r of recorders) {
    const times: number[] = [];
    for (let rep = 0; rep < 5; rep++) {
      const run = r.make(sc.initial);
      const t0 = performance.now();
      for (let i = 0; i < sc.txs; i++) run(sc.tx(i));
      times.push(((performance.now() - t0) * 1000) / sc.txs);
    }
    times.sort((a, b) => a - b);
    console.log(`  ${sc.name.padEnd(52)} ${r.name.padEnd(28)} ${times[2]!.toFixed(2)}`);
  }
}
