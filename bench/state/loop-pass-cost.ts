/**
 * What one pass of the flow's loop costs at N works, in this process: the stream benchmark's
 * run() (every work's `run()` with unchanged arguments, every work's state read), driven by
 * `loop.post()` without daemons or a journal, so only the loop and the user's run() are timed.
 * Every drain of changes runs such a pass, so its cost is part of each change's latency at
 * many works (issue 12), and one the end-to-end figure cannot separate from a busy machine's.
 *
 *   npx tsx bench/state/loop-pass-cost.ts [works=100] [passes=2000] [repeats=7]
 *
 * Prints, over the repeats (min, median, max): CPU µs per pass (user + system), bytes
 * allocated per pass (what the collections freed plus the heap's growth, from v8.GCProfiler)
 * and GC time per pass. CPU time rather than wall time, so other processes on a shared
 * machine move it less.
 */
import { GCProfiler } from 'node:v8';
import { Flow, LightningApp, Work } from '../../constructs/index.ts';
import { EventLoop } from '../../daemon/flow/event-loop.ts';
import { type Spread, spreadOf } from '../lib/stats.ts';

const works = Number(process.argv[2] ?? 100);
const passes = Number(process.argv[3] ?? 2000);
const repeats = Number(process.argv[4] ?? 7);

class Counter extends Work<{ count: number; done: number }, { phase: string; index: number; t0: number }> {
  constructor(scope: Flow, id: string) {
    super(scope, id, { state: { count: 0, done: 0 }, parallel: true });
  }
  override async execute(): Promise<void> {}
}

class Root extends Flow<{ tick: number }> {
  readonly works: Counter[] = [];
  seen = 0;
  constructor(app: LightningApp) {
    super(app, 'root', { state: { tick: 0 } });
    for (let i = 0; i < works; i++) this.works.push(new Counter(this, `w${i}`));
  }
  override run(): void {
    // As bench/apps/stream-app.ts does on every pass: arguments rebuilt, state read.
    for (const w of this.works) {
      w.run({ phase: 'measure', index: 0, t0: 1_764_270_000_000.5 });
      this.seen += w.state.count;
    }
  }
}

const app = new LightningApp({ name: 'pass-cost' });
const root = new Root(app);
const loop = new EventLoop(app, {});
loop.start();
const settle = () => new Promise<void>((r) => setImmediate(r));
await settle();

interface BatchCost {
  readonly usPerPass: number;
  readonly bytesPerPass: number;
  readonly gcUsPerPass: number;
}

async function batch(): Promise<BatchCost> {
  const before = loop.stats.passes;
  const gc = new GCProfiler();
  gc.start();
  const heapBefore = process.memoryUsage().heapUsed;
  const t0 = process.cpuUsage();
  for (let i = 0; i < passes; i++) {
    loop.post(() => {
      (root.state as { tick: number }).tick++;
    });
    await settle();
  }
  const cpu = process.cpuUsage(t0);
  const heapAfter = process.memoryUsage().heapUsed;
  const stats = gc.stop()?.statistics ?? [];
  const ran = loop.stats.passes - before;
  let freed = 0;
  let gcUs = 0;
  for (const s of stats) {
    freed += s.beforeGC.heapStatistics.usedHeapSize - s.afterGC.heapStatistics.usedHeapSize;
    gcUs += s.cost;
  }
  return {
    usPerPass: (cpu.user + cpu.system) / ran,
    bytesPerPass: (freed + heapAfter - heapBefore) / ran,
    gcUsPerPass: gcUs / ran,
  };
}

await batch(); // warm-up: the JIT, the first dispatches
const costs: BatchCost[] = [];
for (let r = 0; r < repeats; r++) costs.push(await batch());
const round = (s: Spread) => ({
  min: Math.round(s.min),
  median: Math.round(s.median),
  max: Math.round(s.max),
});
console.log(
  JSON.stringify({
    works,
    passesPerBatch: passes,
    cpuUsPerPass: round(spreadOf(costs.map((c) => c.usPerPass))),
    bytesPerPass: round(spreadOf(costs.map((c) => c.bytesPerPass))),
    gcUsPerPass: round(spreadOf(costs.map((c) => c.gcUsPerPass))),
  }),
);
process.exit(0);
