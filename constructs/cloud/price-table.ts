/**
 * Hourly list prices in USD, us-central1, used by `lightning-local cost`. A VM is priced as
 * its machine row plus `gpuCount` × its GPU row, as SkyPilot does (`sky/clouds/gcp.py`); that
 * GPU prices scale linearly with the count is our simplification.
 *
 * Source: skypilot-org/skypilot-catalog `catalogs/v7/gcp/vms.csv` at commit 017e2502 (the
 * catalog is rebuilt from Cloud Billing SKUs every few hours and carries no date itself),
 * as summarised in /work/shared/reference/gcp-gpu-vms.md §10. Spot prices change as often
 * as daily; check https://cloud.google.com/compute/gpus-pricing before relying on a number.
 * No GCP access was available when this table was made, so none of it is checked live.
 *
 * No cdktf imports: `lightning-local cost` must not load CDKTF.
 */
import type { GpuTypeId } from './catalog.ts';

export const PRICE_TABLE_DATE = '2026-11-25';
export const PRICE_TABLE_REGION = 'us-central1';
export const PRICE_TABLE_SOURCE =
  'skypilot-org/skypilot-catalog catalogs/v7/gcp/vms.csv @017e2502 (Cloud Billing SKUs), retrieved 2026-11-25';

export interface HourlyPrice {
  readonly onDemand: number;
  readonly spot: number;
}

/** Machine rows (vCPU + RAM only; the GPUs of A2/A3/G2 types are in GPU_PRICES). */
export const MACHINE_PRICES: Readonly<Record<string, HourlyPrice>> = {
  'e2-standard-2': { onDemand: 0.06701, spot: 0.02679 },
  'n1-standard-8': { onDemand: 0.38, spot: 0.0963 },
  'g2-standard-4': { onDemand: 0.14679, spot: 0.05874 },
  'a2-highgpu-1g': { onDemand: 0.73948, spot: 0.29576 },
  'a2-highgpu-2g': { onDemand: 1.47895, spot: 0.59151 },
  'a2-highgpu-4g': { onDemand: 2.95791, spot: 1.18302 },
  'a2-highgpu-8g': { onDemand: 5.91582, spot: 2.36604 },
  'a2-ultragpu-1g': { onDemand: 1.09962, spot: 0.43983 },
  'a3-highgpu-1g': { onDemand: 1.18251, spot: 0.27193 },
  'a3-highgpu-2g': { onDemand: 2.36502, spot: 0.54387 },
  'a3-highgpu-4g': { onDemand: 4.73003, spot: 1.08774 },
};

/**
 * Per-GPU rows. The A100 80GB row is not in our source summary, so it is absent and such a
 * VM is reported as "price unknown" rather than guessed. The H100 on-demand row in
 * us-central1 looks anomalously low next to us-east4 (reference §10): shown as is.
 */
export const GPU_PRICES: Partial<Readonly<Record<GpuTypeId, HourlyPrice>>> = {
  'nvidia-tesla-t4': { onDemand: 0.35, spot: 0.14 },
  'nvidia-l4': { onDemand: 0.56004, spot: 0.2231 },
  'nvidia-tesla-a100': { onDemand: 2.93391, spot: 1.1472 },
  'nvidia-h100-80gb': { onDemand: 4.20076, spot: 2.253 },
};

/** The hourly price of a VM shape, or the reason it is unknown. */
export function priceOf(
  machineType: string,
  gpu: GpuTypeId | undefined,
  gpuCount: number,
): { price: HourlyPrice } | { unknown: string } {
  const machine = MACHINE_PRICES[machineType];
  if (!machine) return { unknown: `no price for machine type ${machineType} in the table` };
  if (!gpu || gpuCount === 0) return { price: machine };
  const g = GPU_PRICES[gpu];
  if (!g) return { unknown: `no price for GPU ${gpu} in the table` };
  return {
    price: {
      onDemand: round5(machine.onDemand + gpuCount * g.onDemand),
      spot: round5(machine.spot + gpuCount * g.spot),
    },
  };
}

function round5(x: number): number {
  return Math.round(x * 1e5) / 1e5;
}
