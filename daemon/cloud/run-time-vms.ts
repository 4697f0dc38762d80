/**
 * The VMs the flow creates and deletes at run time (ADR 0025): one per WorkMap member, from
 * the map's instance templates, through the Compute API, with the flow VM's identity (a
 * custom role limited by an IAM condition to VM names starting with the app's run-time
 * prefix). They are not Terraform resources: Terraform's state never sees them, and the flow
 * deletes every one of them when the app ends (none is left behind to bill).
 *
 * Placement goes through CapacitySearch (zones, fallback computes, Spot → on-demand, quota
 * check, hourly spend cap); each attempt is reported as an event (the flow puts it in the
 * work's status and its log). The total spend cap is watched here: once reached, GPU VMs are
 * deleted and no new GPU VM is created; the flow fails those works' calls naming the cap.
 *
 * Runtime wiring (cli/flow-command.ts):
 *   const rt = await RunTimeVms.fromMetadata({ onEvent });     // undefined outside the cloud
 *   when a call waits for member W:  if (rt?.manages(W)) rt.ensureVm(W)   (rejects with a CapacityError)
 *   when W's VM got a preemption notice:  rt.restartAfterPreemption(W)
 *   at app end:  await rt?.deleteAll()
 *
 * No cdktf imports: the flow role loads this.
 */
import { labelValue } from '../../constructs/cloud/gce-names.ts';
import {
  type RunTimeCandidate,
  type RunTimeVmsConfig,
  runTimeVmName,
} from '../../constructs/cloud/run-time-plan.ts';
import { CapacityError, CapacitySearch, STOCKOUT } from './capacity-search.ts';
import { ComputeApiError, ComputeClient } from './compute-api.ts';
import { IdleWatch } from './idle-watch.ts';
import type { RunTimeVmDeletion, RunTimeVmEvent, RunTimeVmsOptions } from './run-time-vms-options.ts';

export type { RunTimeVmDeletion, RunTimeVmEvent, RunTimeVmsOptions } from './run-time-vms-options.ts';

import { RunTimeSpend } from './run-time-spend.ts';

/** A member's VM while it exists. */
interface MemberVm {
  readonly name: string;
  readonly zone: string;
  readonly candidate: RunTimeCandidate;
  readonly since: number;
}

export const RUN_TIME_LABEL = 'lightning-run-time';

export class RunTimeVms {
  /** The controller of this flow VM, or undefined outside the cloud or without WorkMaps. */
  static async fromMetadata(options: RunTimeVmsOptions = {}): Promise<RunTimeVms | undefined> {
    if (process.env.LIGHTNING_CLOUD !== '1') return undefined;
    const host = options.metadataHost ?? process.env.GCE_METADATA_HOST ?? 'metadata.google.internal';
    const res = await fetch(`http://${host}/computeMetadata/v1/instance/attributes/lightning-run-time-vms`, {
      headers: { 'Metadata-Flavor': 'Google' },
    });
    if (res.status === 404) return undefined;
    if (!res.ok)
      throw new ComputeApiError(
        `metadata lightning-run-time-vms: HTTP ${res.status}`,
        'METADATA',
        res.status,
      );
    return new RunTimeVms(JSON.parse(await res.text()) as RunTimeVmsConfig, options);
  }

  readonly config: RunTimeVmsConfig;
  private readonly api: ComputeClient;
  private readonly search = new CapacitySearch();
  private readonly now: () => number;
  private readonly onEvent: (e: RunTimeVmEvent) => void;
  private readonly vms = new Map<string, MemberVm>();
  private readonly pending = new Map<string, Promise<MemberVm>>();
  private readonly deleting = new Map<string, Promise<void>>();
  private readonly templateMetadata = new Map<string, Promise<Record<string, string>>>();
  private readonly spend: RunTimeSpend;
  private closed = false;
  private readonly timer: NodeJS.Timeout | undefined;

  constructor(
    config: RunTimeVmsConfig,
    private readonly options: RunTimeVmsOptions = {},
  ) {
    this.config = config;
    this.api = new ComputeClient({
      project: config.project,
      ...(options.metadataHost ? { metadataHost: options.metadataHost } : {}),
      ...(options.computeEndpoint ? { endpoint: options.computeEndpoint } : {}),
      ...(options.pollIntervalMs ? { pollIntervalMs: options.pollIntervalMs } : {}),
    });
    this.now = options.now ?? Date.now;
    this.onEvent = options.onEvent ?? (() => {});
    this.spend = new RunTimeSpend(config, this.now);
    this.idleWatch = new IdleWatch((work, detail) => void this.idleDelete(work, detail), {
      ...(options.activity ? { activity: options.activity } : {}),
    });
    if (config.maxTotalSpend !== null) {
      this.timer = setInterval(() => void this.checkTotalSpend(), options.spendCheckMs ?? 15_000);
      this.timer.unref();
    }
  }

  /** The WorkMap `work` is a member of (or `work` itself, a work with fallbacks), if the flow creates its VM. */
  private mapOf(work: string): string | undefined {
    if (this.config.maps[work]?.single) return work;
    const i = work.lastIndexOf('.');
    const map = i > 0 ? work.slice(0, i) : '';
    return map in this.config.maps ? map : undefined;
  }

  /** Whether the flow creates `work`'s VM (a WorkMap member, or a work with fallbacks). */
  manages(work: string): boolean {
    return this.mapOf(work) !== undefined;
  }

  /** Whether `work`'s VM is created at the app's start (a work with fallbacks that starts with the flow). */
  startsWithFlow(work: string): boolean {
    return this.config.maps[work]?.single?.startWithFlow === true;
  }

  /** The member's VM, if it exists now. */
  vmOf(work: string): { readonly name: string; readonly zone: string } | undefined {
    return this.vms.get(work);
  }

  /**
   * Makes sure `work`'s VM exists (created from its map's templates); concurrent calls share
   * one creation. Rejects with a CapacityError when no candidate could be created.
   */
  ensureVm(work: string): Promise<{ readonly name: string; readonly zone: string }> {
    const existing = this.vms.get(work);
    if (existing) return Promise.resolve(existing);
    if (this.closed)
      return Promise.reject(
        new CapacityError(`the app has ended; no VM is created for ${work}`, 'ended', []),
      );
    const pending = this.pending.get(work);
    if (pending) return pending;
    const p = (this.deleting.get(work) ?? Promise.resolve())
      .then(() => this.create(work))
      .finally(() => this.pending.delete(work));
    this.pending.set(work, p);
    return p;
  }

  /** Run-time VMs that exist already (a restarted flow finds its members' VMs), listed once. */
  private existing: Promise<Map<string, string>> | undefined;

  private async create(work: string): Promise<MemberVm> {
    const map = this.config.maps[this.mapOf(work)!]!;
    const name = runTimeVmName(this.config.namePrefix, work);
    try {
      this.existing ??= this.api
        .listByLabel(RUN_TIME_LABEL, 'true')
        .then((l) => new Map(l.map((i) => [i.name, i.zone])));
      const zone = (await this.existing).get(name);
      if (zone !== undefined) {
        (await this.existing).delete(name);
        // Its shape is not recorded: the spend caps count it as the first candidate.
        const vm: MemberVm = { name, zone, candidate: map.candidates[0]!, since: this.now() };
        this.vms.set(work, vm);
        this.onEvent({
          work,
          action: 'created',
          detail: `${name} in ${zone} exists already (a restarted flow): kept`,
        });
        return vm;
      }
      const placed = await this.search.place(
        map.candidates,
        {
          region: this.config.region,
          quotas: () => this.api.regionQuotas(this.config.region),
          spendRefusal: (c) => this.spend.refusal(c, this.vms.values()),
          insert: async (c, zone) => {
            const metadata = { ...(await this.metadataOf(c.template)), 'lightning-work': work };
            await this.api.insertFromTemplate(zone, name, c.template, {
              metadata,
              labels: { [RUN_TIME_LABEL]: 'true', 'lightning-work': labelValue(work) },
            });
          },
        },
        (attempt) =>
          this.onEvent({
            work,
            action: 'attempt',
            detail: `${attempt.candidate}${attempt.zone ? ` in ${attempt.zone}` : ''}: ${attempt.outcome} (${attempt.detail})`,
            attempt,
          }),
      );
      const vm: MemberVm = { name, zone: placed.zone, candidate: placed.candidate, since: this.now() };
      if (this.closed) {
        // The app ended while GCE was creating it: delete it now, nothing may be left.
        await this.api.delete(placed.zone, name).catch(() => {});
        throw new CapacityError(`the app has ended; deleted ${name} again`, 'ended', placed.attempts);
      }
      this.vms.set(work, vm);
      this.onEvent({
        work,
        action: 'created',
        detail: `${name} (${placed.candidate.label}, ${placed.candidate.machineType}) in ${placed.zone} after ${placed.attempts.length} attempt(s)`,
      });
      return vm;
    } catch (err) {
      this.onEvent({ work, action: 'failed', detail: (err as Error).message });
      throw err;
    }
  }

  private metadataOf(template: string): Promise<Record<string, string>> {
    let m = this.templateMetadata.get(template);
    if (!m) {
      m = this.api.templateMetadata(template);
      m.catch(() => this.templateMetadata.delete(template));
      this.templateMetadata.set(template, m);
    }
    return m;
  }

  private readonly idleWatch: IdleWatch;

  private async idleDelete(work: string, detail: string): Promise<void> {
    await this.options.beforeIdleStop?.(work, detail).catch(() => {});
    await this.deleteVm(work, detail);
  }

  /** `work` has a call pending or running: cancel its idle deletion. */
  workBusy(work: string): void {
    this.idleWatch.busy(work);
  }

  /**
   * `work`'s call ended: with the map's `idleTimeoutSeconds`, delete its VM after that long
   * unless it gets busy again (a later call creates a new VM). Without it the VM stays until
   * the app ends.
   */
  workIdle(work: string, runningServer = false): void {
    const map = this.mapOf(work);
    const seconds = map ? this.config.maps[map]!.idleTimeoutSeconds : null;
    if (seconds === null || seconds === undefined || this.closed || !this.vms.has(work)) return;
    this.idleWatch.idle(work, seconds, runningServer);
  }

  /**
   * `work`'s VM got a preemption notice (its daemon said so): waits until GCE has stopped it,
   * then starts it again in place (its disk keeps Node and the bundle: a faster boot). When
   * GCE refuses the start (no capacity left in the zone) or the VM is gone, or it is still
   * RUNNING `preemptionStopMs` after the notice, it is deleted and created again through the
   * capacity search (a refused zone is skipped for that shape from then on). The call then
   * runs again from its checkpoint in the Drive, on whichever VM. Concurrent calls share one
   * recovery; rejects with a CapacityError when no VM could be had.
   */
  restartAfterPreemption(work: string): Promise<{ readonly name: string; readonly zone: string }> {
    if (this.closed)
      return Promise.reject(
        new CapacityError(`the app has ended; the VM of ${work} is not started again`, 'ended', []),
      );
    const pending = this.pending.get(work);
    if (pending) return pending;
    const p = this.recover(work).finally(() => this.pending.delete(work));
    this.pending.set(work, p);
    return p;
  }

  private async recover(work: string): Promise<MemberVm> {
    const vm = this.vms.get(work);
    if (!vm) return this.create(work);
    const deadline = this.now() + (this.options.preemptionStopMs ?? 120_000);
    let status: string | undefined;
    for (;;) {
      status = await this.api.status(vm.zone, vm.name);
      if ((status !== 'RUNNING' && status !== 'STOPPING') || this.now() > deadline || this.closed) break;
      await new Promise((r) => setTimeout(r, this.options.pollIntervalMs ?? 1000));
    }
    let why = status === undefined ? 'it is gone' : `it is still ${status} after the preemption notice`;
    if (status === 'TERMINATED' || status === 'STOPPED') {
      try {
        await this.api.start(vm.zone, vm.name);
        this.onEvent({ work, action: 'restarted', detail: `${vm.name} in ${vm.zone} after its preemption` });
        return vm;
      } catch (err) {
        if (!(err instanceof ComputeApiError)) throw err;
        if (STOCKOUT.test(err.gceCode)) this.search.block(vm.zone, vm.candidate);
        why = `its start was refused (${err.gceCode})`;
        this.onEvent({
          work,
          action: 'attempt',
          detail: `start of ${vm.name} in ${vm.zone} refused: ${err.gceCode} (${err.message}); creating it again from the template`,
        });
      }
    }
    await this.removeVm(work, `preempted, and ${why}`);
    return this.create(work);
  }

  /** Deletes `work`'s VM (idle, the app ended, or the spend cap stops it). */
  async deleteVm(work: string, why = 'the app ended'): Promise<RunTimeVmDeletion | undefined> {
    await this.pending.get(work)?.catch(() => {});
    return this.removeVm(work, why);
  }

  private async removeVm(work: string, why: string): Promise<RunTimeVmDeletion | undefined> {
    const vm = this.vms.get(work);
    if (!vm) return undefined;
    this.vms.delete(work);
    this.spend.closed(vm);
    const deleting = this.api.delete(vm.zone, vm.name);
    // A call that needs the work again meanwhile waits for the name to be free.
    this.deleting.set(
      work,
      deleting.then(
        () => {},
        () => {},
      ),
    );
    try {
      const outcome = await deleting;
      this.onEvent({ work, action: 'deleted', detail: `${vm.name} in ${vm.zone} (${why})` });
      return { work, instance: vm.name, zone: vm.zone, outcome };
    } catch (err) {
      const detail = (err as Error).message;
      this.onEvent({ work, action: 'failed', detail: `could not delete ${vm.name}: ${detail}` });
      return { work, instance: vm.name, zone: vm.zone, outcome: 'error', detail };
    } finally {
      this.deleting.delete(work);
    }
  }

  /**
   * The app has ended: creates nothing from now on and deletes every run-time VM, including
   * any this flow did not record (a crash between insert and bookkeeping): it lists the app's
   * run-time VMs by label. Never throws; each VM's outcome is in the result.
   */
  async deleteAll(): Promise<RunTimeVmDeletion[]> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.idleWatch.close();
    await Promise.all([...this.pending.values()].map((p) => p.catch(() => {})));
    const results = await Promise.all([...this.vms.keys()].map((w) => this.deleteVm(w)));
    const done = results.filter((r): r is RunTimeVmDeletion => r !== undefined);
    try {
      const left = (await this.api.listByLabel(RUN_TIME_LABEL, 'true')).filter((i) =>
        i.name.startsWith(this.config.namePrefix),
      );
      for (const i of left) {
        const outcome = await this.api.delete(i.zone, i.name).catch(() => 'error' as const);
        done.push({ work: '(unrecorded)', instance: i.name, zone: i.zone, outcome });
      }
    } catch (err) {
      done.push({ work: '(list)', instance: '', zone: '', outcome: 'error', detail: (err as Error).message });
    }
    return done;
  }

  /** Why `work` (a Terraform-created VM's work) may not be started now, or undefined. */
  startRefusal(work: string): string | undefined {
    return this.spend.startRefusal(work);
  }

  /** USD per hour of what runs now: Terraform's VMs plus the run-time VMs (null: a price is unknown). */
  hourlyUsd(): number | null {
    return this.spend.hourlyUsd(this.vms.values());
  }

  /** USD spent since the flow started (list prices; Terraform's VMs counted as running all along). */
  spentUsd(): number {
    return this.spend.spentUsd(this.vms.values());
  }

  /** Once the total spend reaches maxTotalSpend: delete every GPU VM and report the works. */
  async checkTotalSpend(): Promise<void> {
    if (this.closed) return;
    const reached = this.spend.reachTotal(this.vms.values());
    if (!reached) return;
    const gpuWorks = [...this.vms].filter(([, vm]) => vm.candidate.gpuCount > 0).map(([w]) => w);
    const works = [...gpuWorks, ...reached.staticGpu];
    for (const work of works) this.onEvent({ work, action: 'spend-cap', detail: reached.message });
    this.options.onTotalSpendReached?.(works, reached.message);
    const cap = this.config.maxTotalSpend;
    await Promise.all(gpuWorks.map((w) => this.deleteVm(w, `maxTotalSpend ${cap} USD reached`)));
  }
}
