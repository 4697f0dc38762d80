/**
 * Flow-side control of work VMs in the cloud: start a VM that is stopped (created stopped with
 * `startWith: 'first-run'`, stopped when idle, a preempted Spot VM, or stopped when an earlier
 * app ended) before a call, stop a VM whose work has been idle for `idleTimeoutSeconds`, and
 * stop every work VM once the app has ended (ADR 0012). The flow VM's metadata
 * (`lightning-work-vms`, written by the synthesis) lists the work VMs; the flow's own identity
 * (a metadata-server token) and a per-instance custom role (get/start/stop) authorize the
 * Compute Engine calls.
 *
 * No cdktf imports: the flow role loads this. Runtime wiring (cli/flow-command.ts):
 *   const vms = await WorkVmControl.fromMetadata();           // undefined outside the cloud
 *   when the app starts:  vms.startsWithFlow(W) && vms.ensureRunning(W)
 *   before dispatching a call to work W:  if (vms?.controls(W)) await vms.ensureRunning(W); vms?.workBusy(W)
 *   when W's call reaches a terminal phase:  vms?.workIdle(W)
 *   at app end:  await vms?.stopAll()   (or vms?.close() to keep them running)
 *
 * Once closed (app ended) it starts nothing: an ended app's VMs stay stopped.
 */
import { LightningError } from '../../constructs/errors.ts';
import { IdleWatch } from './idle-watch.ts';
import type { WorkActivity } from './work-activity.ts';

export interface WorkVm {
  readonly instance: string;
  readonly zone: string;
  readonly project: string;
  readonly startWith: 'flow' | 'first-run';
  readonly idleTimeoutSeconds: number | null;
}

export interface WorkVmEvent {
  readonly work: string;
  readonly action: 'starting' | 'running' | 'idle-stop' | 'stopped' | 'error';
  readonly detail?: string;
}

export interface WorkVmControlOptions {
  /** @default $GCE_METADATA_HOST, else metadata.google.internal */
  readonly metadataHost?: string;
  /** @default $LIGHTNING_COMPUTE_ENDPOINT, else https://compute.googleapis.com */
  readonly computeEndpoint?: string;
  /** @default 2000 */
  readonly pollIntervalMs?: number;
  /** How long after a preemption notice a VM may stay RUNNING before it is restarted anyway. @default 120000 */
  readonly preemptionStopMs?: number;
  /** Give up waiting for RUNNING after this long. @default 600000 (GPU capacity can take a while) */
  readonly startTimeoutMs?: number;
  /** Give up waiting for a stopped VM to reach TERMINATED after this long. @default 300000 */
  readonly stopTimeoutMs?: number;
  /**
   * How long a VM may answer 404/403 before a start gives up. On the first deploy the flow VM
   * can boot before Terraform has created a work VM or its IAM grant (they are created in
   * parallel); GCE answers 403 for a VM the caller has no grant on, existing or not.
   * @default 180000
   */
  readonly appearTimeoutMs?: number;
  readonly onEvent?: (e: WorkVmEvent) => void;
  /** GPU and UI activity the idle stop weighs besides calls. @default calls only */
  readonly activity?: WorkActivity;
  /** Called before an idle VM is stopped (the flow stops a server's running call first). */
  readonly beforeIdleStop?: (work: string, detail: string) => Promise<void>;
}

export class WorkVmControlError extends LightningError {
  constructor(
    readonly work: string,
    message: string,
    /** The Compute API's HTTP status, when it answered with an error. */
    readonly httpStatus?: number,
  ) {
    super('CLOUD_API', message);
  }
}

const RUNNING_SOON = new Set(['PROVISIONING', 'STAGING', 'RUNNING']);
/** Statuses in which a VM bills for no vCPU/GPU time (its disks still cost). */
const STOPPED = new Set(['TERMINATED', 'STOPPED', 'SUSPENDED']);

/** What {@link WorkVmControl.stopAll} did to one work's VM. */
export interface WorkVmStopResult {
  readonly work: string;
  readonly instance: string;
  /** 'stopped' by this call, 'was-stopped' already, or 'error' (see `detail`). */
  readonly outcome: 'stopped' | 'was-stopped' | 'error';
  readonly detail?: string;
}

export class WorkVmControl {
  /** The controller of this flow VM, or undefined when not on a lightning flow VM in the cloud. */
  static async fromMetadata(options: WorkVmControlOptions = {}): Promise<WorkVmControl | undefined> {
    if (process.env.LIGHTNING_CLOUD !== '1') return undefined;
    const host = options.metadataHost ?? process.env.GCE_METADATA_HOST ?? 'metadata.google.internal';
    const res = await fetch(`http://${host}/computeMetadata/v1/instance/attributes/lightning-work-vms`, {
      headers: { 'Metadata-Flavor': 'Google' },
    });
    if (res.status === 404) return undefined;
    if (!res.ok)
      throw new WorkVmControlError('', `metadata lightning-work-vms: HTTP ${res.status}`, res.status);
    return new WorkVmControl(JSON.parse(await res.text()) as Record<string, WorkVm>, options);
  }

  private readonly vms: ReadonlyMap<string, WorkVm>;
  private readonly metadataHost: string;
  private readonly endpoint: string;
  private readonly pollMs: number;
  private readonly preemptionStopMs: number;
  private readonly startTimeoutMs: number;
  private readonly stopTimeoutMs: number;
  private readonly appearTimeoutMs: number;
  private readonly onEvent: (e: WorkVmEvent) => void;
  private readonly starting = new Map<string, Promise<'running' | 'started'>>();
  private readonly idleWatch: IdleWatch;
  private closed = false;

  constructor(
    vms: Readonly<Record<string, WorkVm>>,
    private readonly options: WorkVmControlOptions = {},
  ) {
    this.vms = new Map(Object.entries(vms));
    this.metadataHost = options.metadataHost ?? process.env.GCE_METADATA_HOST ?? 'metadata.google.internal';
    this.endpoint = (
      options.computeEndpoint ??
      process.env.LIGHTNING_COMPUTE_ENDPOINT ??
      'https://compute.googleapis.com'
    ).replace(/\/+$/, '');
    this.pollMs = options.pollIntervalMs ?? 2000;
    this.preemptionStopMs = options.preemptionStopMs ?? 120_000;
    this.startTimeoutMs = options.startTimeoutMs ?? 600_000;
    this.stopTimeoutMs = options.stopTimeoutMs ?? 300_000;
    this.appearTimeoutMs = options.appearTimeoutMs ?? 180_000;
    this.onEvent = options.onEvent ?? (() => {});
    this.idleWatch = new IdleWatch((work, detail) => void this.idleStop(work, detail), {
      ...(options.activity ? { activity: options.activity } : {}),
    });
  }

  private async idleStop(work: string, detail: string): Promise<void> {
    if (this.closed) return;
    try {
      await this.options.beforeIdleStop?.(work, detail);
      this.onEvent({ work, action: 'idle-stop', detail });
      await this.stop(work);
      // The stopped call's status re-armed the watch meanwhile: the VM is stopped already.
      this.idleWatch.busy(work);
    } catch (err) {
      this.onEvent({ work, action: 'error', detail: (err as Error).message });
    }
  }

  /** Whether the flow starts/stops this work's VM. */
  controls(work: string): boolean {
    return this.vms.has(work);
  }

  /** Whether the work's VM runs from the app's start (`startWith: 'flow'`), not from its first call. */
  startsWithFlow(work: string): boolean {
    return this.vms.get(work)?.startWith === 'flow';
  }

  /** The controlled works' VM instance names, by work. */
  instances(): ReadonlyMap<string, string> {
    return new Map([...this.vms].map(([work, vm]) => [work, vm.instance]));
  }

  /**
   * Resolves once the work's VM is RUNNING (its daemon then dials the flow). Starts it if it
   * is stopped; concurrent calls share one start. 'started' when this call started it.
   */
  ensureRunning(work: string): Promise<'running' | 'started'> {
    if (this.closed) {
      return Promise.reject(
        new WorkVmControlError(work, `the app has ended; the VM of ${work} is not started again`),
      );
    }
    const pending = this.starting.get(work);
    if (pending) return pending;
    const p = this.start(work).finally(() => this.starting.delete(work));
    this.starting.set(work, p);
    return p;
  }

  /**
   * The work's VM got a preemption notice (its daemon said so): wait until GCE has stopped it
   * (about 30 s after the notice; a preempted Spot VM goes TERMINATED), then start it and
   * resolve once it is RUNNING. A VM still RUNNING `preemptionStopMs` after the notice was
   * not stopped after all: it is stopped and started, so a fresh daemon dials the flow (the
   * notified one has exited). Shares a start in flight, as {@link ensureRunning} does.
   */
  restartAfterPreemption(work: string): Promise<'running' | 'started'> {
    if (this.closed) {
      return Promise.reject(
        new WorkVmControlError(work, `the app has ended; the VM of ${work} is not started again`),
      );
    }
    const pending = this.starting.get(work);
    if (pending) return pending;
    const p = (async () => {
      const vm = this.vm(work);
      const deadline = Date.now() + this.preemptionStopMs;
      for (;;) {
        const status = ((await this.call(vm, 'GET', '')) as { status?: string }).status ?? 'UNKNOWN';
        if (status !== 'RUNNING') break;
        if (Date.now() > deadline) {
          this.onEvent({
            work,
            action: 'starting',
            detail: 'still RUNNING after the preemption notice: restarting it',
          });
          await this.stopAndWait(vm);
          break;
        }
        await new Promise((r) => setTimeout(r, this.pollMs));
      }
      return this.start(work);
    })().finally(() => this.starting.delete(work));
    this.starting.set(work, p);
    return p;
  }

  /** Stops the work's VM (its disk stays; it can be started again). */
  async stop(work: string): Promise<void> {
    const vm = this.vm(work);
    await this.call(vm, 'POST', '/stop');
    this.onEvent({ work, action: 'stopped' });
  }

  /** The work has a call running: cancel its idle stop. */
  workBusy(work: string): void {
    this.idleWatch.busy(work);
  }

  /**
   * The work's call ended (or, `runningServer`, it serves and its call keeps running): stop its
   * VM after its idle timeout unless it gets busy again (IdleWatch says what counts).
   */
  workIdle(work: string, runningServer = false): void {
    const vm = this.vms.get(work);
    if (!vm || vm.idleTimeoutSeconds === null || this.closed) return;
    this.idleWatch.idle(work, vm.idleTimeoutSeconds, runningServer);
  }

  /** Cancels pending idle stops and starts nothing from now on (the VMs are left as they are). */
  close(): void {
    this.closed = true;
    this.idleWatch.close();
  }

  /**
   * The app has ended: closes (nothing is started again), then stops every work VM and waits
   * until each is TERMINATED, so no GPU keeps billing and no daemon of this app keeps running.
   * A start still in flight is awaited first, so it cannot undo the stop. Never throws: each
   * VM's outcome is in the result (and an 'error' event).
   */
  async stopAll(): Promise<WorkVmStopResult[]> {
    this.close();
    return Promise.all(
      [...this.vms].map(async ([work, vm]): Promise<WorkVmStopResult> => {
        await this.starting.get(work)?.catch(() => {});
        try {
          const outcome = await this.stopAndWait(vm);
          if (outcome === 'stopped') this.onEvent({ work, action: 'stopped' });
          return { work, instance: vm.instance, outcome };
        } catch (err) {
          const detail = (err as Error).message;
          this.onEvent({ work, action: 'error', detail });
          return { work, instance: vm.instance, outcome: 'error', detail };
        }
      }),
    );
  }

  private async stopAndWait(vm: WorkVm): Promise<'stopped' | 'was-stopped'> {
    const status = async () => ((await this.call(vm, 'GET', '')) as { status?: string }).status ?? 'UNKNOWN';
    if (STOPPED.has(await status())) return 'was-stopped';
    await this.call(vm, 'POST', '/stop');
    const deadline = Date.now() + this.stopTimeoutMs;
    for (;;) {
      const now = await status();
      if (STOPPED.has(now)) return 'stopped';
      if (Date.now() > deadline) {
        throw new WorkVmControlError(
          vm.instance,
          `VM ${vm.instance} is still ${now} ${Math.round(this.stopTimeoutMs / 1000)} s after the stop request; stop it with gcloud compute instances stop ${vm.instance} --zone ${vm.zone}`,
        );
      }
      await new Promise((r) => setTimeout(r, this.pollMs));
    }
  }

  private vm(work: string): WorkVm {
    const vm = this.vms.get(work);
    if (!vm)
      throw new WorkVmControlError(work, `work ${work} has no flow-controlled VM (it starts with the flow)`);
    return vm;
  }

  private async start(work: string): Promise<'running' | 'started'> {
    const vm = this.vm(work);
    const deadline = Date.now() + this.startTimeoutMs;
    const appearBy = Date.now() + this.appearTimeoutMs;
    let started = false;
    for (;;) {
      // The app ended meanwhile: stop waiting (stopAll stops the VM, whatever this did).
      if (this.closed)
        throw new WorkVmControlError(work, `the app has ended; not waiting for ${vm.instance}`);
      let status: string;
      try {
        status = ((await this.call(vm, 'GET', '')) as { status?: string }).status ?? 'UNKNOWN';
      } catch (err) {
        const code = (err as WorkVmControlError).httpStatus;
        // Not created (or not granted) yet: Terraform may still be at it.
        if ((code !== 404 && code !== 403) || Date.now() > appearBy) throw err;
        await new Promise((r) => setTimeout(r, this.pollMs));
        continue;
      }
      if (status === 'RUNNING') {
        this.onEvent({ work, action: 'running' });
        return started ? 'started' : 'running';
      }
      if (!started && (status === 'TERMINATED' || status === 'STOPPED' || status === 'SUSPENDED')) {
        if (this.closed)
          throw new WorkVmControlError(work, `the app has ended; ${vm.instance} stays stopped`);
        this.onEvent({ work, action: 'starting', detail: `was ${status}` });
        await this.call(vm, 'POST', status === 'SUSPENDED' ? '/resume' : '/start');
        started = true;
      } else if (!RUNNING_SOON.has(status) && status !== 'STOPPING' && status !== 'SUSPENDING' && !started) {
        throw new WorkVmControlError(work, `VM ${vm.instance} is ${status}; cannot start it`);
      }
      if (Date.now() > deadline) {
        throw new WorkVmControlError(
          work,
          `VM ${vm.instance} is not RUNNING after ${Math.round(this.startTimeoutMs / 1000)} s (last status ${status}). ` +
            'GPU capacity may be exhausted in the zone: check `gcloud compute instances describe` and quota, or use another zone.',
        );
      }
      await new Promise((r) => setTimeout(r, this.pollMs));
    }
  }

  private async token(): Promise<string> {
    const res = await fetch(
      `http://${this.metadataHost}/computeMetadata/v1/instance/service-accounts/default/token`,
      {
        headers: { 'Metadata-Flavor': 'Google' },
      },
    );
    if (!res.ok) throw new WorkVmControlError('', `metadata token: HTTP ${res.status}`, res.status);
    return ((await res.json()) as { access_token: string }).access_token;
  }

  private async call(vm: WorkVm, method: 'GET' | 'POST', suffix: string): Promise<unknown> {
    const url = `${this.endpoint}/compute/v1/projects/${vm.project}/zones/${vm.zone}/instances/${vm.instance}${suffix}`;
    const res = await fetch(url, { method, headers: { Authorization: `Bearer ${await this.token()}` } });
    if (!res.ok) {
      const body = (await res.text()).slice(0, 300);
      const hint =
        res.status === 403
          ? ' The flow service account needs the lightningVmControl role on this VM (cdktf deploy grants it).'
          : '';
      throw new WorkVmControlError(
        vm.instance,
        `${method} ${suffix || 'instance'} on ${vm.instance}: HTTP ${res.status} ${body}.${hint}`,
        res.status,
      );
    }
    return res.json();
  }
}
