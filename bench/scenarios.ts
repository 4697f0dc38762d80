/**
 * The scenarios of issue #5. Each measures ours and its baseline in this run, interleaved per
 * repeat, and reports medians over the repeats with their spread (min, max). Nothing is
 * hard-coded: a figure that could not be measured is NaN with a note saying why.
 */
import { execFile } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { runBareStream } from './grpc/bare-stream.ts';
import { type BenchRow, gain } from './lib/row.ts';
import { median, type Spread, type StreamRunResult, spreadOf } from './lib/stats.ts';
import { lightningAvailable, runLightningIdle, runLightningStream } from './lightning/run-lightning.ts';
import { type OursPhase, runOursIdle, runOursStream, type StreamAppName } from './runtime/run-ours.ts';

const exec = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '..');

export interface BenchConfig {
  readonly quick: boolean;
  readonly repeats: number;
  /** Prints progress lines. */
  readonly log: (line: string) => void;
}

const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');

/** Medians of every numeric field over repeated results. */
function medians<T extends object>(results: readonly T[]): T {
  const first = results[0] as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(first)) {
    const values = results.map((r) => (r as Record<string, unknown>)[key]);
    out[key] = typeof values[0] === 'number' ? median(values as number[]) : values[0];
  }
  return out as T;
}

/** min / median / max of one numeric field over repeated results. */
function spread<T>(results: readonly T[], key: keyof T): Spread {
  return spreadOf(results.map((r) => r[key] as number));
}

// ---- Scenario 1 (+ the ours half of 3): state throughput and latency ----

/** Total paced load for latency: 1,000 changes/s however many works share it. */
const LATENCY_TOTAL_RATE = 1000;
/** Paced load of the Lightning comparison: 20 changes/s per work, within Lightning's capacity. */
const LIGHTNING_PACE_PER_WORK = 20;
const K = 100;

/** Every repeat's result of our stream runs. */
export interface StreamFigures {
  /** By N: tight-loop results (throughput). */
  readonly tight: Map<number, StreamRunResult[]>;
  /** By N: paced at LATENCY_TOTAL_RATE. */
  readonly paced: Map<number, StreamRunResult[]>;
  /** N = 10 at LIGHTNING_PACE_PER_WORK. */
  readonly pacedLightningLoad?: StreamRunResult[];
  /** The distinct-paths app (nothing coalesces), by N: tight loop and paced. */
  readonly distinctTight: Map<number, StreamRunResult[]>;
  readonly distinctPaced: Map<number, StreamRunResult[]>;
}

/** Works counts the distinct-paths app runs at (a 100-work launch costs a minute). */
const DISTINCT_SIZES = [1, 10];

export async function measureOursStreams(cfg: BenchConfig, sizes: readonly number[]): Promise<StreamFigures> {
  const tight = new Map<number, StreamRunResult[]>();
  const paced = new Map<number, StreamRunResult[]>();
  const distinctTight = new Map<number, StreamRunResult[]>();
  const distinctPaced = new Map<number, StreamRunResult[]>();
  let pacedLightningLoad: StreamRunResult[] | undefined;
  const tightSec = cfg.quick ? 1 : 1.5;
  const pacedSec = cfg.quick ? 2 : 3;
  for (const n of sizes) {
    const phases: OursPhase[] = [
      { mode: 'paced', param: LATENCY_TOTAL_RATE / n, seconds: pacedSec },
      { mode: 'tight', param: K, seconds: tightSec },
    ];
    if (n === 10) phases.push({ mode: 'paced', param: LIGHTNING_PACE_PER_WORK, seconds: pacedSec });
    // A 100-work launch costs a minute of daemon start-up on 2 cores: one repeat.
    const repeats = n >= 100 ? 1 : cfg.repeats;
    const apps: StreamAppName[] = DISTINCT_SIZES.includes(n) ? ['counter', 'distinct'] : ['counter'];
    const runs: Record<StreamAppName, StreamRunResult[][]> = { counter: [], distinct: [] };
    for (let r = 0; r < repeats; r++) {
      for (const app of apps) {
        cfg.log(`  ours (${app}): ${n} works, repeat ${r + 1}/${repeats}`);
        // The distinct app's third phase (Lightning's pace) is not reported: only two phases.
        runs[app].push(await runOursStream(n, app === 'counter' ? phases : phases.slice(0, 2), { app }));
      }
    }
    paced.set(
      n,
      runs.counter.map((x) => x[0]!),
    );
    tight.set(
      n,
      runs.counter.map((x) => x[1]!),
    );
    if (n === 10) pacedLightningLoad = runs.counter.map((x) => x[2]!);
    if (runs.distinct.length > 0) {
      distinctPaced.set(
        n,
        runs.distinct.map((x) => x[0]!),
      );
      distinctTight.set(
        n,
        runs.distinct.map((x) => x[1]!),
      );
    }
  }
  return {
    tight,
    paced,
    distinctTight,
    distinctPaced,
    ...(pacedLightningLoad ? { pacedLightningLoad } : {}),
  };
}

export async function scenarioState(cfg: BenchConfig, ours: StreamFigures): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const tightSec = cfg.quick ? 1 : 1.5;
  const pacedSec = cfg.quick ? 2 : 3;
  for (const [n, mineRuns] of ours.tight) {
    const mine = medians(mineRuns);
    const repeats = n >= 100 ? 1 : cfg.repeats;
    const batched: StreamRunResult[] = [];
    const single: StreamRunResult[] = [];
    const latency: StreamRunResult[] = [];
    for (let r = 0; r < repeats; r++) {
      cfg.log(`  bare gRPC: ${n} streams, repeat ${r + 1}/${repeats}`);
      batched.push(
        await runBareStream({ works: n, mode: 'tight', batched: true, seconds: tightSec, changesPerTick: K }),
      );
      if (n === 1) {
        single.push(
          await runBareStream({
            works: n,
            mode: 'tight',
            batched: false,
            seconds: tightSec,
            changesPerTick: K,
          }),
        );
      }
      latency.push(
        await runBareStream({
          works: n,
          mode: 'paced',
          batched: true,
          seconds: pacedSec,
          ratePerWork: LATENCY_TOTAL_RATE / n,
        }),
      );
    }
    const b = medians(batched);
    rows.push({
      scenario: `1 state changes applied/s, ${n} work${n > 1 ? 's' : ''} (tight loop) vs bare gRPC batched`,
      ours: mine.appliedPerSec,
      baseline: b.appliedPerSec,
      oursSpread: spread(mineRuns, 'appliedPerSec'),
      baselineSpread: spread(batched, 'appliedPerSec'),
      unit: 'changes/s',
      higherIsBetter: true,
      target: n === 10 ? '≥ 50,000/s and ≥ 0.5× bare' : '≥ 0.5× bare',
      met: mine.appliedPerSec >= 0.5 * b.appliedPerSec && (n !== 10 || mine.appliedPerSec >= 50_000),
      note: `${K} changes per tick, one StateDelta per tick; ours produced ${fmt(mine.producedPerSec, 0)}/s (bare ${fmt(b.producedPerSec, 0)}/s); latency under this overload p50 ${fmt(mine.latencyP50Ms, 0)} ms (bare ${fmt(b.latencyP50Ms, 0)} ms)`,
    });
    if (single.length > 0) {
      const s = medians(single);
      rows.push({
        scenario: `1 state changes applied/s, ${n} work${n > 1 ? 's' : ''} vs bare gRPC 1 change/message`,
        ours: mine.appliedPerSec,
        baseline: s.appliedPerSec,
        oursSpread: spread(mineRuns, 'appliedPerSec'),
        baselineSpread: spread(single, 'appliedPerSec'),
        unit: 'changes/s',
        higherIsBetter: true,
        note: 'the same producers sending one message per change (what batching buys)',
      });
    }
    const l = medians(latency);
    const pacedRuns = ours.paced.get(n)!;
    const p = medians(pacedRuns);
    const load = `${LATENCY_TOTAL_RATE}/s total (${LATENCY_TOTAL_RATE / n}/s per work)`;
    rows.push({
      scenario: `1 latency p50, ${n} work${n > 1 ? 's' : ''} at ${load}`,
      ours: p.latencyP50Ms,
      baseline: l.latencyP50Ms,
      oursSpread: spread(pacedRuns, 'latencyP50Ms'),
      baselineSpread: spread(latency, 'latencyP50Ms'),
      unit: 'ms',
      higherIsBetter: false,
      note: `change made in a Work → seen in flow.run(); bare: → decoded by the server`,
    });
    rows.push({
      scenario: `1 latency p99, ${n} work${n > 1 ? 's' : ''} at ${load}`,
      ours: p.latencyP99Ms,
      baseline: l.latencyP99Ms,
      oursSpread: spread(pacedRuns, 'latencyP99Ms'),
      baselineSpread: spread(latency, 'latencyP99Ms'),
      unit: 'ms',
      higherIsBetter: false,
      // Issue 12: < 5 ms up to 10 works, < 10 ms at 100.
      target: n >= 100 ? '< 10 ms' : '< 5 ms',
      met: p.latencyP99Ms < (n >= 100 ? 10 : 5),
      note: `max ours ${fmt(p.latencyMaxMs)} ms, bare ${fmt(l.latencyMaxMs)} ms`,
    });
    rows.push(...distinctRows(n, ours, batched, latency, load));
  }
  return rows;
}

/**
 * The distinct-paths app's rows beside the counter's, against the same bare-gRPC runs (which
 * send one PatchOp per change, as this app's daemon must).
 */
function distinctRows(
  n: number,
  ours: StreamFigures,
  batched: readonly StreamRunResult[],
  latency: readonly StreamRunResult[],
  load: string,
): BenchRow[] {
  const tightRuns = ours.distinctTight.get(n);
  const pacedRuns = ours.distinctPaced.get(n);
  if (!tightRuns || !pacedRuns) return [];
  const works = `${n} work${n > 1 ? 's' : ''}`;
  const t = medians(tightRuns);
  const p = medians(pacedRuns);
  const b = medians(batched);
  const l = medians(latency);
  return [
    {
      scenario: `1 state changes applied/s, ${works}, distinct paths (tight loop) vs bare gRPC batched`,
      ours: t.appliedPerSec,
      baseline: b.appliedPerSec,
      oursSpread: spread(tightRuns, 'appliedPerSec'),
      baselineSpread: spread(batched, 'appliedPerSec'),
      unit: 'changes/s',
      higherIsBetter: true,
      note: `bench/apps/distinct-paths-app.ts: consecutive changes write different paths, so nothing coalesces (one PatchOp per change, like the bare stream); ours produced ${fmt(t.producedPerSec, 0)}/s; latency under this overload p50 ${fmt(t.latencyP50Ms, 0)} ms`,
    },
    {
      scenario: `1 latency p50, ${works}, distinct paths at ${load}`,
      ours: p.latencyP50Ms,
      baseline: l.latencyP50Ms,
      oursSpread: spread(pacedRuns, 'latencyP50Ms'),
      baselineSpread: spread(latency, 'latencyP50Ms'),
      unit: 'ms',
      higherIsBetter: false,
      note: 'distinct-paths app; bare: the same runs as the counter rows',
    },
    {
      scenario: `1 latency p99, ${works}, distinct paths at ${load}`,
      ours: p.latencyP99Ms,
      baseline: l.latencyP99Ms,
      oursSpread: spread(pacedRuns, 'latencyP99Ms'),
      baselineSpread: spread(latency, 'latencyP99Ms'),
      unit: 'ms',
      higherIsBetter: false,
      note: `max ours ${fmt(p.latencyMaxMs)} ms, bare ${fmt(l.latencyMaxMs)} ms`,
    },
  ];
}

// ---- Scenario 2: idle cost ----

/** Issue 12: daemon memory per local work. */
const DAEMON_MIB_PER_WORK_TARGET = 15;

export async function scenarioIdle(cfg: BenchConfig, sizes: readonly number[]): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const windowSec = cfg.quick ? 5 : 10;
  const haveLightning = lightningAvailable();
  for (const n of sizes) {
    // Each idle repeat holds a 10 s window twice (ours, Lightning): at most two repeats.
    const repeats = n >= 100 ? 1 : Math.min(cfg.repeats, 2);
    const ours = [];
    const theirs = [];
    // The layout before ADR 0022 (a process per work), same run; 100 of them would take
    // minutes to start on 2 cores and ~6 GB, so only at small N.
    const perProcess = [];
    for (let r = 0; r < repeats; r++) {
      cfg.log(`  idle: ${n} works, repeat ${r + 1}/${repeats}`);
      ours.push(await runOursIdle(n, windowSec));
      if (n <= 10) perProcess.push(await runOursIdle(n, windowSec, { worksPerProcess: 1 }));
      if (haveLightning) theirs.push(await runLightningIdle(n, windowSec));
    }
    const o = medians(ours);
    const t = theirs.length ? medians(theirs) : undefined;
    rows.push({
      scenario: `2 idle flow CPU, ${n} idle works (${windowSec} s window) vs Lightning`,
      ours: o.flowCpuPercentOfCore,
      baseline: t?.flowCpuPercentOfCore ?? Number.NaN,
      oursSpread: spread(ours, 'flowCpuPercentOfCore'),
      baselineSpread: spread(theirs, 'flowCpuPercentOfCore'),
      unit: '% of a core',
      higherIsBetter: false,
      ...(n === 100 ? { target: '< 1 %', met: o.flowCpuPercentOfCore < 1 } : {}),
      note: haveLightning
        ? `flow process only (works excluded; our ${fmt(o.daemonProcesses, 0)} daemon processes together ${fmt(o.daemonsCpuPercentOfCore, 2)} %); Lightning busy-polls its delta queue for the whole 150 ms of every pass`
        : 'Lightning venv missing: run scripts/setup-bench.sh',
    });
    rows.push({
      scenario: `2 idle flow memory (RSS), ${n} idle works vs Lightning`,
      ours: o.flowRssMiB,
      baseline: t?.flowRssMiB ?? Number.NaN,
      oursSpread: spread(ours, 'flowRssMiB'),
      baselineSpread: spread(theirs, 'flowRssMiB'),
      unit: 'MiB',
      higherIsBetter: false,
      ...(n === 100 ? { target: '≤ 80 MiB', met: o.flowRssMiB <= 80 } : {}),
    });
    const pp = perProcess.length ? medians(perProcess) : undefined;
    rows.push({
      scenario: `2 daemon memory per work (RSS of every daemon process ÷ works), ${n} works${pp ? ' vs a process per work' : ''}`,
      ours: o.daemonsRssMiB / n,
      baseline: pp ? pp.daemonsRssMiB / n : Number.NaN,
      unit: 'MiB',
      higherIsBetter: false,
      target: `≤ ${DAEMON_MIB_PER_WORK_TARGET} MiB`,
      met: o.daemonsRssMiB / n <= DAEMON_MIB_PER_WORK_TARGET,
      note: `${fmt(o.daemonProcesses, 0)} daemon hosts for ${n} works (ADR 0022), ${fmt(o.daemonsRssMiB, 0)} MiB together; RSS counts shared library pages in every process${pp ? `; baseline: \`run --works-per-process 1\`, ${fmt(pp.daemonProcesses, 0)} processes` : ''}`,
    });
  }
  return rows;
}

// ---- Scenario 3: Lightning Apps side by side ----

export async function scenarioLightning(cfg: BenchConfig, ours: StreamFigures): Promise<BenchRow[]> {
  if (!lightningAvailable()) {
    return [
      {
        scenario: '3 Lightning Apps side by side',
        ours: Number.NaN,
        baseline: Number.NaN,
        unit: '',
        higherIsBetter: true,
        note: 'not measured: .bench/lightning-venv is missing (run scripts/setup-bench.sh)',
      },
    ];
  }
  const rows: BenchRow[] = [];
  const seconds = 3;
  for (const n of [1, 10, 100]) {
    const mineRuns = ours.tight.get(n);
    if (!mineRuns) continue;
    const mine = medians(mineRuns);
    const runs = [];
    // 100 Lightning works take a minute to start on 2 cores: one repeat.
    const repeats = n >= 100 ? 1 : cfg.repeats;
    for (let r = 0; r < repeats; r++) {
      cfg.log(`  Lightning: ${n} works tight, repeat ${r + 1}/${repeats}`);
      runs.push(await runLightningStream({ works: n, mode: 'tight', seconds }));
    }
    const t = medians(runs);
    rows.push({
      scenario: `3 changes applied/s, ${n} work${n > 1 ? 's' : ''} (tight loop) vs Lightning 2.3.2`,
      ours: mine.appliedPerSec,
      baseline: t.appliedPerSec,
      oursSpread: spread(mineRuns, 'appliedPerSec'),
      baselineSpread: spread(runs, 'appliedPerSec'),
      unit: 'changes/s',
      higherIsBetter: true,
      target: '≥ 50×',
      met: mine.appliedPerSec >= 50 * t.appliedPerSec,
      note: `Lightning: each setattr deep-copies + DeepDiffs the work state (produced ${fmt(t.producedPerSec, 0)}/s), one delta per queue get, pass interval ${fmt(t.passIntervalMs, 0)} ms`,
    });
  }
  const mineRuns = ours.pacedLightningLoad;
  if (mineRuns) {
    const mine = medians(mineRuns);
    const runs = [];
    for (let r = 0; r < cfg.repeats; r++) {
      cfg.log(`  Lightning: 10 works paced, repeat ${r + 1}/${cfg.repeats}`);
      runs.push(
        await runLightningStream({ works: 10, mode: 'paced', seconds, ratePerWork: LIGHTNING_PACE_PER_WORK }),
      );
    }
    const t = medians(runs);
    for (const [label, field] of [
      ['p50', 'latencyP50Ms'],
      ['p99', 'latencyP99Ms'],
    ] as const) {
      const o = mine[field];
      const b = t[field];
      rows.push({
        scenario: `3 latency ${label}, 10 works at ${LIGHTNING_PACE_PER_WORK}/s each vs Lightning 2.3.2`,
        ours: o,
        baseline: b,
        oursSpread: spread(mineRuns, field),
        baselineSpread: spread(runs, field),
        unit: 'ms',
        higherIsBetter: false,
        target: '≥ 100× lower',
        met: b / o >= 100,
        note: 'Lightning waits the full 150 ms STATE_ACCUMULATE_WAIT every pass, then runs root.run() once',
      });
    }
  }
  return rows;
}

// ---- Scenario 4: start-up ----

/** Issue 12's start-up targets, by N: [seconds, times faster than Lightning]. */
const STARTUP_TARGETS: Record<number, { readonly sec: number; readonly vsLightning?: number }> = {
  3: { sec: 1.5 },
  20: { sec: 1.0, vsLightning: 1.5 },
  100: { sec: 3 },
};

/** Drops the bench app's daemon bundle, so the next launch bundles anew (a first run after an edit). */
function dropBundleCache(): void {
  rmSync(join(ROOT, 'bench/apps/.lightning/bundle/inputs.json'), { force: true });
}

export async function scenarioStartup(cfg: BenchConfig): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const haveLightning = lightningAvailable();
  for (const n of [3, 20, 100]) {
    // 100 Lightning works take a minute to start on 2 cores: one repeat.
    const repeats = n >= 100 ? 1 : cfg.repeats;
    const ours = [];
    const theirs = [];
    const cold = [];
    const perProcess = [];
    for (let r = 0; r < repeats; r++) {
      cfg.log(`  start-up: ${n} works, repeat ${r + 1}/${repeats}`);
      ours.push((await runOursIdle(n, 0)).startupSec);
      if (n === 20) {
        dropBundleCache();
        cold.push((await runOursIdle(n, 0)).startupSec);
        perProcess.push((await runOursIdle(n, 0, { worksPerProcess: 1 })).startupSec);
      }
      if (haveLightning) theirs.push((await runLightningIdle(n, 0)).startupSec);
    }
    const mine = median(ours);
    const lightning = theirs.length ? median(theirs) : Number.NaN;
    const t = STARTUP_TARGETS[n]!;
    const met = mine <= t.sec && (t.vsLightning === undefined || lightning / mine >= t.vsLightning);
    rows.push({
      scenario: `4 start-up until every work runs, ${n} works vs Lightning 2.3.2`,
      ours: mine,
      baseline: lightning,
      oursSpread: spreadOf(ours),
      baselineSpread: spreadOf(theirs),
      unit: 's',
      higherIsBetter: false,
      target: `≤ ${t.sec} s${t.vsLightning ? ` and ≥ ${t.vsLightning}× faster` : ''}`,
      met,
      note: `\`lightning-local run\` launch → flow.run() sees all works running (daemon bundle reused); Lightning: \`lightning_app run app\` → same${repeats === 1 ? '; one repeat' : ''}`,
    });
    if (cold.length) {
      rows.push({
        scenario: `4 start-up, ${n} works, daemon bundle rebuilt (first run after an edit) vs Lightning 2.3.2`,
        ours: median(cold),
        baseline: lightning,
        unit: 's',
        higherIsBetter: false,
        note: 'as above with .lightning/bundle stale, so esbuild bundles app + runtime first',
      });
    }
    if (perProcess.length) {
      rows.push({
        scenario: `4 start-up, ${n} works: daemon hosts vs a process per work (the layout before ADR 0022)`,
        ours: mine,
        baseline: median(perProcess),
        unit: 's',
        higherIsBetter: false,
        note: 'baseline: `run --works-per-process 1`, same run',
      });
    }
  }
  return rows;
}

// ---- Scenario 8: scaling ----

/**
 * How our costs grow with the number of works (issue 12): start-up, memory and idle CPU at
 * 1 → 10 → 100 → 300 works, one launch each. No baseline: the growth is the figure.
 */
export async function scenarioScaling(cfg: BenchConfig): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const windowSec = cfg.quick ? 3 : 5;
  for (const n of cfg.quick ? [1, 10, 100] : [1, 10, 100, 300]) {
    cfg.log(`  scaling: ${n} works`);
    const r = await runOursIdle(n, windowSec);
    const row = (what: string, ours: number, unit: string, note?: string): BenchRow => ({
      scenario: `8 scaling, ${n} work${n > 1 ? 's' : ''}: ${what}`,
      ours,
      baseline: Number.NaN,
      unit,
      higherIsBetter: false,
      ...(note ? { note } : {}),
    });
    rows.push(row('start-up until every work runs', r.startupSec, 's'));
    rows.push(row('flow RSS', r.flowRssMiB, 'MiB'));
    rows.push(
      row(
        'daemon RSS per work',
        r.daemonsRssMiB / n,
        'MiB',
        `${fmt(r.daemonProcesses, 0)} daemon processes, ${fmt(r.daemonsRssMiB, 0)} MiB together`,
      ),
    );
    rows.push(
      row(
        `idle CPU, flow + daemons (${windowSec} s window)`,
        r.flowCpuPercentOfCore + r.daemonsCpuPercentOfCore,
        '% of a core',
        `flow ${fmt(r.flowCpuPercentOfCore, 2)} %, daemons ${fmt(r.daemonsCpuPercentOfCore, 2)} %`,
      ),
    );
  }
  return rows;
}

// ---- Scenario 5: synthesis ----

export async function scenarioSynth(cfg: BenchConfig): Promise<BenchRow[]> {
  if (!existsSync(join(ROOT, 'constructs/cloud/synth.ts'))) {
    return [
      {
        scenario: '5 synthesis',
        ours: Number.NaN,
        baseline: Number.NaN,
        unit: 's',
        higherIsBetter: false,
        note: 'not available yet',
      },
    ];
  }
  const rows: BenchRow[] = [];
  for (const n of [1, 10, 50]) {
    const wall: number[] = [];
    const rss: number[] = [];
    for (let r = 0; r < cfg.repeats; r++) {
      cfg.log(`  synth: ${n} works, repeat ${r + 1}/${cfg.repeats}`);
      const { stdout } = await exec(
        process.execPath,
        ['--import', 'tsx', join(ROOT, 'bench/synth/synth-once.ts')],
        {
          cwd: ROOT,
          env: { ...process.env, BENCH_WORKS: String(n) },
        },
      );
      const result = JSON.parse(stdout.trim().split('\n').pop()!) as { wallMs: number; peakRssMiB: number };
      wall.push(result.wallMs / 1000);
      rss.push(result.peakRssMiB);
    }
    rows.push({
      scenario: `5 synthesis time, ${n} work${n > 1 ? 's' : ''} (fresh process)`,
      ours: median(wall),
      baseline: Number.NaN,
      oursSpread: spreadOf(wall),
      unit: 's',
      higherIsBetter: false,
      ...(n === 50 ? { target: '< 5 s', met: median(wall) < 5 } : {}),
      note: `peak RSS ${fmt(median(rss), 0)} MiB; no baseline (Lightning had no synthesis)`,
    });
  }
  return rows;
}

// ---- Scenario 6: Drive and Paths ----

export async function scenarioDrive(cfg: BenchConfig): Promise<BenchRow[]> {
  if (!existsSync(join(ROOT, 'bench/drive.bench.ts'))) {
    return [
      {
        scenario: '6 Drive',
        ours: Number.NaN,
        baseline: Number.NaN,
        unit: '',
        higherIsBetter: true,
        note: 'not available yet',
      },
    ];
  }
  const mod = (await import('./drive.bench.ts')) as {
    benchDrive(opts: { quick?: boolean; repeats?: number }): Promise<BenchRow[]>;
  };
  cfg.log('  Drive: bench/drive.bench.ts');
  return (await mod.benchDrive({ quick: cfg.quick, repeats: cfg.repeats })).map((row) => {
    const local = /^local (put|get)\b/.test(row.scenario);
    return {
      ...row,
      scenario: `6 ${row.scenario}`,
      ...(local ? { target: '≥ 0.9× cp', met: gain(row) >= 0.9 } : {}),
    };
  });
}
