/**
 * The work daemon's GPU reading (daemon/work/gpu-sampler.ts) through a real process: a script
 * standing in for nvidia-smi prints what `--query-gpu=utilization.gpu --format=csv,noheader,nounits`
 * prints (one line per GPU). The busiest GPU counts; no nvidia-smi, a failing one or one that
 * prints no number gives no reading.
 */
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sampleGpuUtilization } from '../../daemon/work/gpu-sampler.ts';

const dir = mkdtempSync(join(tmpdir(), 'lightning-gpu-sampler-'));
function fake(name: string, script: string): string {
  const file = join(dir, name);
  writeFileSync(file, `#!/bin/sh\n${script}\n`);
  chmodSync(file, 0o755);
  return file;
}

describe('GPU utilisation from nvidia-smi', () => {
  it('is the busiest GPU, asked for with the query nvidia-smi documents', async () => {
    // Echoes its arguments back as an error unless they are the expected query.
    const smi = fake(
      'smi-ok',
      '[ "$*" = "--query-gpu=utilization.gpu --format=csv,noheader,nounits" ] || { echo "$*" >&2; exit 9; }\nprintf "3\\n57\\n0\\n"',
    );
    expect(await sampleGpuUtilization(smi)).toBe(57);
  });

  it('is none without nvidia-smi, when it fails, or when it prints no number', async () => {
    expect(await sampleGpuUtilization(join(dir, 'absent'))).toBeUndefined();
    expect(
      await sampleGpuUtilization(fake('smi-fails', 'echo "NVIDIA-SMI has failed" >&2; exit 9')),
    ).toBeUndefined();
    expect(await sampleGpuUtilization(fake('smi-na', 'echo "[N/A]"'))).toBeUndefined();
  });
});
