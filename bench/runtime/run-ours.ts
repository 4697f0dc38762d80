/**
 * Runs our runtime the way a user does: `lightning-local run bench/apps/counter-app.ts` in its
 * own process (the flow: event loop + gRPC server), which starts the works' daemon processes.
 * The app logs when each change was made and when the Flow observed it; this module turns
 * the logs into the same figures as the baselines.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawnGroup, waitForFile } from '../lib/child.ts';
import { childPids, cpuSeconds, memoryMiB, sampleCpu } from '../lib/proc.ts';
import { joinStreams, type Observation, type StreamRunResult } from '../lib/stats.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const CLI = join(ROOT, 'cli/bin.js');
/** The stream benchmark apps (bench/apps/stream-app.ts). */
export const STREAM_APPS = {
  counter: join(ROOT, 'bench/apps/counter-app.ts'),
  distinct: join(ROOT, 'bench/apps/distinct-paths-app.ts'),
} as const;
export type StreamAppName = keyof typeof STREAM_APPS;

/** One measuring phase of the counter app (see bench/apps/counter-app.ts). */
export interface OursPhase {
  readonly mode: 'tight' | 'paced';
  /** K changes per tick (tight) or R changes/s per work (paced). */
  readonly param: number;
  readonly seconds: number;
}

/** How the works' daemons are laid out (ADR 0022): `run --works-per-process`. @default 50 */
export interface OursLayout {
  readonly worksPerProcess?: number;
}

/** Which stream app runs and how its daemons are laid out. */
export interface OursRunOptions {
  /** @default 'counter' */
  readonly app?: StreamAppName;
  readonly layout?: OursLayout;
}

function launch(env: Record<string, string>, options: OursRunOptions = {}) {
  const { app = 'counter', layout = {} } = options;
  const extra = layout.worksPerProcess ? ['--works-per-process', String(layout.worksPerProcess)] : [];
  return spawnGroup(process.execPath, [CLI, 'run', STREAM_APPS[app], ...extra], {
    cwd: ROOT,
    env: { ...process.env, ...env, FORCE_COLOR: '0' },
  });
}

function readFloat64(file: string): Float64Array {
  if (!existsSync(file)) return new Float64Array(0);
  const buf = readFileSync(file);
  return new Float64Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
}

/** One launch of the stream app with N works running `phases` in order; one result per phase. */
export async function runOursStream(
  works: number,
  phases: readonly OursPhase[],
  options: OursRunOptions = {},
): Promise<StreamRunResult[]> {
  const out = mkdtempSync(join(tmpdir(), 'bench-ours-'));
  try {
    const proc = launch(
      {
        BENCH_OUT: out,
        BENCH_WORKS: String(works),
        BENCH_PHASES: phases.map((p) => `${p.mode}:${p.param}:${p.seconds}`).join(','),
      },
      options,
    );
    const seconds = phases.reduce((sum, p) => sum + p.seconds, 0);
    const deadline = setTimeout(() => void proc.kill(), (seconds * 10 + 90 + works) * 1000);
    const code = await proc.exited;
    clearTimeout(deadline);
    if (code !== 0)
      throw new Error(`lightning-local run exited with ${code}:\n${proc.output().slice(-3000)}`);
    return phases.map((_, p) => {
      const produced: Float64Array[] = [];
      const observed: Observation[][] = [];
      for (let w = 0; w < works; w++) {
        produced.push(readFloat64(join(out, `w${w}-p${p}.bin`)));
        const pairs = readFloat64(join(out, `flow-w${w}-p${p}.bin`));
        const obs: Observation[] = new Array(pairs.length >> 1);
        for (let i = 0; i < obs.length; i++) obs[i] = { timeMs: pairs[2 * i]!, count: pairs[2 * i + 1]! };
        observed.push(obs);
      }
      return joinStreams(produced, observed);
    });
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

export interface OursIdleResult {
  /** CPU of the flow process over the window, % of one core (NaN when only start-up was asked). */
  readonly flowCpuPercentOfCore: number;
  readonly flowRssMiB: number;
  /** Seconds from launching `lightning-local run` until the Flow saw every Work running. */
  readonly startupSec: number;
  /** RSS of every daemon process together (the flow's children), MiB; NaN with no window. */
  readonly daemonsRssMiB: number;
  /** How many daemon processes served the works. */
  readonly daemonProcesses: number;
  /** CPU of the daemon processes together over the window, % of one core. */
  readonly daemonsCpuPercentOfCore: number;
}

/** N works that run and wait; samples the flow process over `windowSec` (0: start-up only). */
export async function runOursIdle(
  works: number,
  windowSec: number,
  layout: OursLayout = {},
): Promise<OursIdleResult> {
  const out = mkdtempSync(join(tmpdir(), 'bench-ours-idle-'));
  const started = performance.timeOrigin + performance.now();
  const proc = launch({ BENCH_OUT: out, BENCH_WORKS: String(works), BENCH_PHASES: 'idle' }, { layout });
  try {
    const ready = await waitForFile(join(out, 'ready.json'), 60_000 + works * 1000, proc.exited);
    if (!ready)
      throw new Error(`our idle app never saw all ${works} works running:\n${proc.output().slice(-3000)}`);
    const { time, pid } = JSON.parse(readFileSync(join(out, 'ready.json'), 'utf8')) as {
      time: number;
      pid: number;
    };
    let cpu = Number.NaN;
    let rss = Number.NaN;
    let daemonsRss = Number.NaN;
    let daemonsCpu = Number.NaN;
    // The flow's children that serve works (tsx and esbuild have service processes too).
    const daemons = childPids(pid).filter((p) => isDaemon(p));
    if (windowSec > 0) {
      // Let start-up work settle (the last daemons' snapshots, journal writes, start-up garbage
      // collected): longer for many works, so the window measures idling, not start-up.
      await new Promise((r) => setTimeout(r, Math.max(2000, works * 100)));
      const before = sumCpu(daemons);
      const t0 = performance.now();
      const sample = await sampleCpu(pid, windowSec);
      daemonsCpu = ((sumCpu(daemons) - before) / ((performance.now() - t0) / 1000)) * 100;
      cpu = sample.cpuPercentOfCore;
      rss = sample.rssMiB;
      daemonsRss = daemons.reduce((sum, p) => sum + safe(() => memoryMiB(p).rssMiB), 0);
    }
    return {
      flowCpuPercentOfCore: cpu,
      flowRssMiB: rss,
      startupSec: (time - started) / 1000,
      daemonsRssMiB: daemonsRss,
      daemonProcesses: daemons.length,
      daemonsCpuPercentOfCore: daemonsCpu,
    };
  } finally {
    await proc.kill(15_000);
    rmSync(out, { recursive: true, force: true });
  }
}

function isDaemon(pid: number): boolean {
  try {
    return /\bdaemon(-host)?\b/.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' '));
  } catch {
    return false;
  }
}

function safe(f: () => number): number {
  try {
    return f();
  } catch {
    return 0; // the process ended meanwhile
  }
}

function sumCpu(pids: readonly number[]): number {
  return pids.reduce((sum, p) => sum + safe(() => cpuSeconds(p)), 0);
}

/**
 * For debugging: `tsx bench/runtime/run-ours.ts 10 paced:100:3,tight:100:2 [worksPerProcess]` or
 * `... 10 idle 5 [worksPerProcess]`
 */
if (process.argv[1] === import.meta.filename) {
  const works = Number(process.argv[2] ?? 1);
  const spec = process.argv[3] ?? 'tight:100:2';
  const result =
    spec === 'idle'
      ? await runOursIdle(works, Number(process.argv[4] ?? 5), {
          ...(process.argv[5] ? { worksPerProcess: Number(process.argv[5]) } : {}),
        })
      : await runOursStream(
          works,
          spec.split(',').map((x) => {
            const [mode, param, seconds] = x.split(':');
            return { mode: mode as 'tight' | 'paced', param: Number(param), seconds: Number(seconds) };
          }),
          process.argv[4] ? { layout: { worksPerProcess: Number(process.argv[4]) } } : {},
        );
  console.log(JSON.stringify(result, null, 2));
}
