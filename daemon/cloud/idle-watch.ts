/**
 * When a work's VM counts idle (`idleTimeoutSeconds`; docs/deploy-gcp.md, "Idle stop"): for
 * the whole timeout no call of it was pending or running, its GPUs stayed under
 * IDLE_GPU_PERCENT and its UI tab got no request. A work whose call is a server that keeps
 * running (it has a url) counts idle the same way, but only if its machine reports GPU
 * utilisation: without that nothing tells a busy server from an idle one, so it is never
 * stopped while its call runs. Activity inside the timeout pushes the deadline to a full
 * timeout after it. One watch per VM controller (the VMs Terraform created, the WorkMap
 * members' VMs); the controller stops or deletes the VM in `onIdle`.
 *
 * No cdktf imports: the flow role loads this.
 */
import type { WorkActivity } from './work-activity.ts';

export interface IdleWatchOptions {
  /** GPU and UI activity; without it only calls count. @default none */
  readonly activity?: WorkActivity;
  /** Clock, ms. @default Date.now */
  readonly now?: () => number;
}

export class IdleWatch {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly now: () => number;

  constructor(
    private readonly onIdle: (work: string, detail: string) => void,
    private readonly options: IdleWatchOptions = {},
  ) {
    this.now = options.now ?? Date.now;
  }

  /** `work` has a call pending or running (and is no idle server): it is not idle. */
  busy(work: string): void {
    const t = this.timers.get(work);
    if (t) clearTimeout(t);
    this.timers.delete(work);
  }

  /**
   * `work`'s call ended, or it is a server whose call keeps running (`runningServer`): it is
   * idle once `seconds` pass without a call, GPU use or UI request.
   */
  idle(work: string, seconds: number, runningServer = false): void {
    this.busy(work);
    this.arm(work, seconds, runningServer, seconds * 1000);
  }

  private arm(work: string, seconds: number, runningServer: boolean, delayMs: number): void {
    const timer = setTimeout(() => {
      this.timers.delete(work);
      const activity = this.options.activity;
      const now = this.now();
      const full = seconds * 1000;
      if (runningServer && !activity?.hasGpu(work)) {
        this.arm(work, seconds, runningServer, full);
        return;
      }
      const last = activity?.lastActiveAt(work);
      if (last !== undefined && now - last < full) {
        this.arm(work, seconds, runningServer, full - (now - last));
        return;
      }
      this.onIdle(work, activity ? activity.describeIdle(work, seconds) : `idle for ${seconds} s`);
    }, delayMs);
    timer.unref();
    this.timers.set(work, timer);
  }

  /** Cancels every pending idle stop. */
  close(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }
}
