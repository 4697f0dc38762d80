/**
 * Progress of long Drive transfers: bytes, rate and ETA, for the CLI (a line on stderr) and
 * for Work state (a small JSON object the daemon can patch into the work's state).
 *
 * @example
 * const meter = new ProgressMeter();
 * await drive.put(key, file, { onProgress: (p) => meter.update(p) });
 * meter.snapshot(); // { bytes, totalBytes, bytesPerSecond, etaSeconds, ... }
 */
import type { TransferProgress } from '../../constructs/drive.ts';

/** JSON-safe progress, suitable for Work state (`state.transfer`). */
export interface ProgressSnapshot {
  readonly key: string;
  readonly bytes: number;
  readonly totalBytes: number | null;
  /** Smoothed rate over the last few seconds; 0 until two samples exist. */
  readonly bytesPerSecond: number;
  /** Seconds left at the current rate; null when the total or the rate is unknown. */
  readonly etaSeconds: number | null;
  readonly elapsedSeconds: number;
  readonly done: boolean;
}

/** Rate is measured over this window: long enough to smooth bursts, short enough to follow changes. */
const WINDOW_MS = 3000;

export class ProgressMeter {
  private readonly startedAt: number;
  private samples: { t: number; bytes: number }[] = [];
  private last: TransferProgress = { key: '', bytes: 0, totalBytes: null };

  constructor(private readonly now: () => number = () => performance.now()) {
    this.startedAt = now();
  }

  update(p: TransferProgress): void {
    this.last = p;
    const t = this.now();
    this.samples.push({ t, bytes: p.bytes });
    while (this.samples.length > 2 && t - (this.samples[0]?.t ?? t) > WINDOW_MS) this.samples.shift();
  }

  snapshot(): ProgressSnapshot {
    const t = this.now();
    const first = this.samples[0];
    const lastSample = this.samples[this.samples.length - 1];
    const spanMs = first && lastSample ? lastSample.t - first.t : 0;
    const rate = first && lastSample && spanMs > 0 ? ((lastSample.bytes - first.bytes) * 1000) / spanMs : 0;
    const { key, bytes, totalBytes } = this.last;
    const remaining = totalBytes === null ? null : Math.max(0, totalBytes - bytes);
    return {
      key,
      bytes,
      totalBytes,
      bytesPerSecond: Math.round(rate),
      etaSeconds: remaining === null || rate <= 0 ? null : Math.ceil(remaining / rate),
      elapsedSeconds: Math.round((t - this.startedAt) / 100) / 10,
      done: totalBytes !== null && bytes >= totalBytes,
    };
  }
}

/** `1.5 GiB`, `12.0 MiB`, `900 B`. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

/** `1:05`, `2:03:04`, `?` */
export function formatDuration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return '?';
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

/** One human line: `works/x/model.pt  512.0 MiB / 1.0 GiB (50%)  210.3 MiB/s  ETA 0:03`. */
export function formatProgress(s: ProgressSnapshot): string {
  const pct = s.totalBytes ? ` (${Math.floor((100 * s.bytes) / s.totalBytes)}%)` : '';
  const total = s.totalBytes === null ? '' : ` / ${formatBytes(s.totalBytes)}`;
  const eta = s.done ? `in ${formatDuration(s.elapsedSeconds)}` : `ETA ${formatDuration(s.etaSeconds)}`;
  return `${s.key}  ${formatBytes(s.bytes)}${total}${pct}  ${formatBytes(s.bytesPerSecond)}/s  ${eta}`;
}

/**
 * Calls `report` with a snapshot at most every `intervalMs`, and once more at the end (so
 * Work state and terminals are not flooded by per-chunk events).
 */
export function throttledProgress(
  report: (s: ProgressSnapshot) => void,
  intervalMs = 500,
): { onProgress: (p: TransferProgress) => void; finish: () => void; meter: ProgressMeter } {
  const meter = new ProgressMeter();
  let lastReport = Number.NEGATIVE_INFINITY;
  return {
    meter,
    onProgress(p) {
      meter.update(p);
      const t = performance.now();
      if (t - lastReport >= intervalMs) {
        lastReport = t;
        report(meter.snapshot());
      }
    },
    finish() {
      report(meter.snapshot());
    },
  };
}

/**
 * Renders progress on a stream (stderr): redrawn in place on a TTY, one line every few
 * seconds otherwise (logs). Only transfers of at least `minBytes` are shown.
 */
export function stderrProgress(
  stream: NodeJS.WriteStream = process.stderr,
  minBytes = 8 * 1024 * 1024,
): { onProgress: (p: TransferProgress) => void; finish: () => void } {
  const tty = Boolean(stream.isTTY);
  let shown = false;
  const t = throttledProgress(
    (s) => {
      if ((s.totalBytes ?? s.bytes) < minBytes) return;
      shown = true;
      stream.write(tty ? `\r\x1b[2K${formatProgress(s)}` : `${formatProgress(s)}\n`);
    },
    tty ? 200 : 5000,
  );
  return {
    onProgress: t.onProgress,
    finish() {
      t.finish();
      if (shown && tty) stream.write('\n');
    },
  };
}
