/**
 * Every validation rule of a Work's CloudCompute in the GCP synthesis, one case each: the
 * error names the work's construct path, says what is wrong, and carries a fix. (The app-level
 * rules and the all-problems-at-once case: cloud-validation-reports-every-problem.test.ts.)
 */
import { describe, it } from 'vitest';
import { type Case, expectProblem, work } from './support/validation-app.ts';

const cases: readonly Case[] = [
  ['unknown GPU type', work({ gpuType: 'V200' as never }), 'root.train', /unknown gpuType "V200"/, /T4, L4/],
  [
    'fractional GPU count',
    work({ gpuType: 'T4', gpuCount: 1.5 }),
    'root.train',
    /gpuCount 1.5 is not a whole number/,
    /1, 2, 4 or 8/,
  ],
  [
    'GPU count without a GPU type',
    work({ gpuCount: 2 }),
    'root.train',
    /gpuCount is 2 but no gpuType/,
    /set gpuType/,
  ],
  [
    'malformed machine type',
    work({ machineType: 'Big Machine' }),
    'root.train',
    /not a GCE machine type name/,
    /e2-standard-4/,
  ],
  [
    'GPU count no machine type carries',
    work({ gpuType: 'L4', gpuCount: 3 }),
    'root.train',
    /no machine type carries 3× L4/,
    /set machineType/,
  ],
  [
    'GPU on a machine family that cannot take one',
    work({ machineType: 'e2-standard-8', gpuType: 'T4' }),
    'root.train',
    /cannot run on e2-standard-8: E2 machine types cannot take GPUs/,
    /n1-standard-8/,
  ],
  [
    'wrong GPU for an accelerator-optimized type',
    work({ machineType: 'g2-standard-4', gpuType: 'A100' }),
    'root.train',
    /g2-standard-4 comes with 1× L4.*not A100/,
    /a2-highgpu-1g/,
  ],
  [
    'wrong GPU count for an accelerator-optimized type',
    work({ machineType: 'a2-highgpu-1g', gpuCount: 2 }),
    'root.train',
    /comes with exactly 1 GPU\(s\), not 2/,
    /a2-highgpu-2g/,
  ],
  [
    'A100 asked on N1',
    work({ machineType: 'n1-standard-8', gpuType: 'A100' }),
    'root.train',
    /A100 \(nvidia-tesla-a100\) is not offered on N1/,
    /a2-highgpu-1g/,
  ],
  [
    'N1 GPU count not sold',
    work({ machineType: 'n1-standard-8', gpuType: 'T4', gpuCount: 3 }),
    'root.train',
    /N1 takes 1, 2 or 4 T4 GPUs, not 3/,
    /gpuCount that T4 is sold in/,
  ],
  [
    'N1 too large for its T4s',
    work({ machineType: 'n1-standard-64', gpuType: 'T4' }),
    'root.train',
    /n1-standard-64 has 64 vCPUs.*at most 48 vCPUs/,
    /n1-standard-8/,
  ],
  [
    'GPU not offered in the zone, region has it elsewhere',
    work({ machineType: 'g2-standard-4' }, { zone: 'us-central1-f' }),
    'root.train',
    /L4 \(nvidia-l4\) is not offered in zone us-central1-f/,
    /us-central1-a or us-central1-b or us-central1-c/,
  ],
  [
    'GPU not offered in the region at all',
    work({ machineType: 'a3-highgpu-1g' }, { region: 'europe-west1', zone: 'europe-west1-b' }),
    'root.train',
    /H100 .* not offered in zone europe-west1-b/,
    /accelerator-types list/,
  ],
  [
    'disk size not a whole number',
    work({ diskSizeGb: 10.5 }),
    'root.train',
    /diskSizeGb 10.5 is not a whole number/,
    /100/,
  ],
  [
    'disk below the image minimum',
    work({ machineType: 'g2-standard-4', diskSizeGb: 30 }),
    'root.train',
    /30 GB is smaller than image .*needs \(50 GB\)/,
    /at least 50/,
  ],
  [
    'disk below the Debian minimum',
    work({ diskSizeGb: 5 }),
    'root.train',
    /5 GB is smaller than image debian-cloud\/debian-12/,
    /at least 10/,
  ],
  ['disk over the limit', work({ diskSizeGb: 70000 }), 'root.train', /over the 64 TB limit/, /smaller/],
  [
    'unsupported disk type',
    work({ diskType: 'local-ssd' as never }),
    'root.train',
    /diskType "local-ssd" is not supported/,
    /pd-balanced/,
  ],
  [
    'idle timeout too short',
    work({ idleTimeoutSeconds: 5 }),
    'root.train',
    /idleTimeoutSeconds 5 is below 60/,
    /at least 60/,
  ],
  [
    'unknown startWith',
    work({ startWith: 'later' as never }),
    'root.train',
    /startWith "later"/,
    /'first-run'/,
  ],
  [
    'malformed image',
    work({ image: 'ubuntu' }),
    'root.train',
    /image "ubuntu" is not/,
    /debian-cloud\/debian-12/,
  ],
  [
    'invalid label key',
    work({ labels: { Team: 'x' } }),
    'root.train',
    /label key "Team" is invalid/,
    /lowercase letter first/,
  ],
  [
    'invalid label value',
    work({ labels: { team: 'Vision Team' } }),
    'root.train',
    /label team="Vision Team" has an invalid value/,
    /lowercase/,
  ],
  [
    'reserved label key',
    work({ labels: { 'lightning-app': 'x' } }),
    'root.train',
    /label key lightning-app is reserved/,
    /drop the "lightning-" prefix/,
  ],
];

describe("GCP synthesis validation of a Work's compute", () => {
  it.each(cases)('reports %s', (_name, make, path, message, fix) => {
    expectProblem(make(), path, message, fix);
  });
});
