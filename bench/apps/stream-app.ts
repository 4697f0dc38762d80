/**
 * The stream benchmark apps, written as a user would: N TypeScript Works that make numbered
 * changes to their state and a Flow that watches them. What a change writes is the app's
 * `StreamModel`: bench/apps/counter-app.ts (`count++`, one path, so the daemon sends only the
 * newest of consecutive writes) and bench/apps/distinct-paths-app.ts (each change a
 * different path than the one before, so nothing coalesces). Run with
 * `lightning-local run bench/apps/<app>.ts` (bench/runtime/run-ours.ts does it), configured
 * through the environment:
 *
 *   BENCH_OUT      directory for the logs (required)
 *   BENCH_WORKS    N (default 1)
 *   BENCH_PHASES   comma-separated measuring phases, run one after the other, each
 *                  `mode:param:seconds`: `tight:K:s` counts K times then yields a tick
 *                  (setImmediate), as fast as it can; `paced:R:s` counts R times a second per
 *                  work; or the single word `idle`: the works run and wait (idle cost, start-up)
 *
 * Measurement: in phase p each Work logs when it made each change (w<i>-p<p>.bin: float64
 * wall ms); the Flow logs, in run(), each count it observes (flow-w<i>-p<p>.bin: float64
 * pairs [wall ms, count since the phase began]). bench/lib/stats.ts joins them. In idle mode
 * the Flow writes ready.json once it sees every Work running. Nothing but the model's fields
 * is in state, so the app measures the runtime.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Construct } from 'constructs';
import { Flow, type JsonObject, LightningApp, Work, type WorkContext } from 'lightning-local';
import { TimeLog, wallMs } from '../lib/stats.ts';

const OUT = process.env.BENCH_OUT ?? '';
const N = Number(process.env.BENCH_WORKS ?? 1);
const PHASES_SPEC = process.env.BENCH_PHASES ?? 'tight:100:2';
const IDLE = PHASES_SPEC === 'idle';

interface Phase {
  readonly mode: 'tight' | 'paced';
  /** K (changes per tick) when tight, R (changes/s per work) when paced. */
  readonly param: number;
  readonly seconds: number;
}

const PHASES: Phase[] = IDLE
  ? []
  : PHASES_SPEC.split(',').map((spec) => {
      const [mode, param, seconds] = spec.split(':');
      if ((mode !== 'tight' && mode !== 'paced') || !(Number(param) > 0) || !(Number(seconds) > 0)) {
        throw new Error(`BENCH_PHASES: "${spec}" is not tight:K:seconds or paced:R:seconds`);
      }
      return { mode, param: Number(param), seconds: Number(seconds) };
    });
/**
 * Paced works wake on a coarse timer: a 1 ms timer per work would load the CPU by itself.
 * A work making R changes/s wakes R times a second (at most every 5 ms, at least every 100 ms),
 * as a real script reporting progress would.
 */
const paceIntervalMs = (rate: number) => Math.max(5, Math.min(100, 1000 / rate));

interface CounterArgs {
  readonly phase: 'warmup' | 'measure' | 'idle';
  /** Index into PHASES when measuring. */
  readonly index: number;
  readonly t0: number;
}

function writeLog(file: string, values: Float64Array): void {
  writeFileSync(join(OUT, file), Buffer.from(values.buffer, values.byteOffset, values.byteLength));
}

const nextTick = () => new Promise<void>((r) => setImmediate(r));
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** What each change writes, and how the Flow reads how far the changes got. */
export interface StreamModel<S extends JsonObject> {
  /** The app's name. */
  readonly name: string;
  /** A Work's state before any change (`done` is added). */
  initial(): S;
  /** Makes change number `i` (1, 2, ... across every phase of the launch). */
  change(state: S, i: number): void;
  /** The number of the newest change visible in `state` (deltas arrive in order). */
  count(state: Readonly<S>): number;
}

type WithDone<S> = S & { done: number };

class Counter<S extends JsonObject> extends Work<WithDone<S>, CounterArgs> {
  /** Changes made by this Work so far, over all phases. */
  private made = 0;
  constructor(
    scope: Construct,
    id: string,
    private readonly model: StreamModel<S>,
  ) {
    super(scope, id, { state: { ...model.initial(), done: 0 }, parallel: true });
  }

  override async execute(args: CounterArgs, ctx: WorkContext): Promise<void> {
    if (args.phase === 'warmup') return;
    if (args.phase === 'idle') {
      await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
      return;
    }
    const phase = PHASES[args.index]!;
    while (wallMs() < args.t0) await sleep(Math.max(0, Math.min(5, args.t0 - wallMs())));
    const log = new TimeLog();
    const end = args.t0 + phase.seconds * 1000;
    const state = this.state as S;
    const model = this.model;
    let made = 0;
    while (wallMs() < end) {
      const n =
        phase.mode === 'tight' ? phase.param : Math.floor(((wallMs() - args.t0) * phase.param) / 1000) - made;
      for (let i = 0; i < n; i++) {
        log.push(wallMs());
        model.change(state, ++this.made);
      }
      made += Math.max(0, n);
      // The daemon sends the changes of one tick as one StateDelta.
      await (phase.mode === 'tight' ? nextTick() : sleep(paceIntervalMs(phase.param)));
    }
    writeLog(`${this.node.id}-p${args.index}.bin`, log.view());
    this.state.done = args.index + 1;
  }
}

class Root<S extends JsonObject> extends Flow {
  readonly works: Counter<S>[] = [];
  private phase = -1;
  private t0 = 0;
  private seen: TimeLog[] = [];
  private base: number[] = [];
  private readonly last: number[] = [];
  private readyWritten = false;
  private finished = false;

  constructor(
    scope: Construct,
    private readonly model: StreamModel<S>,
  ) {
    super(scope, 'root');
    for (let i = 0; i < N; i++) {
      this.works.push(new Counter(this, `w${i}`, model));
      this.last.push(0);
    }
  }

  override run(): void {
    if (this.finished) return;
    const now = wallMs();
    if (IDLE) {
      for (const w of this.works) w.run({ phase: 'idle', index: 0, t0: 0 });
      if (!this.readyWritten && this.works.every((w) => w.isRunning)) {
        this.readyWritten = true;
        writeFileSync(join(OUT, 'ready.json'), JSON.stringify({ time: now, pid: process.pid }));
      }
      return;
    }
    // Every daemon answers a first call before the clock starts, so start-up is not measured here.
    if (this.phase < 0) {
      for (const w of this.works) w.run({ phase: 'warmup', index: 0, t0: 0 });
      if (!this.works.every((w) => w.hasSucceeded)) return;
      this.startPhase(0, now);
    }
    const p = this.phase;
    for (let i = 0; i < N; i++) {
      const w = this.works[i]!;
      w.run({ phase: 'measure', index: p, t0: this.t0 });
      const count = this.model.count(w.state);
      if (count !== this.last[i]) {
        this.last[i] = count;
        this.seen[i]!.push(now);
        this.seen[i]!.push(count - this.base[i]!);
      }
    }
    // `done` arrives after the phase's last change (deltas are applied in order).
    if (this.works.every((w) => w.state.done > p)) {
      for (let i = 0; i < N; i++) writeLog(`flow-w${i}-p${p}.bin`, this.seen[i]!.view());
      if (p + 1 < PHASES.length) {
        this.startPhase(p + 1, now);
        this.run(); // dispatch the next phase in this pass
      } else {
        this.finished = true;
        this.stopApp('benchmark finished');
      }
    }
  }

  private startPhase(index: number, now: number): void {
    this.phase = index;
    this.t0 = Math.ceil(now + 300);
    this.seen = this.works.map(() => new TimeLog());
    this.base = this.works.map((w) => this.model.count(w.state));
  }
}

/** The app of a stream benchmark whose changes are `model`'s. */
export function streamApp<S extends JsonObject>(model: StreamModel<S>): LightningApp {
  const app = new LightningApp({ name: model.name });
  new Root(app, model);
  return app;
}
