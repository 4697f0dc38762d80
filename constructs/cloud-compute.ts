/**
 * Hardware for one Work in the cloud. Ignored locally. Owned by the cloud synthesis
 * (constructs/cloud/); this file only declares the props so Works can carry them.
 */
export type GpuType = 'nvidia-tesla-t4' | 'nvidia-l4' | 'nvidia-tesla-a100' | 'nvidia-a100-80gb' | 'nvidia-h100-80gb';

export interface CloudComputeProps {
  /** GCE machine type. @default 'e2-standard-2' (no GPU) */
  readonly machineType?: string;
  /** GPU model; A2/A3/G2 machine types imply theirs. @default no GPU */
  readonly gpuType?: GpuType;
  /** @default 1 when gpuType is set, else 0 */
  readonly gpuCount?: number;
  /** @default 50 (100 for GPU images) */
  readonly diskSizeGb?: number;
  /** @default 'pd-balanced' */
  readonly diskType?: 'pd-standard' | 'pd-balanced' | 'pd-ssd';
  /** Spot VM, stopped (not deleted) on preemption. @default false */
  readonly spot?: boolean;
  /** Stop the VM after it has been idle this long. @default no idle stop */
  readonly idleTimeoutSeconds?: number;
  /** Create the VM running with the flow, or stopped until the first run(). @default 'flow' */
  readonly startWith?: 'flow' | 'first-run';
  /** Extra GCE labels. */
  readonly labels?: Readonly<Record<string, string>>;
  /** Boot image. @default Debian 12 for CPU, a Deep Learning VM image with NVIDIA drivers for GPU */
  readonly image?: string;
}

/** Hardware for a Work in the cloud: `new CloudCompute({ machineType: 'g2-standard-4' })`. */
export class CloudCompute {
  readonly props: CloudComputeProps;
  constructor(props: CloudComputeProps = {}) {
    this.props = props;
  }
}
