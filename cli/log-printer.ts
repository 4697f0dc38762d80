/**
 * Terminal output of `lightning-local run`: each work's log lines with a coloured, aligned
 * prefix, status transitions, notices; and a per-work log file under `.lightning/logs/`.
 */
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import pc from 'picocolors';
import type { WorkPhase, WorkStatus } from '../constructs/work-status.ts';
import type { LogStream, LoopObserver } from '../daemon/flow/event-loop.ts';

const PALETTE = [pc.cyan, pc.magenta, pc.blue, pc.yellow, pc.green, pc.red];

const PHASE_COLOR: Record<WorkPhase, (s: string) => string> = {
  not_started: pc.dim,
  pending: pc.yellow,
  running: pc.cyan,
  succeeded: pc.green,
  failed: pc.red,
  stopped: pc.magenta,
};

export class LogPrinter implements LoopObserver {
  private readonly colors = new Map<string, (s: string) => string>();
  private readonly files = new Map<string, WriteStream>();
  private width = 8;
  readonly logDir: string;

  constructor(
    appDir: string,
    private readonly out: (text: string) => void = (t) => process.stdout.write(t),
  ) {
    this.logDir = join(appDir, '.lightning', 'logs');
  }

  register(works: readonly string[]): void {
    for (const w of works) this.colorOf(w);
  }

  private colorOf(work: string): (s: string) => string {
    let c = this.colors.get(work);
    if (!c) {
      c = PALETTE[this.colors.size % PALETTE.length]!;
      this.colors.set(work, c);
      this.width = Math.max(this.width, work.length);
    }
    return c;
  }

  private file(work: string): WriteStream {
    let f = this.files.get(work);
    if (!f) {
      if (this.files.size === 0) mkdirSync(this.logDir, { recursive: true });
      f = createWriteStream(join(this.logDir, `${work}.log`), { flags: 'a' });
      this.files.set(work, f);
    }
    return f;
  }

  private prefix(work: string): string {
    return `${this.colorOf(work)(work.padEnd(this.width))} ${pc.dim('│')} `;
  }

  onLog(work: string, stream: LogStream, lines: readonly string[]): void {
    const p = this.prefix(work);
    const now = new Date().toISOString();
    let text = '';
    let fileText = '';
    for (const line of lines) {
      text += `${p}${stream === 'stderr' ? pc.red(line) : stream === 'daemon' ? pc.dim(line) : line}\n`;
      fileText += `${now} ${stream} ${line}\n`;
    }
    this.out(text);
    this.file(work).write(fileText);
  }

  onStatus(work: string, status: WorkStatus, previous: WorkPhase): void {
    const arrow =
      previous === status.phase
        ? PHASE_COLOR[status.phase](status.phase)
        : `${PHASE_COLOR[previous](previous)} → ${PHASE_COLOR[status.phase](status.phase)}`;
    let extra = '';
    if (status.phase === 'failed' || status.reason === 'retry_scheduled') {
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
    this.file(work).write(
      `${new Date().toISOString()} status ${previous} -> ${status.phase} ${status.reason ?? ''} ${status.message ?? ''}\n`,
    );
  }

  onNotice(message: string): void {
    this.out(`${pc.dim('lightning')} ${message}\n`);
  }

  daemonLine(work: string, line: string): void {
    this.out(`${this.prefix(work)}${pc.dim(line)}\n`);
    this.file(work).write(`${new Date().toISOString()} daemon ${line}\n`);
  }

  async close(): Promise<void> {
    await Promise.all(
      [...this.files.values()].map((f) => new Promise<void>((resolve) => f.end(() => resolve()))),
    );
  }
}
