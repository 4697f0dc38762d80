/**
 * Terminal output of `lightning-local run`: each work's log lines with a coloured, aligned
 * prefix (the text coloured by its log level, not by its stream), status transitions,
 * notices; and one log file per work and run under `.lightning/logs/<run>/` (`latest` links
 * to the newest run).
 */
import {
  createWriteStream,
  mkdirSync,
  readdirSync,
  renameSync,
  rmSync,
  symlinkSync,
  type WriteStream,
} from 'node:fs';
import { join } from 'node:path';
import pc from 'picocolors';
import type { WorkPhase, WorkStatus } from '../constructs/work-status.ts';
import type { LogStream, LoopObserver } from '../daemon/flow/event-loop.ts';
import { type LogLevel, LogLevelReader } from './log-level.ts';

const PALETTE = [pc.cyan, pc.magenta, pc.blue, pc.yellow, pc.green, pc.red];

const PHASE_COLOR: Record<WorkPhase, (s: string) => string> = {
  not_started: pc.dim,
  pending: pc.yellow,
  running: pc.cyan,
  succeeded: pc.green,
  failed: pc.red,
  stopped: pc.magenta,
};

const LEVEL_COLOR: Record<LogLevel, (s: string) => string> = {
  error: pc.red,
  warning: pc.yellow,
  info: (s) => s,
};

/** Run directories kept under `.lightning/logs/` (older ones are removed at start). */
const KEPT_RUNS = 20;

export interface LogPrinterOptions {
  /** Hide works' info-level lines in the terminal (warnings, errors, statuses stay; the log files keep everything). @default false */
  readonly quiet?: boolean;
  /** Show only these works, or the works below these flows (`root.train`, `root.trials`). @default every work */
  readonly only?: readonly string[];
  /** Start each terminal line with the local time (HH:MM:SS.mmm). @default false */
  readonly timestamps?: boolean;
  /** Names this run's log directory. @default the start time, e.g. 2026-11-27T14-05-09-123Z */
  readonly runId?: string;
}

export class LogPrinter implements LoopObserver {
  private readonly colors = new Map<string, (s: string) => string>();
  private readonly files = new Map<string, WriteStream>();
  private readonly readers = new Map<string, LogLevelReader>();
  private width = 8;
  /** This run's log directory: `.lightning/logs/<run>/`. */
  readonly logDir: string;
  private readonly logsRoot: string;
  private readonly runId: string;

  constructor(
    appDir: string,
    private readonly out: (text: string) => void = (t) => process.stdout.write(t),
    private readonly options: LogPrinterOptions = {},
  ) {
    this.logsRoot = join(appDir, '.lightning', 'logs');
    this.runId = options.runId ?? new Date().toISOString().replace(/[:.]/g, '-');
    this.logDir = join(this.logsRoot, this.runId);
  }

  register(works: readonly string[]): void {
    for (const w of works) this.colorOf(w);
  }

  /** Whether `work`'s lines and statuses appear in the terminal (`only`). */
  shows(work: string): boolean {
    const only = this.options.only;
    return !only?.length || only.some((o) => work === o || work.startsWith(`${o}.`));
  }

  private colorOf(work: string): (s: string) => string {
    let c = this.colors.get(work);
    if (!c) {
      c = PALETTE[this.colors.size % PALETTE.length]!;
      this.colors.set(work, c);
      if (this.shows(work)) this.width = Math.max(this.width, work.length);
    }
    return c;
  }

  private file(work: string): WriteStream {
    let f = this.files.get(work);
    if (!f) {
      if (this.files.size === 0) this.startRunDir();
      f = createWriteStream(join(this.logDir, `${work}.log`), { flags: 'a' });
      this.files.set(work, f);
    }
    return f;
  }

  /** Creates this run's directory, points `latest` at it and prunes old runs. */
  private startRunDir(): void {
    mkdirSync(this.logDir, { recursive: true });
    const latest = join(this.logsRoot, 'latest');
    const tmp = `${latest}.${process.pid}`;
    try {
      rmSync(tmp, { force: true });
      symlinkSync(this.runId, tmp);
      renameSync(tmp, latest); // atomic replace: `latest` never disappears
    } catch {
      // A filesystem without symlinks: the run directories are still there, newest last.
    }
    const runs = readdirSync(this.logsRoot, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort();
    for (const old of runs.slice(0, Math.max(0, runs.length - KEPT_RUNS))) {
      if (old !== this.runId) rmSync(join(this.logsRoot, old), { recursive: true, force: true });
    }
  }

  private stamp(): string {
    if (!this.options.timestamps) return '';
    const d = new Date();
    const two = (n: number) => String(n).padStart(2, '0');
    return pc.dim(
      `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')} `,
    );
  }

  private prefix(work: string): string {
    return `${this.stamp()}${this.colorOf(work)(work.padEnd(this.width))} ${pc.dim('│')} `;
  }

  private reader(work: string, stream: LogStream): LogLevelReader {
    const key = `${work}\0${stream}`;
    let r = this.readers.get(key);
    if (!r) {
      r = new LogLevelReader();
      this.readers.set(key, r);
    }
    return r;
  }

  onLog(work: string, stream: LogStream, lines: readonly string[]): void {
    const show = this.shows(work);
    const p = show ? this.prefix(work) : '';
    const now = new Date().toISOString();
    const reader = this.reader(work, stream);
    let text = '';
    let fileText = '';
    for (const line of lines) {
      const level = reader.levelOf(line);
      fileText += `${now} ${stream} ${line}\n`;
      if (!show || (this.options.quiet && level === 'info')) continue;
      text += `${p}${stream === 'daemon' && level === 'info' ? pc.dim(line) : LEVEL_COLOR[level](line)}\n`;
    }
    if (text) this.out(text);
    this.file(work).write(fileText);
  }

  onStatus(work: string, status: WorkStatus, previous: WorkPhase): void {
    this.file(work).write(
      `${new Date().toISOString()} status ${previous} -> ${status.phase} ${status.reason ?? ''} ${status.message ?? ''}\n`,
    );
    if (!this.shows(work)) return;
    const arrow =
      previous === status.phase
        ? PHASE_COLOR[status.phase](status.phase)
        : `${PHASE_COLOR[previous](previous)} → ${PHASE_COLOR[status.phase](status.phase)}`;
    let extra = '';
    if (status.phase === 'failed' || status.reason === 'retry_scheduled' || status.reason === 'preempted') {
      extra = status.message
        ? `\n${status.message
            .split('\n')
            .map((l) => `    ${pc.red(l)}`)
            .join('\n')}`
        : '';
    } else if (status.url) {
      extra = `  ${pc.underline(status.url)}`;
    }
    this.out(`${this.prefix(work)}${pc.bold('●')} ${arrow}${extra}\n`);
  }

  /** Prints a line of the runner itself (`lightning …`, `ready: …`), timed like the rest. */
  say(text: string): void {
    const blank = text.length - text.trimStart().length; // leading newlines stay first
    this.out(`${text.slice(0, blank)}${this.stamp()}${text.slice(blank)}`);
  }

  onNotice(message: string): void {
    this.out(`${this.stamp()}${pc.dim('lightning')} ${message}\n`);
  }

  daemonLine(work: string, line: string): void {
    this.file(work).write(`${new Date().toISOString()} daemon ${line}\n`);
    const level = this.reader(work, 'daemon').levelOf(line);
    if (!this.shows(work) || (this.options.quiet && level === 'info')) return;
    this.out(`${this.prefix(work)}${level === 'info' ? pc.dim(line) : LEVEL_COLOR[level](line)}\n`);
  }

  async close(): Promise<void> {
    await Promise.all(
      [...this.files.values()].map((f) => new Promise<void>((resolve) => f.end(() => resolve()))),
    );
  }
}
