/**
 * How busy this machine's GPUs are, as the flow's idle stop needs it (docs/deploy-gcp.md,
 * "Idle stop"): `nvidia-smi --query-gpu=utilization.gpu --format=csv,noheader,nounits`, one
 * line per GPU; the busiest GPU counts. A machine without nvidia-smi (no GPU, no driver) has
 * no sample; neither has one whose nvidia-smi fails or prints no number (a driver being
 * installed): the flow then judges by calls and UI requests only.
 */
import { execFile } from 'node:child_process';

/** The busiest GPU's utilisation in percent (0-100), or undefined without a usable nvidia-smi. */
export function sampleGpuUtilization(command = 'nvidia-smi'): Promise<number | undefined> {
  return new Promise((resolve) => {
    execFile(
      command,
      ['--query-gpu=utilization.gpu', '--format=csv,noheader,nounits'],
      // A hung driver must not hold the heartbeat up for long.
      { timeout: 10_000, encoding: 'utf8' },
      (err, stdout) => {
        if (err) return resolve(undefined);
        const values = stdout
          .split('\n')
          .map((l) => l.trim())
          .filter((l) => /^\d+(\.\d+)?$/.test(l))
          .map(Number)
          .filter((n) => n <= 100);
        resolve(values.length > 0 ? Math.round(Math.max(...values)) : undefined);
      },
    );
  });
}
