/**
 * The spend accounting of one flow run (ADR 0025): what the app costs per hour now and has cost
 * since the flow started, at list prices, and whether a new VM may start under
 * `maxHourlySpend` / `maxTotalSpend`. Terraform's VMs are counted as running all along (until
 * the total cap stops the GPU ones); the run-time VMs from their creation to their deletion.
 *
 * Pure bookkeeping: RunTimeVms owns the VMs and asks this. No cdktf imports: the flow role
 * loads this.
 */
import type { RunTimeCandidate, RunTimeVmsConfig } from '../../constructs/cloud/run-time-plan.ts';

/** A run-time VM as the accounting sees it: its shape and since when it bills. */
export interface BilledVm {
  readonly candidate: RunTimeCandidate;
  readonly since: number;
}

export class RunTimeSpend {
  private readonly startedAt: number;
  /** USD of VMs deleted so far (running ones are added when asked). */
  private closedUsd = 0;
  /** Set once the total cap is reached: no new GPU VM from then on. */
  totalReached = false;
  /** When the total cap stopped the GPU works Terraform created (their price no longer accrues). */
  private staticGpuStoppedAt: number | null = null;

  constructor(
    private readonly config: RunTimeVmsConfig,
    private readonly now: () => number,
  ) {
    this.startedAt = now();
  }

  /** USD a VM has cost so far. */
  costOf(vm: BilledVm): number {
    return ((vm.candidate.hourlyUsd ?? 0) * (this.now() - vm.since)) / 3_600_000;
  }

  /** `vm` was deleted: its cost so far stays in the total. */
  closed(vm: BilledVm): void {
    this.closedUsd += this.costOf(vm);
  }

  /** Hourly price of the GPU works Terraform created. */
  private staticGpuHourly(): number {
    return (this.config.staticGpuWorks ?? []).reduce((s, w) => s + (w.hourlyUsd ?? 0), 0);
  }

  /** Why `work` (a Terraform-created VM's work) may not be started now, or undefined. */
  startRefusal(work: string): string | undefined {
    if (this.staticGpuStoppedAt === null) return undefined;
    if (!(this.config.staticGpuWorks ?? []).some((w) => w.work === work)) return undefined;
    return `maxTotalSpend ${this.config.maxTotalSpend} USD is reached: GPU works are not started again`;
  }

  /** USD per hour of what runs now: Terraform's VMs plus `running` (null: a price is unknown). */
  hourlyUsd(running: Iterable<BilledVm>): number | null {
    let sum = this.config.baseHourlyUsd;
    if (sum !== null && this.staticGpuStoppedAt !== null) sum -= this.staticGpuHourly();
    for (const vm of running) {
      if (sum === null || vm.candidate.hourlyUsd === null) return null;
      sum += vm.candidate.hourlyUsd;
    }
    return sum;
  }

  /** USD spent since the flow started (list prices; Terraform's VMs counted as running all along). */
  spentUsd(running: Iterable<BilledVm>): number {
    const hours = (this.now() - this.startedAt) / 3_600_000;
    let spent = this.closedUsd + (this.config.baseHourlyUsd ?? 0) * hours;
    if (this.staticGpuStoppedAt !== null)
      spent -= (this.staticGpuHourly() * (this.now() - this.staticGpuStoppedAt)) / 3_600_000;
    for (const vm of running) spent += this.costOf(vm);
    return spent;
  }

  /** Why `c` may not start now next to `running` (a spend cap), or undefined. */
  refusal(c: RunTimeCandidate, running: Iterable<BilledVm>): string | undefined {
    const { maxHourlySpend: hourlyCap, maxTotalSpend: totalCap } = this.config;
    if (this.totalReached && c.gpuCount > 0)
      return `maxTotalSpend ${totalCap} USD is reached (spent ${this.spentUsd(running).toFixed(2)} USD): no new GPU VM`;
    if (hourlyCap === null) return undefined;
    const now = this.hourlyUsd(running);
    if (now === null || c.hourlyUsd === null)
      return `maxHourlySpend ${hourlyCap} USD/h is set but the price of ${c.hourlyUsd === null ? c.machineType : 'a running VM'} is not in the price table, so the cap cannot be kept`;
    const after = now + c.hourlyUsd;
    if (after > hourlyCap + 1e-9)
      return `starting ${c.label} (${c.machineType}, ${c.hourlyUsd} USD/h) would take the app to ${after.toFixed(2)} USD/h, over maxHourlySpend ${hourlyCap} USD/h`;
    return undefined;
  }

  /**
   * Whether the total cap is reached now (once): then the GPU works Terraform created stop
   * accruing, and the caller stops every GPU work; the message says so.
   */
  reachTotal(
    running: Iterable<BilledVm>,
  ): { readonly message: string; readonly staticGpu: string[] } | undefined {
    const cap = this.config.maxTotalSpend;
    if (cap === null || this.totalReached) return undefined;
    const spent = this.spentUsd(running);
    if (spent < cap) return undefined;
    this.totalReached = true;
    const staticGpu = (this.config.staticGpuWorks ?? []).map((w) => w.work);
    if (staticGpu.length > 0) this.staticGpuStoppedAt = this.now();
    return {
      message: `maxTotalSpend ${cap} USD reached (spent ${spent.toFixed(2)} USD at list prices): GPU works are stopped, their VMs deleted (WorkMap members) or stopped`,
      staticGpu,
    };
  }
}
