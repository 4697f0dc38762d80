import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Construct } from 'constructs';
import { LightningError, ProblemCollector } from './errors.ts';
import type { JsonObject, StateShape } from './json.ts';
import type { Path } from './path.ts';
import { BINDING } from './runtime-binding.ts';
import { Work, type WorkContext, type WorkProps } from './work.ts';

/**
 * Where a ScriptWork's `script` is looked for (against the app file's directory) and what is
 * there: checked before an app starts (load-app.ts) and again when a call spawns it.
 */
export function locateScript(
  appDir: string,
  script: string,
): { file: string; found: 'file' | 'missing' | 'directory' } {
  const file = resolve(appDir, script);
  try {
    return { file, found: statSync(file).isDirectory() ? 'directory' : 'file' };
  } catch {
    return { file, found: 'missing' };
  }
}

/** Call arguments as the work sees them: every Path fetched and replaced by its local file path. */
export type Fetched<A> = A extends Path
  ? string
  : A extends readonly (infer E)[]
    ? Fetched<E>[]
    : A extends object
      ? { [K in keyof A]: Fetched<A[K]> }
      : A;

/** Builds the script's argument list from the call's (fetched) arguments. */
export type ArgvBuilder<A> = (args: Fetched<A>, ctx: WorkContext) => readonly string[];

export interface ScriptWorkProps<S extends StateShape = StateShape, A extends object = JsonObject>
  extends WorkProps<S> {
  /**
   * The script, relative to the app file. Run by extension: `.py` with `python`, `.sh`
   * with `bash`, `.js`/`.mjs` with node, anything else executed directly.
   * Exactly one of `script` and `command` must be set.
   */
  readonly script?: string;
  /**
   * A full command instead of a script, e.g. `['tensorboard', '--logdir', 'logs']`. The
   * first element is looked up on PATH (or relative to the app file if it contains "/").
   */
  readonly command?: readonly string[];
  /**
   * Arguments after the script (or the command): a fixed list, or a function of the call's
   * arguments (Paths in them arrive as local file paths).
   * @default [] for a fixed list; with no builder, each run() argument becomes `--key value`
   */
  readonly args?: readonly string[] | ArgvBuilder<A>;
  /**
   * Working directory, relative to the app file.
   * @default the work's own directory, `.lightning/works/<name>/` beside the app file, so each
   * work sees only its own files and its inputs, as on its own VM in the cloud
   */
  readonly cwd?: string;
  /**
   * A port the script serves on: a number, or 'auto' for a free one. It is passed as
   * `PORT` and `LIGHTNING_PORT`; the work's `url` is set once the port answers.
   * @default no port
   */
  readonly port?: number | 'auto';
  /** Python interpreter for `.py` scripts. @default $LIGHTNING_PYTHON, else 'python3' */
  readonly python?: string;
}

/**
 * Wraps an existing script or program, unchanged: its exit code is the call's result, its
 * stdout/stderr are the work's logs, its declared outputs become Paths. A script that wants
 * to report live state POSTs JSON merge patches to `$LIGHTNING_STATE_URL` (see
 * `daemon/python/lightning_state.py` for a zero-dependency helper). A call can run more
 * than once (retries, a replaced daemon, `--resume`: ADR 0020); the script sees
 * `$LIGHTNING_ATTEMPT` (0 first) and `$LIGHTNING_RERUN` (empty on the first run, else
 * `retry`, `daemon_restart` or `resume`) and can resume from a checkpoint instead of redoing work.
 *
 * @example
 * const train = new ScriptWork(this, 'train', {
 *   script: 'train.py',
 *   args: (a: { lr: number }) => ['--lr', String(a.lr)],
 *   outputs: ['model.pt', 'lightning_logs/'],
 *   state: { loss: null as number | null },
 * });
 */
export class ScriptWork<S extends StateShape = StateShape, A extends object = JsonObject> extends Work<S, A> {
  override readonly props: ScriptWorkProps<S, A>;

  constructor(scope: Construct, id: string, props: ScriptWorkProps<S, A>) {
    super(scope, id, props);
    this.props = props;
    const problems = new ProblemCollector();
    const name = this.name;
    if ((props.script === undefined) === (props.command === undefined)) {
      problems.add(
        name,
        'exactly one of `script` and `command` must be set',
        'give `script` (a file beside the app) or `command` (an argv list)',
      );
    }
    if (props.command !== undefined && props.command.length === 0)
      problems.add(
        name,
        '`command` is empty',
        "give the program and its arguments, e.g. command: ['tensorboard', '--logdir', 'logs']",
      );
    const port = props.port;
    if (port !== undefined && port !== 'auto' && !(Number.isInteger(port) && port > 0 && port < 65536)) {
      problems.add(name, `port ${port} is not a TCP port`, "use 1-65535, or 'auto' for a free port");
    }
    problems.throwIfAny(`Invalid ScriptWork ${name}`);
  }

  override get servesPort(): number | 'auto' | undefined {
    return this.props.port;
  }

  /** Runs the script in the work's daemon, through the binding the daemon attached. */
  override async execute(args: A, ctx: WorkContext): Promise<void> {
    const runScript = this[BINDING]?.runScript;
    if (!runScript) {
      throw new LightningError(
        'WRONG_ROLE',
        `${this.name}: ScriptWork.execute() runs inside the work's daemon only`,
        {
          fix: `start it from the flow with ${this.name}.run()`,
        },
      );
    }
    return runScript(args as JsonObject, ctx);
  }
}
