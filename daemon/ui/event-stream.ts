/**
 * What the UI streams: the loop's events fanned out to Server-Sent-Events clients, plus the
 * memory a page needs when it (re)connects: recent log lines per work (bounded rings) and
 * the history of every numeric state value (for charts).
 *
 * Event-driven, never polling: status, log and notice events go out as the loop reports them.
 * State snapshots are coalesced: the first change after a quiet period is sent at once, later
 * ones at most every `minStateIntervalMs` (one snapshot shared by all clients), so a script
 * that reports state 1000 times a second costs each client ~10 snapshots a second.
 */
import type { ServerResponse } from 'node:http';
import type { JsonValue } from '../../constructs/json.ts';
import type { ResolvedLayout } from '../../constructs/layout.ts';
import { isTerminal, type WorkPhase, type WorkStatus } from '../../constructs/work-status.ts';
import type { CallStart, EventLoop, LogStream, LoopObserver } from '../flow/event-loop.ts';

export interface LogEntry {
  /** Unix ms when the flow received it. */
  readonly t: number;
  readonly stream: LogStream;
  readonly line: string;
}

/**
 * One chart point: Unix ms, the value, the component's step/epoch at that moment (null when
 * its state has none: charts then plot by wall clock), and the run it belongs to (0 for a
 * flow, or a work before its first call).
 */
export type Point = [t: number, value: number, x: number | null, run: number];

/** Chart series by `<component>:<path>` (e.g. `root.train:/train_loss`). */
export type History = Record<string, Point[]>;

/** One call (attempt) of a work, as the run history shows it. */
export interface RunRecord {
  readonly work: string;
  /** 1, 2, … per work: each call, and each retry of a call, is a run of its own. */
  readonly run: number;
  readonly callHash: string;
  readonly attempt: number;
  /** The arguments of the call (what the flow passed to `work.run()`, from the loop's onCall). */
  readonly args: JsonValue | null;
  /** Unix ms: when the call was dispatched, when the script started, when it ended. */
  readonly dispatchedAt: number;
  startedAt: number | null;
  endedAt: number | null;
  phase: WorkPhase;
  exitCode: number | null;
  reason: string | null;
  message: string | null;
  /** The last value of each top-level number in the work's state during this run. */
  readonly metrics: Record<string, number>;
}

export interface EventStreamProps {
  readonly loop: EventLoop;
  /** Lines kept per work for `/api/logs` and for pages that connect late. @default 2000 */
  readonly logLinesPerWork?: number;
  /** Least time between two state snapshots sent to clients. @default 100 ms (≤ 10/s) */
  readonly minStateIntervalMs?: number;
  /** Points kept per numeric series; older points are thinned out, not dropped. @default 2000 */
  readonly pointsPerSeries?: number;
  /** The app's tab layout (constructs/layout.ts), sent to each page. @default the default tabs */
  readonly layout?: ResolvedLayout | null;
}

/** Longest log line kept (a script printing a 10 MB line must not fill every browser). */
const MAX_LINE_CHARS = 8192;
/** Numeric series recorded per component (keys past this are not charted). */
const MAX_SERIES_PER_COMPONENT = 64;
/** A client whose socket buffers more than this is too slow: it is dropped and reconnects. */
const MAX_CLIENT_BUFFER_BYTES = 8 * 1024 * 1024;
/** Comment lines keep idle connections (IAP tunnels, proxies) from being closed. */
const KEEPALIVE_MS = 20_000;
/** Lines of each work sent to a page when it connects. */
const HELLO_LOG_LINES = 500;
/** Runs kept per work for the run history. */
const RUNS_PER_WORK = 200;
/**
 * State keys that count training progress: the first one a component's state has becomes
 * the x axis of its charts (TensorBoard's step), and is not charted itself.
 */
export const PROGRESS_KEYS = ['step', 'global_step', 'epoch', 'iteration'] as const;
/**
 * Top-level keys that are bookkeeping, not metrics: `transfer` is the Drive's transfer
 * progress (bytes, rate, ETA) that a work reports while it copies files.
 */
const NOT_CHARTED = new Set(['transfer']);

class LogRing {
  private entries: LogEntry[] = [];
  constructor(private readonly capacity: number) {}

  push(entry: LogEntry): void {
    this.entries.push(entry);
    // Trim in chunks so pushing stays O(1) amortized.
    if (this.entries.length > this.capacity * 1.25) this.entries = this.entries.slice(-this.capacity);
  }

  tail(n: number): LogEntry[] {
    const all = this.entries.length > this.capacity ? this.entries.slice(-this.capacity) : this.entries;
    return n >= all.length ? [...all] : all.slice(-n);
  }
}

export class EventStream implements LoopObserver {
  private readonly loop: EventLoop;
  private readonly logCapacity: number;
  private readonly minStateIntervalMs: number;
  private readonly pointsPerSeries: number;
  private readonly layout: ResolvedLayout | null;
  private readonly logs = new Map<string, LogRing>();
  private readonly history = new Map<string, Point[]>();
  /** The progress key of each component whose state has one (see PROGRESS_KEYS). */
  private readonly progressKeys = new Map<string, string>();
  private readonly runs = new Map<string, RunRecord[]>();
  /** Each work's latest dispatched call, with its arguments (from onCall). */
  private readonly lastCall = new Map<string, CallStart>();
  /** Works whose next status starts a run: a call was dispatched (a re-run has the same hash). */
  private readonly callStarted = new Set<string>();
  private ended: { exitCode: number; message: string } | null = null;
  private readonly notices: { t: number; message: string }[] = [];
  private readonly clients = new Set<ServerResponse>();
  private stateTimer: NodeJS.Timeout | null = null;
  private lastStateAt = 0;
  private keepalive: NodeJS.Timeout | null = null;
  private readonly unsubscribe: () => void;

  constructor(props: EventStreamProps) {
    this.loop = props.loop;
    this.logCapacity = props.logLinesPerWork ?? 2000;
    this.minStateIntervalMs = props.minStateIntervalMs ?? 100;
    this.pointsPerSeries = props.pointsPerSeries ?? 2000;
    this.layout = props.layout ?? null;
    for (const w of this.loop.workNames()) this.logs.set(w, new LogRing(this.logCapacity));
    this.unsubscribe = this.loop.addObserver(this);
    // Calls restored by --resume are the first runs of their works (no event announces them).
    for (const work of this.loop.workNames()) {
      const status = this.loop.statusOf(work);
      if (status?.callHash) this.trackRun(work, status);
    }
    this.record(this.loop.snapshot(), Date.now());
    // Pages learn that the app ended (and why) instead of reconnecting to nothing forever.
    void this.loop.done.then((end) => {
      // The last state first (a coalesced snapshot may still be waiting): the page keeps it.
      if (this.stateTimer) {
        clearTimeout(this.stateTimer);
        this.stateTimer = null;
        this.sendState();
      }
      this.ended = { exitCode: end.exitCode, message: end.message };
      this.broadcast('end', { t: Date.now(), ...this.ended });
    });
  }

  // ---- LoopObserver ----

  onCall(work: string, call: CallStart): void {
    this.lastCall.set(work, call);
    this.callStarted.add(work);
  }

  onLog(work: string, stream: LogStream, lines: readonly string[]): void {
    const t = Date.now();
    let ring = this.logs.get(work);
    if (!ring) {
      ring = new LogRing(this.logCapacity);
      this.logs.set(work, ring);
    }
    const clipped = lines.map((l) => (l.length > MAX_LINE_CHARS ? `${l.slice(0, MAX_LINE_CHARS)} …` : l));
    for (const line of clipped) ring.push({ t, stream, line });
    this.broadcast('log', { work, stream, t, lines: clipped });
  }

  onStatus(work: string, status: WorkStatus, previous: WorkPhase): void {
    const run = this.trackRun(work, status);
    this.broadcast('status', { work, previous, status });
    if (run) this.broadcast('run', run);
  }

  onNotice(message: string): void {
    const entry = { t: Date.now(), message };
    this.notices.push(entry);
    if (this.notices.length > 100) this.notices.shift();
    this.broadcast('notice', entry);
  }

  onStateChanged(): void {
    if (this.stateTimer) return;
    const wait = Math.max(0, this.lastStateAt + this.minStateIntervalMs - Date.now());
    this.stateTimer = setTimeout(() => {
      this.stateTimer = null;
      this.sendState();
    }, wait);
  }

  // ---- queries ----

  logTail(work: string, n: number): LogEntry[] | undefined {
    return this.logs.get(work)?.tail(n);
  }

  historySnapshot(): History {
    return Object.fromEntries([...this.history].map(([k, v]) => [k, [...v]]));
  }

  /** Every work's runs, oldest first. */
  runHistory(): RunRecord[] {
    return [...this.runs.values()].flat().sort((a, b) => a.dispatchedAt - b.dispatchedAt);
  }

  /** The progress key (x axis) of each component that has one: `{"root.train": "step"}`. */
  progressAxes(): Record<string, string> {
    return Object.fromEntries(this.progressKeys);
  }

  get clientCount(): number {
    return this.clients.size;
  }

  // ---- clients ----

  /** Turns `res` into an SSE stream: a `hello` with everything a fresh page needs, then live events. */
  addClient(res: ServerResponse): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no',
    });
    res.socket?.setNoDelay(true);
    this.clients.add(res);
    res.on('close', () => {
      this.clients.delete(res);
      if (this.clients.size === 0 && this.keepalive) {
        clearInterval(this.keepalive);
        this.keepalive = null;
      }
    });
    this.keepalive ??= setInterval(() => {
      for (const c of this.clients) c.write(': keepalive\n\n');
    }, KEEPALIVE_MS);
    const logs: Record<string, LogEntry[]> = {};
    for (const [w, ring] of this.logs) logs[w] = ring.tail(HELLO_LOG_LINES);
    this.write(res, 'hello', {
      app: this.loop.app.name,
      t: Date.now(),
      layout: this.layout,
      state: this.loop.snapshot(),
      history: this.historySnapshot(),
      axes: this.progressAxes(),
      runs: this.runHistory(),
      logs,
      notices: this.notices,
      ended: this.ended,
    });
  }

  close(): void {
    this.unsubscribe();
    if (this.stateTimer) clearTimeout(this.stateTimer);
    if (this.keepalive) clearInterval(this.keepalive);
    for (const c of this.clients) c.end();
    this.clients.clear();
  }

  private sendState(): void {
    this.lastStateAt = Date.now();
    const state = this.loop.snapshot();
    const points = this.record(state, this.lastStateAt);
    this.broadcast('state', { t: this.lastStateAt, state, points, axes: this.progressAxes() });
  }

  /** Starts a run when a work's status names a call (or attempt) not seen yet; updates it otherwise. */
  private trackRun(work: string, status: WorkStatus): RunRecord | null {
    if (status.callHash === null) return null;
    let runs = this.runs.get(work);
    if (!runs) {
      runs = [];
      this.runs.set(work, runs);
    }
    let run = runs[runs.length - 1];
    const started = this.callStarted.delete(work);
    if (!run || started || run.callHash !== status.callHash || run.attempt !== status.attempt) {
      if (run && !isTerminal(run.phase)) run.phase = 'stopped';
      // A call restored by --resume was dispatched before this observer existed: ask the loop.
      const seen = this.lastCall.get(work);
      const call = seen?.callHash === status.callHash ? seen : this.loop.callOf(work);
      const args = call?.callHash === status.callHash ? call.args : undefined;
      run = {
        work,
        run: (run?.run ?? 0) + 1,
        callHash: status.callHash,
        attempt: status.attempt,
        args: args ?? null,
        dispatchedAt: status.updatedAt,
        startedAt: null,
        endedAt: null,
        phase: status.phase,
        exitCode: null,
        reason: null,
        message: null,
        metrics: {},
      };
      runs.push(run);
      if (runs.length > RUNS_PER_WORK) runs.shift();
    }
    // A failed attempt that will be retried is over: its retry is the next run.
    run.phase = status.reason === 'retry_scheduled' ? 'failed' : status.phase;
    if (status.phase === 'running') run.startedAt ??= status.startedAt ?? status.updatedAt;
    if (isTerminal(run.phase)) run.endedAt = status.endedAt ?? status.updatedAt;
    run.exitCode = status.exitCode;
    run.reason = status.reason;
    run.message = status.message;
    return run;
  }

  /** Appends every numeric value that changed to its series; returns the new points. */
  private record(state: Record<string, { vars: JsonValue }>, t: number): Record<string, Point> {
    const points: Record<string, Point> = {};
    for (const [component, { vars }] of Object.entries(state)) {
      const top = vars && typeof vars === 'object' && !Array.isArray(vars) ? vars : {};
      let xKey = this.progressKeys.get(component);
      if (xKey === undefined) {
        xKey = PROGRESS_KEYS.find((k) => typeof top[k] === 'number');
        if (xKey) this.progressKeys.set(component, xKey);
      }
      const xValue = xKey ? top[xKey] : undefined;
      const x = typeof xValue === 'number' ? xValue : null;
      const runs = this.runs.get(component);
      const current = runs?.[runs.length - 1];
      const runNo = current?.run ?? 0;
      let count = 0;
      const visit = (value: JsonValue, path: string, depth: number) => {
        if (count >= MAX_SERIES_PER_COMPONENT) return;
        if (typeof value === 'number') {
          count++;
          const key = `${component}:${path}`;
          let series = this.history.get(key);
          if (!series) {
            series = [];
            this.history.set(key, series);
          }
          const last = series[series.length - 1];
          // Only changes are points: a value a new run has not reported yet (still the last
          // run's) does not belong to the new run.
          if (last && last[1] === value) return;
          const point: Point = [t, value, x, runNo];
          series.push(point);
          points[key] = point;
          if (depth === 1 && current) current.metrics[path.slice(1)] = value;
          if (series.length > this.pointsPerSeries) thin(series);
        } else if (value && typeof value === 'object' && !Array.isArray(value) && depth < 4) {
          for (const k of Object.keys(value)) {
            if (depth === 0 && NOT_CHARTED.has(k)) continue;
            visit(value[k] as JsonValue, `${path}/${k}`, depth + 1);
          }
        }
      };
      visit(vars, '', 0);
    }
    return points;
  }

  private broadcast(event: string, data: unknown): void {
    if (this.clients.size === 0) return;
    const frame = sseFrame(event, data);
    for (const c of this.clients) {
      if (c.writableLength > MAX_CLIENT_BUFFER_BYTES) {
        // Too slow to keep up: drop it; EventSource reconnects and gets a fresh hello.
        c.destroy();
        continue;
      }
      c.write(frame);
    }
  }

  private write(res: ServerResponse, event: string, data: unknown): void {
    res.write(sseFrame(event, data));
  }
}

function sseFrame(event: string, data: unknown): string {
  // JSON has no raw newlines, so one `data:` line carries the whole payload.
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** Halves a series, keeping the first and last points, so long runs keep their whole shape. */
function thin(series: Point[]): void {
  const last = series[series.length - 1]!;
  let j = 0;
  for (let i = 0; i < series.length - 1; i += 2) series[j++] = series[i]!;
  series[j++] = last;
  series.length = j;
}
