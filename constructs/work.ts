import type { Construct } from 'constructs';
import type { CloudCompute } from './cloud-compute.ts';
import { Component } from './component.ts';
import { hasBrand } from './component-name.ts';
import { validateKey } from './drive-key.ts';
import type { JsonObject, StateShape } from './json.ts';
import { Path } from './path.ts';
import type { RunOptions, WorkBinding } from './runtime-binding.ts';
import type { WorkContext } from './work-context.ts';
import type { WorkStatus } from './work-status.ts';

export type { WorkContext } from './work-context.ts';

const WORK_BRAND = Symbol.for('lightning-local.Work');

export interface WorkProps<S extends StateShape = StateShape> {
  /** Initial state of the work (its `vars`). @default {} */
  readonly state?: S;
  /**
   * When false, code after `work.run()` in the flow waits until the call succeeded (the
   * pass ends there and resumes on a later pass). When true, the flow goes on at once and
   * reads `work.status` on later passes.
   * @default false
   */
  readonly parallel?: boolean;
  /**
   * When true, calling run() again with the same arguments does nothing while the call is
   * pending, running, or after it succeeded. When false, a finished call is dispatched
   * again on every pass that calls run().
   * @default true
   */
  readonly cacheCalls?: boolean;
  /** Retries of a failed call before the work is `failed`. @default 0 */
  readonly maxRetries?: number;
  /** Delay before the first retry; doubles per retry, capped at 60 s. @default 1 */
  readonly retryBackoffSeconds?: number;
  /** A call running longer than this is killed and `failed` with reason "timeout". @default no timeout */
  readonly timeoutSeconds?: number;
  /** SIGTERM → SIGKILL grace period when stopping. @default 10 */
  readonly stopGraceSeconds?: number;
  /** Extra environment for the work's process. @default {} */
  readonly env?: Readonly<Record<string, string>>;
  /** Hardware in the cloud; ignored locally. @default CPU VM (e2-standard-2) */
  readonly compute?: CloudCompute;
  /**
   * Files (or directories, with a trailing `/`) the work writes, relative to its directory
   * (a ScriptWork: its cwd). Uploaded to the Drive after a successful call;
   * `work.output(name)` is their Path. The same for a TypeScript work and a ScriptWork.
   * @default []
   */
  readonly outputs?: readonly string[];
  /**
   * Paths to place in the work's directory before a call starts, by destination.
   * @default {}
   */
  readonly inputs?: Readonly<Record<string, Path>>;
  /**
   * A file (relative to the work's directory) the work writes its checkpoint to. When an
   * attempt ends without success (a preemption notice, a crash, a timeout) and the file
   * exists, the daemon saves it to the Drive; the next attempt of the same call gets it back
   * in place, named by `ctx.resumeFrom` and `$LIGHTNING_RESUME_FROM`. A success deletes it.
   * @default none (a re-run after a preemption starts from scratch)
   */
  readonly checkpoint?: string;
}

/**
 * A unit of work that runs in its own process (locally) or VM (cloud). Subclass it to run
 * TypeScript (`execute`), or use {@link ScriptWork} to wrap an existing script unchanged.
 *
 * In the flow, `work.run(args)` *declares* a call: the loop hashes the arguments and
 * dispatches a new call only when they change (see `cacheCalls`).
 *
 * @example
 * class Counter extends Work<{ count: number }> {
 *   constructor(scope: Construct, id: string) { super(scope, id, { state: { count: 0 } }); }
 *   override async execute(args: { to: number }) {
 *     for (let i = 0; i < args.to; i++) this.state.count++;
 *   }
 * }
 */
export abstract class Work<
  S extends StateShape = StateShape,
  A extends object = JsonObject,
> extends Component<S, WorkProps<S>, WorkBinding> {
  /** Type guard that also works across copies of this package. */
  static isWork(x: unknown): x is Work {
    return hasBrand(x, WORK_BRAND);
  }

  constructor(scope: Construct, id: string, props: WorkProps<S> = {}) {
    super(scope, id, props, 'Work', WORK_BRAND);
    const problems = this.idProblems(id, 'work');
    for (const [field, value] of [
      ['maxRetries', props.maxRetries],
      ['retryBackoffSeconds', props.retryBackoffSeconds],
      ['timeoutSeconds', props.timeoutSeconds],
      ['stopGraceSeconds', props.stopGraceSeconds],
    ] as const) {
      if (value !== undefined && !(Number.isFinite(value) && value >= 0)) {
        problems.add(
          this.name,
          `${field} is ${value}; it must be a number >= 0`,
          `set ${field} to 0 or more, or leave it out`,
        );
      }
    }
    if (props.checkpoint !== undefined) {
      try {
        validateKey(props.checkpoint);
      } catch (err) {
        problems.add(
          this.name,
          `checkpoint ${JSON.stringify(props.checkpoint)} is not a file path inside the work's directory: ${(err as Error).message}`,
          "name a relative file, e.g. checkpoint: 'checkpoints/last.ckpt'",
        );
      }
    }
    for (const out of props.outputs ?? []) {
      try {
        this.output(out);
      } catch (err) {
        problems.add(
          this.name,
          `output "${out}" is not a valid Drive key: ${(err as Error).message}`,
          'use a relative path inside the work directory',
        );
      }
    }
    problems.throwIfAny(`Invalid work ${this.name}`);
  }

  /**
   * The work's state. Flow: read it, or write to send state to the work. Work: write to report.
   */
  override get state(): S {
    return super.state;
  }

  get status(): WorkStatus {
    return this.bound('.status').status;
  }

  /** Shorthands for the current call's phase. */
  get isRunning(): boolean {
    return this.status.phase === 'running';
  }
  get hasSucceeded(): boolean {
    return this.status.phase === 'succeeded';
  }
  get hasFailed(): boolean {
    return this.status.phase === 'failed';
  }
  /** The work's server URL once its port answers, else null. */
  get url(): string | null {
    return this.status.url;
  }

  /**
   * Declares a call with `args` (flow role, inside run()). A new argument hash dispatches
   * the call; see `cacheCalls` and `parallel` in {@link WorkProps}.
   */
  run(args?: A, options: RunOptions = {}): void {
    this.bound('.run()').run((args ?? {}) as JsonObject, options);
  }

  /** Stops the current call (SIGTERM, then SIGKILL after the grace period) and records `stopped`. */
  stop(): void {
    this.bound('.stop()').stop();
  }

  /**
   * A file or directory (trailing `/`) this work writes under its directory, as a Path in
   * the Drive. It exists once a call has succeeded (outputs are uploaded after success).
   */
  output(relativePath: string): Path {
    const key = validateKey(`works/${this.name}/${relativePath}`, { allowDirectory: true });
    return new Path('default', key, this.name);
  }

  /** Files the daemon uploads after a successful call (`outputs`). */
  get declaredOutputs(): readonly string[] {
    return this.props.outputs ?? [];
  }

  /** Paths the daemon places in the work directory before a call (`inputs`). */
  get declaredInputs(): Readonly<Record<string, Path>> {
    return this.props.inputs ?? {};
  }

  /** The port the work serves on, if any: a number, or 'auto' for a free port. */
  get servesPort(): number | 'auto' | undefined {
    return undefined;
  }

  /**
   * Runs one call in the work's daemon. Resolve to succeed; throw (or reject) to fail.
   * `args` has Paths already fetched and replaced by local file paths when declared as such.
   */
  abstract execute(args: A, ctx: WorkContext): Promise<void>;
}
