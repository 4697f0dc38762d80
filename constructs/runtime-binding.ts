/**
 * The seam between the declarative construct tree and a runtime role. Constructors only
 * declare; a role (flow loop, work daemon) attaches a binding to each component after the
 * tree is built. Not exported from the public entry.
 */
import { LightningError } from './errors.ts';
import type { JsonObject } from './json.ts';
import type { WorkContext } from './work-context.ts';
import type { WorkStatus } from './work-status.ts';

export const BINDING = Symbol.for('lightning-local.binding');

export interface RunOptions {
  /** Overrides the work's `parallel` prop for this call. */
  readonly parallel?: boolean;
}

/** What a Work construct delegates to while an app runs. */
export interface WorkBinding {
  readonly state: object;
  readonly status: WorkStatus;
  run(args: JsonObject, options: RunOptions): void;
  stop(): void;
  /**
   * Runs the ScriptWork's script for one call (daemon/work/script-runner.ts). Only the
   * daemon serving this work provides it; without it ScriptWork.execute() fails.
   */
  readonly runScript?: (args: JsonObject, ctx: WorkContext) => Promise<void>;
}

/** What a Flow construct delegates to while an app runs. */
export interface FlowBinding {
  readonly state: object;
  stopApp(message: string): void;
  failApp(message: string): void;
}

/** What a WorkMap tells the running role: a Work created on first use (bind it). */
export interface WorkMapBinding<W = unknown> {
  workCreated(work: W): void;
}

export function notRunning(what: string): LightningError {
  return new LightningError(
    'NOT_RUNNING',
    `${what} is only available while the app runs (inside flow.run() under \`lightning-local run\`): constructors only declare components.`,
    { fix: 'move this call into run()' },
  );
}
