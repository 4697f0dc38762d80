/**
 * Runs the Lightning Apps baseline (bench/lightning/app.py on lightning-app 2.3.2 from the
 * venv made by scripts/setup-bench.sh) and turns its logs into the same figures as ours.
 * Environment per /work/shared/reference/lightning-baseline.md §4: LIGHTING_TESTING=1 (sic)
 * skips the PyPI version check, stdin is closed so no upgrade prompt can block, no server.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawnGroup, waitForFile } from '../lib/child.ts';
import { sampleCpu } from '../lib/proc.ts';
import { joinStreams, type Observation, type StreamRunResult } from '../lib/stats.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const VENV = join(ROOT, '.bench/lightning-venv');
const APP = join(ROOT, 'bench/lightning/app.py');

export function lightningAvailable(): boolean {
  return existsSync(join(VENV, 'bin/lightning_app')) && existsSync(join(VENV, '.installed'));
}

export interface LightningStreamOptions {
  readonly works: number;
  readonly mode: 'tight' | 'paced';
  /** Producing window. */
  readonly seconds: number;
  /** Changes/s per work in paced mode. */
  readonly ratePerWork?: number;
}

export interface LightningStreamResult extends StreamRunResult {
  /** Median time between flow passes. */
  readonly passIntervalMs: number;
  /** Whether the flow applied every change before the grace period ran out. */
  readonly drained: boolean;
}

function launch(env: Record<string, string>, out: string) {
  const vars: NodeJS.ProcessEnv = {
    ...process.env,
    ...env,
    BENCH_OUT: out,
    LIGHTING_TESTING: '1',
    NO_PROXY: '127.0.0.1,localhost',
    PYTHONUNBUFFERED: '1',
  };
  delete vars.LIGHTNING_APP_STATE_URL;
  delete vars.LIGHTNING_DEBUG;
  // 6 queues (pipes) per work plus 5 for the app, inherited by every fork: raise the fd limit.
  return spawnGroup(
    'bash',
    [
      '-c',
      'ulimit -n 8192 2>/dev/null || true; exec "$0" run app "$1" --open-ui false --without-server',
      join(VENV, 'bin/lightning_app'),
      APP,
    ],
    { cwd: out, env: vars },
  );
}

function readJson<T>(file: string): T {
  return JSON.parse(readFileSync(file, 'utf8')) as T;
}

/** One run of N works streaming counter changes; the app stops itself when drained. */
export async function runLightningStream(opts: LightningStreamOptions): Promise<LightningStreamResult> {
  const out = mkdtempSync(join(tmpdir(), 'bench-lightning-'));
  try {
    const grace = 20;
    const proc = launch(
      {
        BENCH_WORKS: String(opts.works),
        BENCH_MODE: opts.mode,
        BENCH_SECONDS: String(opts.seconds),
        BENCH_RATE: String(opts.ratePerWork ?? 20),
        BENCH_START_DELAY: String(2 + opts.works * 0.05),
        BENCH_GRACE: String(grace),
      },
      out,
    );
    const deadline = setTimeout(() => void proc.kill(), (opts.seconds + grace + 60 + opts.works) * 1000);
    const code = await proc.exited;
    clearTimeout(deadline);
    await proc.kill(500); // leftover work processes, if any
    const flowFile = join(out, 'flow.json');
    if (!existsSync(flowFile)) {
      throw new Error(
        `Lightning app exited (${code}) without writing flow.json. Output:\n${proc.output().slice(-3000)}`,
      );
    }
    const flow = readJson<{ t0: number; passes: [number, number[]][]; drained: boolean }>(flowFile);
    const produced: Float64Array[] = [];
    const observed: Observation[][] = [];
    for (let w = 0; w < opts.works; w++) {
      const file = join(out, `w${w}.json`);
      const made = existsSync(file) ? readJson<{ produced: number[] }>(file).produced : [];
      produced.push(Float64Array.from(made, (s) => s * 1000));
      observed.push(flow.passes.map(([t, counts]) => ({ timeMs: t * 1000, count: counts[w] ?? 0 })));
    }
    const intervals: number[] = [];
    for (let i = 1; i < flow.passes.length; i++)
      intervals.push((flow.passes[i]![0] - flow.passes[i - 1]![0]) * 1000);
    intervals.sort((a, b) => a - b);
    return {
      ...joinStreams(produced, observed),
      passIntervalMs: intervals[intervals.length >> 1] ?? Number.NaN,
      drained: flow.drained,
    };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

export interface LightningIdleResult {
  /** CPU of the flow process (the CLI process that runs the loop) over the window. */
  readonly flowCpuPercentOfCore: number;
  readonly flowRssMiB: number;
  /** Seconds from launch until the flow saw every work running. */
  readonly startupSec: number;
}

/** N works that run and sleep; samples the flow process's CPU over `windowSec`. */
export async function runLightningIdle(works: number, windowSec: number): Promise<LightningIdleResult> {
  const out = mkdtempSync(join(tmpdir(), 'bench-lightning-idle-'));
  const started = Date.now();
  const proc = launch({ BENCH_WORKS: String(works), BENCH_MODE: 'idle', BENCH_START_DELAY: '0' }, out);
  try {
    const ready = await waitForFile(join(out, 'ready.json'), 60_000 + works * 1000, proc.exited);
    if (!ready)
      throw new Error(
        `Lightning idle app never saw all ${works} works running:\n${proc.output().slice(-3000)}`,
      );
    const { time, pid } = readJson<{ time: number; pid: number }>(join(out, 'ready.json'));
    await new Promise((r) => setTimeout(r, 2000)); // let start-up work settle
    const sample = await sampleCpu(pid, windowSec);
    return {
      flowCpuPercentOfCore: sample.cpuPercentOfCore,
      flowRssMiB: sample.rssMiB,
      startupSec: time - started / 1000,
    };
  } finally {
    await proc.kill();
    rmSync(out, { recursive: true, force: true });
  }
}

/** For debugging: `tsx bench/lightning/run-lightning.ts 8 tight 5` */
if (process.argv[1] === import.meta.filename) {
  const works = Number(process.argv[2] ?? 1);
  const mode = process.argv[3] ?? 'tight';
  const seconds = Number(process.argv[4] ?? 5);
  const result =
    mode === 'idle'
      ? await runLightningIdle(works, seconds)
      : await runLightningStream({ works, mode: mode as 'tight' | 'paced', seconds });
  console.log(JSON.stringify(result, null, 2));
}
