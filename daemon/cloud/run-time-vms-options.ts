/**
 * The options and events of RunTimeVms (run-time-vms.ts): what the flow passes in and hears
 * back about the VMs of WorkMap members.
 */
import type { Attempt } from './capacity-search.ts';
import type { WorkActivity } from './work-activity.ts';

export interface RunTimeVmEvent {
  readonly work: string;
  readonly action: 'attempt' | 'created' | 'restarted' | 'deleted' | 'failed' | 'spend-cap';
  readonly detail: string;
  readonly attempt?: Attempt;
}

export interface RunTimeVmsOptions {
  /** @default $GCE_METADATA_HOST, else metadata.google.internal */
  readonly metadataHost?: string;
  /** @default $LIGHTNING_COMPUTE_ENDPOINT, else https://compute.googleapis.com */
  readonly computeEndpoint?: string;
  /** Operation polling. @default 1000 */
  readonly pollIntervalMs?: number;
  /** How long after a preemption notice a VM may stay RUNNING before it is replaced anyway. @default 120000 */
  readonly preemptionStopMs?: number;
  /** How often the total spend is checked against maxTotalSpend. @default 15000 */
  readonly spendCheckMs?: number;
  /** Clock, ms (spend accounting). @default Date.now */
  readonly now?: () => number;
  readonly onEvent?: (e: RunTimeVmEvent) => void;
  /** GPU and UI activity the idle deletion weighs besides calls. @default calls only */
  readonly activity?: WorkActivity;
  /** Called before an idle member's VM is deleted (the flow stops a server's running call first). */
  readonly beforeIdleStop?: (work: string, detail: string) => Promise<void>;
  /**
   * The total spend cap was reached: stop these GPU works and fail their calls. Members' VMs
   * are deleted here; the VMs Terraform created (other works) are for the caller to stop.
   */
  readonly onTotalSpendReached?: (works: readonly string[], message: string) => void;
}

/** What became of one VM at the app's end. */
export interface RunTimeVmDeletion {
  readonly work: string;
  readonly instance: string;
  readonly zone: string;
  readonly outcome: 'deleted' | 'absent' | 'error';
  readonly detail?: string;
}
