/**
 * What a work's code gets from its daemon while a call runs. Its own module so the runtime
 * binding can name it without importing the Work class.
 */
import type { Drive } from './drive.ts';
import type { Path, Payload } from './path.ts';

/** Handed to {@link Work.execute} in the work's daemon. */
export interface WorkContext {
  /** Aborted when the flow stops this call (stop(), a superseding call, app shutdown). */
  readonly signal: AbortSignal;
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
  /** Writes a line to the work's log (shown by the flow with the work's prefix). */
  log(line: string): void;
  /** Resolves a Path from the arguments to a local file, fetching it if needed. */
  fetch(path: Path, dest?: string): Promise<string>;
  /** Stores `value` as JSON in the Drive; put the returned Payload in state or args. */
  putPayload(name: string, value: unknown): Promise<Payload>;
  loadPayload<T = unknown>(payload: Payload): Promise<T>;
}
