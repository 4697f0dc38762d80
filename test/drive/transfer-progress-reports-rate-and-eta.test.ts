/**
 * Transfer progress: rate over a sliding window, ETA from the remaining bytes, JSON-safe
 * snapshots for Work state, and human lines for terminals. A fake clock keeps it exact.
 */
import { describe, expect, it } from 'vitest';
import {
  formatBytes,
  formatDuration,
  formatProgress,
  ProgressMeter,
  throttledProgress,
} from '../../daemon/drive/transfer-progress.ts';

const MiB = 1024 * 1024;

describe('transfer progress', () => {
  it('computes rate and ETA from the samples, and is done at the total', () => {
    let now = 0;
    const meter = new ProgressMeter(() => now);
    meter.update({ key: 'k', bytes: 0, totalBytes: 100 * MiB });
    now = 1000;
    meter.update({ key: 'k', bytes: 10 * MiB, totalBytes: 100 * MiB });
    now = 2000;
    meter.update({ key: 'k', bytes: 20 * MiB, totalBytes: 100 * MiB });
    const s = meter.snapshot();
    expect(s.bytesPerSecond).toBe(10 * MiB);
    expect(s.etaSeconds).toBe(8);
    expect(s.done).toBe(false);
    expect(JSON.parse(JSON.stringify(s))).toEqual(s);
    expect(formatProgress(s)).toBe('k  20.0 MiB / 100.0 MiB (20%)  10.0 MiB/s  ETA 0:08');

    // Old samples leave the window: the rate follows a slowdown.
    now = 10_000;
    meter.update({ key: 'k', bytes: 24 * MiB, totalBytes: 100 * MiB });
    now = 11_000;
    meter.update({ key: 'k', bytes: 25 * MiB, totalBytes: 100 * MiB });
    expect(meter.snapshot().bytesPerSecond).toBe(1 * MiB);
    now = 12_000;
    meter.update({ key: 'k', bytes: 100 * MiB, totalBytes: 100 * MiB });
    expect(meter.snapshot()).toMatchObject({ done: true, etaSeconds: 0 });
  });

  it('has no ETA for a stream of unknown size', () => {
    let now = 0;
    const meter = new ProgressMeter(() => now);
    meter.update({ key: 's', bytes: 0, totalBytes: null });
    now = 500;
    meter.update({ key: 's', bytes: 1000, totalBytes: null });
    expect(meter.snapshot()).toMatchObject({ etaSeconds: null, bytesPerSecond: 2000, done: false });
  });

  it('throttles reports but always reports the end', () => {
    const reports: number[] = [];
    const t = throttledProgress((s) => reports.push(s.bytes), 60_000);
    for (let i = 1; i <= 100; i++) t.onProgress({ key: 'k', bytes: i, totalBytes: 100 });
    t.finish();
    expect(reports).toEqual([1, 100]);
  });

  it('formats sizes and durations', () => {
    expect(formatBytes(900)).toBe('900 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(1024 ** 3)).toBe('1.0 GiB');
    expect(formatDuration(65)).toBe('1:05');
    expect(formatDuration(7384)).toBe('2:03:04');
    expect(formatDuration(null)).toBe('?');
  });
});
