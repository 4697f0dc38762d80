/**
 * The lifecycle of one work's current call, as the loop drives it: an explicit state machine
 * instead of flags (a retry timer that also meant "retry pending", a "run unsent" boolean).
 *
 *   none ──declare──▶ awaiting-daemon ──stream──▶ dispatched ──daemon: running──▶ running
 *                          ▲  │                     │  ▲                          │
 *                          │  └──────declare────────┘  └─────new daemon───────────┤
 *   retry-wait ◀──failed, retries left── dispatched | running | awaiting-daemon ◀──┘
 *        └──timer──▶ awaiting-daemon | dispatched
 *   any ──succeeded | failed | stopped──▶ ended ──declare──▶ awaiting-daemon | dispatched
 *   ended ──rerun (same call, from outside: the UI's Restart)──▶ awaiting-daemon ──▶ dispatched
 *
 * The work's `status` (what users read) is written by the loop alone, from these
 * transitions and the daemon's reports; this class only knows where the call is. Leaving
 * `retry-wait` by any transition cancels its timer, so a stale retry cannot fire.
 */

export type CallStage =
  /** No call declared yet (or a restored call that ended, forgotten so it can run again). */
  | 'none'
  /** Declared; the Run has not reached a daemon (no stream yet; the host was asked for one). */
  | 'awaiting-daemon'
  /** The Run was sent on the current stream; the daemon has not reported it running. */
  | 'dispatched'
  /** The daemon reported the call running. */
  | 'running'
  /** An attempt failed and a retry is scheduled. */
  | 'retry-wait'
  /** Succeeded, failed or stopped: the status says which. */
  | 'ended';

const ALLOWED: Readonly<Record<CallStage, readonly CallStage[]>> = {
  none: ['awaiting-daemon', 'dispatched', 'running', 'ended'], // running, ended: restored by --resume
  'awaiting-daemon': ['awaiting-daemon', 'dispatched', 'running', 'retry-wait', 'ended'],
  dispatched: ['awaiting-daemon', 'dispatched', 'running', 'retry-wait', 'ended'],
  running: ['awaiting-daemon', 'dispatched', 'running', 'retry-wait', 'ended'],
  'retry-wait': ['awaiting-daemon', 'dispatched', 'ended'],
  ended: ['awaiting-daemon', 'dispatched', 'ended'],
};

export class CallLifecycle {
  private current: CallStage = 'none';
  private retryTimer: NodeJS.Timeout | null = null;

  constructor(private readonly work: string) {}

  get stage(): CallStage {
    return this.current;
  }

  /** A call is in flight: declared and neither ended nor waiting to be retried. */
  get inFlight(): boolean {
    return this.current === 'awaiting-daemon' || this.current === 'dispatched' || this.current === 'running';
  }

  to(next: Exclude<CallStage, 'retry-wait'>): void {
    this.move(next);
  }

  /**
   * The ended call runs again as it was (the UI's Restart). Only from `ended`: a call in
   * flight or waiting for a retry is still the current one. The caller sends it next.
   */
  rerun(): void {
    if (this.current !== 'ended') {
      throw new Error(`internal: ${this.work}'s call is ${this.current}; only an ended call can be re-run`);
    }
    this.move('awaiting-daemon');
  }

  /** Schedules `fire` in `delayMs` (on the loop's queue) and waits in `retry-wait`. */
  retryIn(delayMs: number, fire: () => void): void {
    this.move('retry-wait');
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (this.current === 'retry-wait') fire();
    }, delayMs);
  }

  /** The app ends: a scheduled retry must not fire. The stage stays as it was. */
  dispose(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  private move(next: CallStage): void {
    if (!ALLOWED[this.current].includes(next)) {
      throw new Error(`internal: ${this.work}'s call cannot go from ${this.current} to ${next}`);
    }
    if (this.retryTimer) {
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
    this.current = next;
  }
}
