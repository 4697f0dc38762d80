/** Lifecycle of a Work's current call. */
export type WorkPhase = 'not_started' | 'pending' | 'running' | 'succeeded' | 'failed' | 'stopped';

export const WORK_PHASES: readonly WorkPhase[] = [
  'not_started',
  'pending',
  'running',
  'succeeded',
  'failed',
  'stopped',
];

/**
 * Why a call runs again although it ran before (calls are at-least-once, ADR 0020):
 * - `retry`: the previous attempt failed (exit code, timeout, its daemon lost or hung) and
 *   the work has retries left (`maxRetries`); `attempt` counts these.
 * - `daemon_restart`: a new daemon process took the work over while the call ran.
 * - `resume`: the flow was resumed from its journal (`--resume`) and the call was running
 *   (its daemon did not come back), stopped or failed then.
 */
export type RerunReason = 'retry' | 'daemon_restart' | 'resume';

export const RERUN_REASONS: readonly RerunReason[] = ['retry', 'daemon_restart', 'resume'];

/** The status part of a Work's state (`state.status` in the app state tree). */
export interface WorkStatus {
  readonly phase: WorkPhase;
  /** Hash of the current call's arguments, null before the first call. */
  readonly callHash: string | null;
  /** 0 for the first attempt of the current call, then 1, 2, ... */
  readonly attempt: number;
  /** How many times the work was restarted (retries, daemon restarts). */
  readonly restarts: number;
  /** Unix ms of the last transition. */
  readonly updatedAt: number;
  readonly startedAt: number | null;
  readonly endedAt: number | null;
  readonly exitCode: number | null;
  /** Machine-readable reason for failed/stopped (e.g. "exit_code", "timeout", "spawn_error"). */
  readonly reason: string | null;
  /** What happened, why, and how to fix it. */
  readonly message: string | null;
  /** The work's server URL once its port answers. */
  readonly url: string | null;
}

export function initialStatus(now = Date.now()): WorkStatus {
  return {
    phase: 'not_started',
    callHash: null,
    attempt: 0,
    restarts: 0,
    updatedAt: now,
    startedAt: null,
    endedAt: null,
    exitCode: null,
    reason: null,
    message: null,
    url: null,
  };
}

export function isTerminal(phase: WorkPhase): boolean {
  return phase === 'succeeded' || phase === 'failed' || phase === 'stopped';
}
