/**
 * Hardware for one Work (or the flow) in the cloud. Ignored locally. Construction only
 * records props (and rejects an unknown preset name); the full check runs at synthesis,
 * where the construct path is known (`validate`), so every problem is reported at once.
 */
import {
  bundledLocalSsds,
  DEFAULT_CPU_IMAGE,
  DEFAULT_GPU_IMAGE,
  DISK_TYPES,
  type DiskType,
  diskTypesOf,
  fixedGpuOf,
  GPUS,
  type GpuTypeId,
  gpuMachineProblem,
  isSpotOnly,
  minDiskGb,
  suggestMachineType,
} from './cloud/catalog.ts';
import { ValidationError, type ValidationProblem } from './errors.ts';

/** GCE accelerator type, or its short name. */
export type GpuType = GpuTypeId | 'T4' | 'L4' | 'A100' | 'A100-80GB' | 'H100';

const GPU_ALIASES: Readonly<Record<string, GpuTypeId>> = {
  T4: 'nvidia-tesla-t4',
  L4: 'nvidia-l4',
  A100: 'nvidia-tesla-a100',
  'A100-80GB': 'nvidia-a100-80gb',
  H100: 'nvidia-h100-80gb',
};

export interface CloudComputeProps {
  /** GCE machine type. @default 'e2-standard-2' without a GPU; the smallest type that carries the GPU with one */
  readonly machineType?: string;
  /** GPU model; A2/A3/G2 machine types imply theirs. @default the machine type's own GPU, else none */
  readonly gpuType?: GpuType;
  /** @default the machine type's GPU count, else 1 when gpuType is set, else 0 */
  readonly gpuCount?: number;
  /** Boot disk size. @default 50 (100 for GPU images) */
  readonly diskSizeGb?: number;
  /**
   * Boot disk type; the machine series must take it (G2/A3/C3: no pd-standard; N4/C4:
   * hyperdisk-balanced only). @default 'pd-balanced', or 'hyperdisk-balanced' where the series takes no Persistent Disk
   */
  readonly diskType?: DiskType;
  /**
   * Spot VM, stopped (not deleted) on preemption. a3-highgpu-1g/2g/4g are sold only as Spot.
   * @default false (true in the `gpu-h100` preset)
   */
  readonly spot?: boolean;
  /** The flow stops the VM after the work has been idle (no call running) this long. @default no idle stop */
  readonly idleTimeoutSeconds?: number;
  /** Create the VM running with the flow, or stopped until the first run(). @default 'flow' */
  readonly startWith?: 'flow' | 'first-run';
  /** Extra GCE labels (keys and values: lowercase letters, digits, "_" and "-"). @default {} */
  readonly labels?: Readonly<Record<string, string>>;
  /** Boot image. @default Debian 12 for CPU, a Deep Learning VM image with NVIDIA drivers for GPU */
  readonly image?: string;
  /**
   * Shapes to try, in order, when no zone of the region has capacity (or quota) for this one.
   * The flow creates such VMs at run time from instance templates (ADR 0025): a WorkMap's
   * members, and a Work declaring this (or `onDemandFallback`), whose VM Terraform then does
   * not create. @default [] (only this shape)
   */
  readonly fallback?: readonly (CloudComputePreset | CloudCompute)[];
  /**
   * When every Spot attempt failed, try the same shapes on-demand (dearer, not preemptible).
   * Like `fallback`, it makes the flow place a Work's VM instead of Terraform. @default false
   */
  readonly onDemandFallback?: boolean;
}

/** Names accepted by {@link CloudCompute.named}. */
export type CloudComputePreset = 'cpu' | 'gpu-t4' | 'gpu-l4' | 'gpu-a100' | 'gpu-a100-80gb' | 'gpu-h100';

const PRESETS: Readonly<Record<CloudComputePreset, CloudComputeProps>> = {
  cpu: { machineType: 'e2-standard-2' },
  'gpu-t4': { machineType: 'n1-standard-8', gpuType: 'nvidia-tesla-t4', gpuCount: 1 },
  'gpu-l4': { machineType: 'g2-standard-4' },
  'gpu-a100': { machineType: 'a2-highgpu-1g' },
  'gpu-a100-80gb': { machineType: 'a2-ultragpu-1g' },
  'gpu-h100': { machineType: 'a3-highgpu-1g', spot: true }, // sold only as Spot/Flex-start (catalog.ts)
};

/** The settings synthesis uses, defaults applied. */
export interface ResolvedCompute {
  readonly machineType: string;
  readonly gpuType: GpuTypeId | undefined;
  readonly gpuCount: number;
  readonly diskSizeGb: number;
  readonly diskType: string;
  /** Local SSDs (375 GB NVMe) the machine type comes with; declared so a second plan is clean. */
  readonly localSsdCount: number;
  readonly spot: boolean;
  readonly idleTimeoutSeconds: number | undefined;
  readonly startWith: 'flow' | 'first-run';
  readonly labels: Readonly<Record<string, string>>;
  readonly image: string;
}

/**
 * Hardware for a Work in the cloud.
 *
 * @example
 * new ScriptWork(this, 'train', { script: 'train.py', compute: CloudCompute.named('gpu-l4', { spot: true }) });
 * new ScriptWork(this, 'eval', { script: 'eval.py', compute: new CloudCompute({ machineType: 'n1-standard-8', gpuType: 'T4' }) });
 */
export class CloudCompute {
  /** Preset names, for help texts. */
  static readonly presets: readonly CloudComputePreset[] = Object.keys(PRESETS) as CloudComputePreset[];

  /** A preset (`cpu`, `gpu-t4`, `gpu-l4`, `gpu-a100`, `gpu-a100-80gb`, `gpu-h100`) with optional overrides. */
  static named(preset: CloudComputePreset, overrides: CloudComputeProps = {}): CloudCompute {
    const base = PRESETS[preset];
    if (!base) {
      throw new ValidationError([
        {
          path: 'CloudCompute',
          message: `unknown preset ${JSON.stringify(preset)}`,
          fix: `use one of ${CloudCompute.presets.join(', ')}, or new CloudCompute({ machineType, gpuType })`,
        },
      ]);
    }
    return new CloudCompute({ ...base, ...overrides });
  }

  readonly props: CloudComputeProps;
  constructor(props: CloudComputeProps = {}) {
    this.props = props;
  }

  /** The GPU model, aliases resolved (undefined for an unknown name; `validate` reports it). */
  private gpuId(): GpuTypeId | undefined {
    const g = this.props.gpuType;
    if (g === undefined) return fixedGpuOf(this.props.machineType ?? '')?.gpu;
    return GPU_ALIASES[g] ?? (g in GPUS ? (g as GpuTypeId) : undefined);
  }

  /**
   * The fallback shapes, presets resolved (see {@link CloudComputeProps.fallback}). A preset
   * named by string takes this compute's `spot` (a Spot L4 falls back to a Spot T4 first);
   * a CloudCompute keeps its own settings.
   */
  fallbacks(): { readonly label: string; readonly compute: CloudCompute }[] {
    const spot = this.props.spot !== undefined ? { spot: this.props.spot } : {};
    return (this.props.fallback ?? []).map((f, i) =>
      typeof f === 'string'
        ? { label: f, compute: PRESETS[f] ? CloudCompute.named(f, spot) : new CloudCompute() }
        : { label: `fallback-${i + 1}`, compute: f },
    );
  }

  /** Settings with defaults applied. Call `validate` first: this does not check them. */
  resolve(): ResolvedCompute {
    const gpuType = this.gpuId();
    const machineType =
      this.props.machineType ??
      (gpuType ? (suggestMachineType(gpuType, this.props.gpuCount ?? 1) ?? '') : 'e2-standard-2');
    const fixed = fixedGpuOf(machineType);
    const gpuCount = this.props.gpuCount ?? fixed?.count ?? (gpuType ? 1 : 0);
    const hasGpu = gpuType !== undefined && gpuCount > 0;
    const image = this.props.image ?? (hasGpu ? DEFAULT_GPU_IMAGE : DEFAULT_CPU_IMAGE);
    return {
      machineType,
      gpuType: hasGpu ? gpuType : undefined,
      gpuCount: hasGpu ? gpuCount : 0,
      diskSizeGb: this.props.diskSizeGb ?? (hasGpu ? 100 : 50),
      diskType: this.props.diskType ?? diskTypesOf(machineType)[0] ?? 'pd-balanced',
      localSsdCount: bundledLocalSsds(machineType),
      spot: this.props.spot ?? false,
      idleTimeoutSeconds: this.props.idleTimeoutSeconds,
      startWith: this.props.startWith ?? 'flow',
      labels: this.props.labels ?? {},
      image,
    };
  }

  /**
   * Every problem with these settings for the component at `path`, in `zone` (undefined:
   * the app's zone is itself invalid and reported; zone checks are skipped). Zone
   * availability comes from a dated catalog (constructs/cloud/catalog.ts).
   */
  validate(path: string, zone: string | undefined): ValidationProblem[] {
    const problems: ValidationProblem[] = [];
    const add = (message: string, fix: string) => problems.push({ path, message, fix });
    const p = this.props;
    if (p.gpuType !== undefined && this.gpuId() === undefined) {
      add(
        `unknown gpuType ${JSON.stringify(p.gpuType)}`,
        `use one of ${[...Object.keys(GPU_ALIASES), ...Object.keys(GPUS)].join(', ')}`,
      );
    }
    if (p.gpuCount !== undefined && !(Number.isInteger(p.gpuCount) && p.gpuCount >= 0)) {
      add(`gpuCount ${p.gpuCount} is not a whole number >= 0`, 'use 1, 2, 4 or 8');
    }
    if (
      p.gpuCount !== undefined &&
      p.gpuCount > 0 &&
      p.gpuType === undefined &&
      !fixedGpuOf(p.machineType ?? '')
    ) {
      add(
        `gpuCount is ${p.gpuCount} but no gpuType is set`,
        "set gpuType (e.g. 'T4'), or use a GPU preset like CloudCompute.named('gpu-l4')",
      );
    }
    if (p.machineType !== undefined && !/^[a-z][a-z0-9]*-[a-z0-9-]+$/.test(p.machineType)) {
      add(
        `machineType ${JSON.stringify(p.machineType)} is not a GCE machine type name`,
        "use a name like 'e2-standard-4' or 'g2-standard-8'",
      );
    }
    const r = this.resolve();
    if (r.machineType === '') {
      add(
        `no machine type carries ${p.gpuCount ?? 1}× ${p.gpuType}`,
        'set machineType explicitly, or change gpuCount to a count the GPU is sold in (1, 2, 4, 8)',
      );
    } else if (r.gpuType) {
      const why = gpuMachineProblem(r.machineType, r.gpuType, r.gpuCount);
      if (why) {
        const suggestion = suggestMachineType(r.gpuType, r.gpuCount);
        add(
          `a Work with ${r.gpuCount}× ${GPUS[r.gpuType].short} cannot run on ${r.machineType}: ${why}`,
          suggestion
            ? `use machineType '${suggestion}' (or leave machineType unset)`
            : `use a gpuCount that ${GPUS[r.gpuType].short} is sold in (1, 2, 4; see the GPU table in docs/deploy-gcp.md)`,
        );
      }
      const zones = GPUS[r.gpuType].zones;
      if (zone !== undefined && !zones.includes(zone)) {
        const region = zone.replace(/-[a-z]$/, '');
        const inRegion = zones.filter((z) => z.startsWith(`${region}-`));
        add(
          `${GPUS[r.gpuType].short} (${r.gpuType}) is not offered in zone ${zone}`,
          inRegion.length > 0
            ? `use zone ${inRegion.join(' or ')} in cloud.zone`
            : `use a zone that has it, e.g. ${zones.slice(0, 3).join(', ')} (check: gcloud compute accelerator-types list --filter="name=${r.gpuType}")`,
        );
      }
    }
    if (p.diskSizeGb !== undefined && !(Number.isInteger(p.diskSizeGb) && p.diskSizeGb > 0)) {
      add(`diskSizeGb ${p.diskSizeGb} is not a whole number of GB`, 'use e.g. 100');
    } else if (r.diskSizeGb < minDiskGb(r.image)) {
      add(
        `boot disk of ${r.diskSizeGb} GB is smaller than image ${r.image} needs (${minDiskGb(r.image)} GB)`,
        `set diskSizeGb to at least ${minDiskGb(r.image)}`,
      );
    } else if (r.diskSizeGb > 65536) {
      add(`boot disk of ${r.diskSizeGb} GB is over the 64 TB limit`, 'use a smaller diskSizeGb');
    }
    if (!(DISK_TYPES as readonly string[]).includes(r.diskType)) {
      add(`diskType ${JSON.stringify(r.diskType)} is not supported`, `use one of ${DISK_TYPES.join(', ')}`);
    } else if (r.machineType !== '' && !diskTypesOf(r.machineType).includes(r.diskType as DiskType)) {
      const takes = diskTypesOf(r.machineType);
      add(
        `${r.machineType} does not take a ${r.diskType} boot disk (its series takes ${takes.join(', ')})`,
        `use diskType '${takes[0]}', or leave diskType unset`,
      );
    }
    if (isSpotOnly(r.machineType) && !r.spot) {
      add(
        `${r.machineType} is sold only as Spot or Flex-start VMs, not on-demand`,
        "set spot: true (CloudCompute.named('gpu-h100') does), or use a3-highgpu-8g for an on-demand H100 VM",
      );
    }
    if (
      p.idleTimeoutSeconds !== undefined &&
      !(Number.isFinite(p.idleTimeoutSeconds) && p.idleTimeoutSeconds >= 60)
    ) {
      add(
        `idleTimeoutSeconds ${p.idleTimeoutSeconds} is below 60 s`,
        'use at least 60 (a VM takes about a minute to boot), or leave it unset',
      );
    }
    if (p.startWith !== undefined && p.startWith !== 'flow' && p.startWith !== 'first-run') {
      add(
        `startWith ${JSON.stringify(p.startWith)} is not 'flow' or 'first-run'`,
        "use 'flow' or 'first-run'",
      );
    }
    if (
      p.image !== undefined &&
      !/^[a-z][-a-z0-9]*\/[a-z][-a-z0-9]*$|^projects\/[^/]+\/global\/images\/.+$/.test(p.image)
    ) {
      add(
        `image ${JSON.stringify(p.image)} is not "<project>/<family-or-image>"`,
        "use e.g. 'debian-cloud/debian-12'",
      );
    }
    (p.fallback ?? []).forEach((f, i) => {
      if (typeof f === 'string' && !PRESETS[f]) {
        add(
          `fallback[${i}] ${JSON.stringify(f)} is not a preset`,
          `use one of ${CloudCompute.presets.join(', ')}, or a CloudCompute`,
        );
      } else if (typeof f !== 'string' && f.props.fallback?.length) {
        add(`fallback[${i}] has a fallback of its own`, 'list every shape in one fallback list');
      }
    });
    for (const f of this.fallbacks()) {
      for (const fp of f.compute.validate(`${path} (fallback ${f.label})`, undefined)) problems.push(fp);
    }
    for (const [k, v] of Object.entries(r.labels)) {
      if (!/^[a-z][a-z0-9_-]{0,62}$/.test(k)) {
        add(
          `label key ${JSON.stringify(k)} is invalid`,
          'label keys: lowercase letter first, then lowercase letters, digits, "_" or "-", at most 63',
        );
      }
      if (typeof v !== 'string' || !/^[a-z0-9_-]{0,63}$/.test(v)) {
        add(
          `label ${k}=${JSON.stringify(v)} has an invalid value`,
          'label values: lowercase letters, digits, "_" or "-", at most 63',
        );
      }
      if (k.startsWith('lightning-')) add(`label key ${k} is reserved`, 'drop the "lightning-" prefix');
    }
    return problems;
  }
}
