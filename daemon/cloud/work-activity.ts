/**
 * What a work did besides calls, for the idle stop (docs/deploy-gcp.md, "Idle stop"): its
 * GPUs' utilisation (sampled by its daemon with nvidia-smi, sent with each heartbeat) and the
 * requests the UI proxied to its tab. A work counts active at a moment when its busiest GPU
 * was at or over {@link IDLE_GPU_PERCENT}, or its tab got a request.
 *
 * No cdktf imports: the flow role loads this.
 */

/** GPU utilisation under this (percent) counts idle: a loaded model server idles at 0-2 %. */
export const IDLE_GPU_PERCENT = 10;

interface Activity {
  /** Last GPU sample (percent) and when it came; absent: the work's machine has no nvidia-smi. */
  gpu?: { percent: number; at: number };
  /** Last sample at or over the threshold. */
  gpuBusyAt?: number;
  /** Last request the UI proxied to the work's tab. */
  uiAt?: number;
}

export class WorkActivity {
  private readonly works = new Map<string, Activity>();

  constructor(private readonly now: () => number = Date.now) {}

  private of(work: string): Activity {
    let r = this.works.get(work);
    if (!r) {
      r = {};
      this.works.set(work, r);
    }
    return r;
  }

  /** A GPU sample from the work's daemon. */
  gpu(work: string, percent: number): void {
    const r = this.of(work);
    const at = this.now();
    r.gpu = { percent, at };
    if (percent >= IDLE_GPU_PERCENT) r.gpuBusyAt = at;
  }

  /** The UI proxied a request to the work's tab. */
  uiRequest(work: string): void {
    this.of(work).uiAt = this.now();
  }

  /** Whether the work's machine reports GPU utilisation (it has nvidia-smi). */
  hasGpu(work: string): boolean {
    return this.works.get(work)?.gpu !== undefined;
  }

  /** The last moment the work was active (GPU busy or a UI request), or undefined: never. */
  lastActiveAt(work: string): number | undefined {
    const r = this.works.get(work);
    const times = [r?.gpuBusyAt, r?.uiAt].filter((t): t is number => t !== undefined);
    return times.length > 0 ? Math.max(...times) : undefined;
  }

  /** Why the work counts idle, for its status: "idle 600 s, GPU 0 %, no UI requests". */
  describeIdle(work: string, seconds: number): string {
    const gpu = this.works.get(work)?.gpu;
    return `idle ${seconds} s, ${gpu ? `GPU ${gpu.percent} %` : 'no GPU'}, no UI requests`;
  }
}
