import { Construct } from 'constructs';
import type { CloudCompute } from './cloud-compute.ts';
import { checkedId, componentName } from './component-name.ts';
import type { Drive } from './drive.ts';
import { validateKey } from './drive-key.ts';
import { ProblemCollector } from './errors.ts';
import type { JsonObject, StateShape } from './json.ts';
import { Path, type Payload } from './path.ts';
import { BINDING, notRunning, type RunOptions, type WorkBinding } from './runtime-binding.ts';
import type { WorkStatus } from './work-status.ts';

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
   * A file (relative to the work's directory) the work writes its checkpoint to. When an
   * attempt ends without success (a preemption notice, a crash, a timeout) and the file
   * exists, the daemon saves it to the Drive; the next attempt of the same call gets it back
   * in place, named by `ctx.resumeFrom` and `$LIGHTNING_RESUME_FROM`. A success deletes it.
   * @default none (a re-run after a preemption starts from scratch)
   */
  readonly checkpoint?: string;
}

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
   * {@link WorkProps}), fetched from the Drive into the work's directory; undefined when
   * the call starts from scratch.
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
  /** Writes a line to the work's log (shown by the flow with the work's prefix). */
  log(line: string): void;
  /** Resolves a Path from the arguments to a local file, fetching it if needed. */
  fetch(path: Path, dest?: string): Promise<string>;
  /** Stores `value` as JSON in the Drive; put the returned Payload in state or args. */
  putPayload(name: string, value: unknown): Promise<Payload>;
  loadPayload<T = unknown>(payload: Payload): Promise<T>;
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
> extends Construct {
  /** Type guard that also works across copies of this package. */
  static isWork(x: unknown): x is Work {
    return typeof x === 'object' && x !== null && (x as Record<symbol, unknown>)[WORK_BRAND] === true;
  }

  readonly props: WorkProps<S>;
  /** @internal */
  [BINDING]: WorkBinding | undefined;

  constructor(scope: Construct, id: string, props: WorkProps<S> = {}) {
    super(scope, checkedId(scope, id, new.target.name, 'Work'));
    Object.defineProperty(this, WORK_BRAND, { value: true });
    this.props = props;
    this[BINDING] = undefined;
    const problems = new ProblemCollector();
    const name = componentName(this);
    for (const [field, value] of [
      ['maxRetries', props.maxRetries],
      ['retryBackoffSeconds', props.retryBackoffSeconds],
      ['timeoutSeconds', props.timeoutSeconds],
      ['stopGraceSeconds', props.stopGraceSeconds],
    ] as const) {
      if (value !== undefined && !(Number.isFinite(value) && value >= 0)) {
        problems.add(name, `${field} is ${value}; it must be a number >= 0`);
      }
    }
    if (props.checkpoint !== undefined) {
      try {
        validateKey(props.checkpoint);
      } catch (err) {
        problems.add(
          name,
          `checkpoint ${JSON.stringify(props.checkpoint)} is not a file path inside the work's directory: ${(err as Error).message}`,
          "name a relative file, e.g. checkpoint: 'checkpoints/last.ckpt'",
        );
      }
    }
    if (!/^[A-Za-z0-9_-]+$/.test(id)) {
      problems.add(name, `id "${id}" may only contain letters, digits, "_" and "-"`, 'rename the work');
    }
    problems.throwIfAny(`Invalid work ${name}`);
  }

  /** Dotted construct path relative to the app, e.g. `root.train`. */
  get name(): string {
    return componentName(this);
  }

  /** Initial state, as declared. */
  get initialState(): S {
    return (this.props.state ?? {}) as S;
  }

  /** The work's state. Flow: read it, or write to send state to the work. Work: write to report. */
  get state(): S {
    const b = this[BINDING];
    if (!b) throw notRunning(`${this.name}.state`);
    return b.state as S;
  }

  get status(): WorkStatus {
    const b = this[BINDING];
    if (!b) throw notRunning(`${this.name}.status`);
    return b.status;
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
    const b = this[BINDING];
    if (!b) throw notRunning(`${this.name}.run()`);
    b.run((args ?? {}) as JsonObject, options);
  }

  /** Stops the current call (SIGTERM, then SIGKILL after the grace period) and records `stopped`. */
  stop(): void {
    const b = this[BINDING];
    if (!b) throw notRunning(`${this.name}.stop()`);
    b.stop();
  }

  /**
   * A file or directory (trailing `/`) this work writes under its directory, as a Path in
   * the Drive. It exists once a call has succeeded (outputs are uploaded after success).
   */
  output(relativePath: string): Path {
    const key = validateKey(`works/${this.name}/${relativePath}`, { allowDirectory: true });
    return new Path('default', key, this.name);
  }

  /** Files the daemon uploads after a successful call (ScriptWork `outputs`). */
  get declaredOutputs(): readonly string[] {
    return [];
  }

  /** Paths the daemon places in the work directory before a call (ScriptWork `inputs`). */
  get declaredInputs(): Readonly<Record<string, Path>> {
    return {};
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
