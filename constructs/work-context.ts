/**
 * What a work's code gets from its daemon while a call runs. Its own module so the runtime
 * binding can name it without importing the Work class.
 */
import type { Drive } from './drive.ts';
import type { Path, Payload } from './path.ts';
import type { RerunReason } from './work-status.ts';

/** Handed to {@link Work.execute} in the work's daemon. */
export interface WorkContext {
  /**
   * Aborted when the flow stops this call (stop(), a superseding call, app shutdown) or the
   * VM is about to be preempted (the reason is then a failure with `reason: 'preempted'`:
   * write the checkpoint now, the VM stops about 30 s after the notice).
   */
  readonly signal: AbortSignal;
  /**
   * The checkpoint file of an earlier attempt of this same call (see `checkpoint` in
   * WorkProps), fetched from the Drive into the work's directory; undefined when the call
   * starts from scratch.
   */
  readonly resumeFrom?: string;
  /** The work's own directory: cwd for scripts, where inputs are placed. */
  readonly workDir: string;
  /** Directory of the app file (scripts are resolved against it). */
  readonly appDir: string;
  /** Port given to the work (ScriptWork `port`), if any. */
  readonly port: number | undefined;
  /** The app's Drive. */
  readonly drive: Drive;
  /** Environment for child processes: process env, app `--env`, work env, LIGHTNING_* vars. */
  readonly env: Readonly<Record<string, string>>;
  /** 0 for the first attempt of this call, then 1, 2, ... on retries (`WorkStatus.attempt`). */
  readonly attempt: number;
  /**
   * Why this call runs again, or null the first time it runs: the call is at-least-once, so
   * what it did before (files, external side effects, increments of its state) may have
   * happened already. The work's state is the last the flow received, not its value at
   * the call's start. Scripts get the same as `LIGHTNING_RERUN` (empty the first time) and
   * `LIGHTNING_ATTEMPT`.
   */
  readonly rerun: RerunReason | null;
  /** Writes a line to the work's log (shown by the flow with the work's prefix). */
  log(line: string): void;
  /** Resolves a Path from the arguments to a local file, fetching it if needed. */
  fetch(path: Path, dest?: string): Promise<string>;
  /** Stores `value` as JSON in the Drive; put the returned Payload in state or args. */
  putPayload(name: string, value: unknown): Promise<Payload>;
  loadPayload<T = unknown>(payload: Payload): Promise<T>;
}
