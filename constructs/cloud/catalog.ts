/**
 * What GCE offers, as far as synthesis needs to know: GPU models, which machine types take
 * which GPUs, where GPUs exist, boot images. Sourced in /work/shared/reference/gcp-gpu-vms.md
 * (§1 GPU ↔ machine type, §3 images, §4 zones); zones and images drift, so everything here
 * is a best-known table, and the validation that uses it says so in its fix text.
 *
 * No cdktf imports: the cost command and validation use this without loading CDKTF.
 */

/** GCE accelerator type strings we know. */
export type GpuTypeId =
  | 'nvidia-tesla-t4'
  | 'nvidia-l4'
  | 'nvidia-tesla-a100'
  | 'nvidia-a100-80gb'
  | 'nvidia-h100-80gb';

export interface GpuInfo {
  readonly id: GpuTypeId;
  /** Short name used in presets and messages. */
  readonly short: string;
  /** Zones with a priced offering (skypilot-catalog v7, see reference §4). */
  readonly zones: readonly string[];
  /** Regional quota metric to raise before deploying (reference §4). */
  readonly quotaMetric: string;
}

export const GPUS: Readonly<Record<GpuTypeId, GpuInfo>> = {
  'nvidia-tesla-t4': {
    id: 'nvidia-tesla-t4',
    short: 'T4',
    quotaMetric: 'NVIDIA_T4_GPUS',
    zones: [
      'us-central1-a',
      'us-central1-b',
      'us-central1-c',
      'us-central1-f',
      'us-east1-c',
      'us-east1-d',
      'us-east4-a',
      'us-east4-b',
      'us-east4-c',
      'us-west1-a',
      'us-west1-b',
      'us-west4-a',
      'us-west4-b',
      'europe-west1-b',
      'europe-west1-c',
      'europe-west1-d',
      'europe-west4-a',
      'europe-west4-b',
      'europe-west4-c',
    ],
  },
  'nvidia-l4': {
    id: 'nvidia-l4',
    short: 'L4',
    quotaMetric: 'NVIDIA_L4_GPUS',
    zones: [
      'us-central1-a',
      'us-central1-b',
      'us-central1-c',
      'us-east1-b',
      'us-east1-c',
      'us-east1-d',
      'us-east4-a',
      'us-east4-c',
      'us-west1-a',
      'us-west1-b',
      'us-west1-c',
      'us-west4-a',
      'us-west4-c',
      'europe-west1-b',
      'europe-west1-c',
      'europe-west4-a',
      'europe-west4-b',
      'europe-west4-c',
    ],
  },
  'nvidia-tesla-a100': {
    id: 'nvidia-tesla-a100',
    short: 'A100',
    quotaMetric: 'NVIDIA_A100_GPUS',
    zones: [
      'us-central1-a',
      'us-central1-b',
      'us-central1-c',
      'us-central1-f',
      'us-east1-b',
      'us-west1-b',
      'us-west3-b',
      'us-west4-b',
      'europe-west4-a',
      'europe-west4-b',
    ],
  },
  'nvidia-a100-80gb': {
    id: 'nvidia-a100-80gb',
    short: 'A100-80GB',
    quotaMetric: 'NVIDIA_A100_80GB_GPUS',
    zones: ['us-central1-a', 'us-central1-c', 'us-east4-c', 'us-east5-a', 'us-east5-b', 'europe-west4-a'],
  },
  'nvidia-h100-80gb': {
    id: 'nvidia-h100-80gb',
    short: 'H100',
    quotaMetric: 'NVIDIA_H100_GPUS',
    zones: [
      'us-central1-a',
      'us-central1-b',
      'us-central1-c',
      'us-east4-a',
      'us-east4-b',
      'us-east4-c',
      'us-east5-a',
      'us-west1-a',
      'us-west1-b',
      'us-west4-a',
      'europe-west4-b',
      'europe-west4-c',
    ],
  },
};

/** N1 + T4: max vCPUs / GB RAM per GPU count (reference §1, SkyPilot citing CE:gpus). */
const N1_LIMITS: Partial<Record<GpuTypeId, Readonly<Record<number, readonly [number, number]>>>> = {
  'nvidia-tesla-t4': { 1: [48, 312], 2: [48, 312], 4: [96, 624] },
};

/** Accelerator-optimized types: the GPU model and count are fixed by the type (reference §1). */
const FIXED_GPU_TYPES: Readonly<Record<string, { gpu: GpuTypeId; count: number }>> = {
  'g2-standard-4': { gpu: 'nvidia-l4', count: 1 },
  'g2-standard-8': { gpu: 'nvidia-l4', count: 1 },
  'g2-standard-12': { gpu: 'nvidia-l4', count: 1 },
  'g2-standard-16': { gpu: 'nvidia-l4', count: 1 },
  'g2-standard-32': { gpu: 'nvidia-l4', count: 1 },
  'g2-standard-24': { gpu: 'nvidia-l4', count: 2 },
  'g2-standard-48': { gpu: 'nvidia-l4', count: 4 },
  'g2-standard-96': { gpu: 'nvidia-l4', count: 8 },
  'a2-highgpu-1g': { gpu: 'nvidia-tesla-a100', count: 1 },
  'a2-highgpu-2g': { gpu: 'nvidia-tesla-a100', count: 2 },
  'a2-highgpu-4g': { gpu: 'nvidia-tesla-a100', count: 4 },
  'a2-highgpu-8g': { gpu: 'nvidia-tesla-a100', count: 8 },
  'a2-megagpu-16g': { gpu: 'nvidia-tesla-a100', count: 16 },
  'a2-ultragpu-1g': { gpu: 'nvidia-a100-80gb', count: 1 },
  'a2-ultragpu-2g': { gpu: 'nvidia-a100-80gb', count: 2 },
  'a2-ultragpu-4g': { gpu: 'nvidia-a100-80gb', count: 4 },
  'a2-ultragpu-8g': { gpu: 'nvidia-a100-80gb', count: 8 },
  'a3-highgpu-1g': { gpu: 'nvidia-h100-80gb', count: 1 },
  'a3-highgpu-2g': { gpu: 'nvidia-h100-80gb', count: 2 },
  'a3-highgpu-4g': { gpu: 'nvidia-h100-80gb', count: 4 },
  'a3-highgpu-8g': { gpu: 'nvidia-h100-80gb', count: 8 },
};

/** The GPU a machine type carries by itself (A2/A3/G2), or undefined. */
export function fixedGpuOf(machineType: string): { gpu: GpuTypeId; count: number } | undefined {
  return FIXED_GPU_TYPES[machineType];
}

/** The machine family: the part before the first "-" (`n1`, `g2`, `e2`, ...). */
export function machineFamily(machineType: string): string {
  return machineType.split('-')[0] ?? machineType;
}

/** vCPUs and memory (GB) of an N1 type, parsed from its name; undefined if not parseable. */
export function n1Shape(machineType: string): { vcpus: number; memoryGb: number } | undefined {
  const m = /^n1-(standard|highmem|highcpu)-(\d+)$/.exec(machineType);
  if (!m) return undefined;
  const vcpus = Number(m[2]);
  const perCpu = m[1] === 'standard' ? 3.75 : m[1] === 'highmem' ? 6.5 : 0.9;
  return { vcpus, memoryGb: vcpus * perCpu };
}

/**
 * Why `machineType` cannot carry `count` × `gpu`, or undefined when it can. Covers the rules
 * that fail at deploy time with "features are not compatible" (reference §1).
 */
export function gpuMachineProblem(machineType: string, gpu: GpuTypeId, count: number): string | undefined {
  const fixed = fixedGpuOf(machineType);
  if (fixed) {
    if (fixed.gpu !== gpu) {
      return `${machineType} comes with ${fixed.count}× ${GPUS[fixed.gpu].short} (${fixed.gpu}), not ${GPUS[gpu].short}`;
    }
    if (fixed.count !== count) return `${machineType} comes with exactly ${fixed.count} GPU(s), not ${count}`;
    return undefined;
  }
  const family = machineFamily(machineType);
  if (family !== 'n1') {
    const suggestion = suggestMachineType(gpu, count);
    return `${family.toUpperCase()} machine types cannot take GPUs${suggestion ? `; ${GPUS[gpu].short} comes with ${suggestion}` : ''}`;
  }
  if (machineType === 'f1-micro' || machineType === 'g1-small') return `${machineType} cannot take GPUs`;
  const limits = N1_LIMITS[gpu];
  if (!limits) {
    return `${GPUS[gpu].short} (${gpu}) is not offered on N1; use ${suggestMachineType(gpu, count) ?? 'its A2/A3/G2 machine type'}`;
  }
  const limit = limits[count];
  if (!limit) return `N1 takes 1, 2 or 4 ${GPUS[gpu].short} GPUs, not ${count}`;
  const shape = n1Shape(machineType);
  if (shape && (shape.vcpus > limit[0] || shape.memoryGb > limit[1])) {
    return `${machineType} has ${shape.vcpus} vCPUs / ${shape.memoryGb} GB; with ${count}× ${GPUS[gpu].short} N1 allows at most ${limit[0]} vCPUs / ${limit[1]} GB`;
  }
  return undefined;
}

/** The smallest machine type that carries `count` × `gpu` (for presets and fix texts). */
export function suggestMachineType(gpu: GpuTypeId, count = 1): string | undefined {
  if (gpu === 'nvidia-tesla-t4') return [1, 2, 4].includes(count) ? 'n1-standard-8' : undefined;
  for (const [type, fixed] of Object.entries(FIXED_GPU_TYPES)) {
    if (fixed.gpu === gpu && fixed.count === count) return type;
  }
  return undefined;
}

/** Default images (reference §3). DLVM family names carry the preinstalled driver version. */
export const DEFAULT_CPU_IMAGE = 'debian-cloud/debian-12';
export const DEFAULT_GPU_IMAGE = 'deeplearning-platform-release/common-cu128-ubuntu-2204-nvidia-570';

/** Minimum boot disk (GB) we accept per image kind: Debian images are 10 GB, DLVM images ~50 GB. */
export function minDiskGb(image: string): number {
  return image.startsWith('deeplearning-platform-release/') ? 50 : 10;
}

/** Boot disk types we synthesize. Which ones a machine series takes: {@link diskTypesOf}. */
export const DISK_TYPES = ['pd-standard', 'pd-balanced', 'pd-ssd', 'hyperdisk-balanced'] as const;
export type DiskType = (typeof DISK_TYPES)[number];

const PD: readonly DiskType[] = ['pd-standard', 'pd-balanced', 'pd-ssd'];
/**
 * Boot disk types per machine series, where they differ from "every Persistent Disk type".
 * Newer series drop pd-standard (G2, A3, C3) or take only Hyperdisk (N4, C4): a wrong type
 * fails at apply time with "disk type not supported by the machine type". From issue 8's
 * review and CE:disks (machine series support table); best-known, **UNVERIFIED** here.
 */
const DISK_TYPES_BY_SERIES: Readonly<Record<string, readonly DiskType[]>> = {
  g2: ['pd-balanced', 'pd-ssd'],
  a3: ['pd-balanced', 'pd-ssd', 'hyperdisk-balanced'],
  c3: ['pd-balanced', 'pd-ssd', 'hyperdisk-balanced'],
  c3d: ['pd-balanced', 'pd-ssd', 'hyperdisk-balanced'],
  n4: ['hyperdisk-balanced'],
  c4: ['hyperdisk-balanced'],
  c4a: ['hyperdisk-balanced'],
  c4d: ['hyperdisk-balanced'],
};

/** Boot disk types `machineType`'s series takes, most suitable default first (pd-balanced where offered). */
export function diskTypesOf(machineType: string): readonly DiskType[] {
  const types = DISK_TYPES_BY_SERIES[machineFamily(machineType)] ?? PD;
  return types.includes('pd-balanced') ? ['pd-balanced', ...types.filter((t) => t !== 'pd-balanced')] : types;
}

/**
 * Local SSDs a machine type comes with (375 GB NVMe partitions). GCE attaches them whether
 * or not the request names them, so the instance must declare them (`scratch_disk`), or the
 * next plan sees a difference on a force-new field and recreates the VM. Counts from CE:
 * accelerator-optimized-machines (A2 Ultra: 1 per GPU; A3 High: 2 per GPU); best-known,
 * **UNVERIFIED** here.
 */
const BUNDLED_LOCAL_SSDS: Readonly<Record<string, number>> = {
  'a2-ultragpu-1g': 1,
  'a2-ultragpu-2g': 2,
  'a2-ultragpu-4g': 4,
  'a2-ultragpu-8g': 8,
  'a3-highgpu-1g': 2,
  'a3-highgpu-2g': 4,
  'a3-highgpu-4g': 8,
  'a3-highgpu-8g': 16,
};
/** Size of one local SSD partition (GB). */
export const LOCAL_SSD_GB = 375;

/** How many local SSDs come with `machineType` (0 for most types). */
export function bundledLocalSsds(machineType: string): number {
  return BUNDLED_LOCAL_SSDS[machineType] ?? 0;
}

/**
 * Machine types GCE sells only as Spot or Flex-start VMs, not on-demand. A3 High below 8
 * GPUs: reference gcp-gpu-vms.md §1 (UNVERIFIED there); Google's accelerator-optimized
 * machines page is in the search corpus but only its opening was readable. Corroborated by
 * Phala-Network/meta-dstack-cloud#15 (a3-highgpu-1g deployed as SPOT because on-demand H100
 * quota is 0 by default). Still **UNVERIFIED** against Google's own text.
 */
const SPOT_OR_FLEX_ONLY: ReadonlySet<string> = new Set(['a3-highgpu-1g', 'a3-highgpu-2g', 'a3-highgpu-4g']);

/** Whether `machineType` can only be created as Spot (or Flex-start, which we do not synthesize). */
export function isSpotOnly(machineType: string): boolean {
  return SPOT_OR_FLEX_ONLY.has(machineType);
}
