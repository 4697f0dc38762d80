/**
 * Process measurements from /proc (Linux): CPU time and memory of one process, sampled over
 * a window. Used for the idle-cost scenario, for ours and for Lightning alike.
 */
import { readFileSync } from 'node:fs';

const CLOCK_TICKS_PER_SEC = 100; // USER_HZ; fixed at 100 on Linux for /proc/<pid>/stat.

/** User + system CPU seconds consumed so far by the process (all its threads, not children). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which is in parentheses and may contain spaces.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  return (utime + stime) / CLOCK_TICKS_PER_SEC;
}

/** Resident set size and its peak, in MiB. */
export function memoryMiB(pid: number): { rssMiB: number; peakRssMiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string): number =>
    Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
  return { rssMiB: kb('VmRSS') / 1024, peakRssMiB: kb('VmHWM') / 1024 };
}

export interface CpuWindow {
  /** CPU used over the window as a percentage of one core. */
  readonly cpuPercentOfCore: number;
  readonly rssMiB: number;
  readonly windowSec: number;
}

/** Samples a process's CPU over `windowSec` seconds (after the caller's warm-up). */
export async function sampleCpu(pid: number, windowSec: number): Promise<CpuWindow> {
  const c0 = cpuSeconds(pid);
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, windowSec * 1000));
  const c1 = cpuSeconds(pid);
  const elapsed = (performance.now() - t0) / 1000;
  return { cpuPercentOfCore: ((c1 - c0) / elapsed) * 100, rssMiB: memoryMiB(pid).rssMiB, windowSec: elapsed };
}

/** The direct children of a process (Linux /proc/<pid>/task/<pid>/children). */
export function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}
