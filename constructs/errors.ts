/**
 * The error tree. Every error has a stable, typed `code` (for programs), a message that says
 * what happened and why, and where there is one a `fix` (how to make it go away), for people.
 *
 * ```
 * LightningError        NOT_RUNNING, WRONG_ROLE, NOT_OWNER, STATE_VALUE, LISTEN, BUNDLE,
 *                       INVALID_ARGS, CALL_FAILED (daemon/work/call-failure.ts)
 * ├── ValidationError   VALIDATION: a construct, option or app file is wrong; carries the paths
 * ├── DriveError        DRIVE_*: a Drive call failed; carries the key
 * ├── DaemonError       DAEMON_*: the daemon/flow protocol refused something; carries a gRPC code
 * └── WorkFailedError   WORK_FAILED: a blocking work.run() call failed; carries the work's status
 * ```
 *
 * Errors that mean a bug in lightning-local itself (`unreachable`, `internal:`) stay plain
 * `Error`s; `test/unit/throw-sites-use-the-error-tree.test.ts` holds every other throw to this tree.
 */

/** Codes of {@link LightningError}s that have no subclass of their own. */
export type GeneralErrorCode =
  /** A construct's runtime member (state, status, run()) used outside a running app. */
  | 'NOT_RUNNING'
  /** Called from the wrong role, e.g. work.run() inside a work, ScriptWork.execute() in the flow. */
  | 'WRONG_ROLE'
  /** A work touched a component it does not own (ADR 0013). */
  | 'NOT_OWNER'
  /** A value that cannot be state (undefined in an array, a function, a cycle, a prototype). */
  | 'STATE_VALUE'
  /** A server cannot listen on the address it was given. */
  | 'LISTEN'
  /** The app bundle cannot be built (a path too long for the archive, ...). */
  | 'BUNDLE'
  /** work.run() got arguments that are not JSON. */
  | 'INVALID_ARGS'
  /** A call of a work did not succeed (its `reason` says how: exit_code, timeout, ...). */
  | 'CALL_FAILED'
  /** GCE could not give a work a VM: no capacity in any zone/fallback, no quota, a spend cap. */
  | 'CLOUD_CAPACITY'
  /** A Compute Engine or metadata-server call of the flow failed (GCE's own code is on the error). */
  | 'CLOUD_API'
  /** Synthesis could not fetch the VMs' Node runtime archive (ADR 0026). */
  | 'NODE_RUNTIME_UNAVAILABLE'
  /** The VMs' Node runtime archive has other bytes than the pinned integrity (ADR 0026). */
  | 'NODE_RUNTIME_INTEGRITY';

/** Every code a {@link LightningError} can carry. */
export type ErrorCode =
  | GeneralErrorCode
  | 'VALIDATION'
  | 'WORK_FAILED'
  | `DRIVE_${DriveErrorCode}`
  | `DAEMON_${GrpcCodeName}`
  /** An answer of the UI's HTTP API; the suffix is the code its JSON carries (gRPC-style names). */
  | `HTTP_${string}`;

export interface LightningErrorOptions {
  readonly cause?: unknown;
  /** How to fix it, for people: a command, a prop to change, a file to write. */
  readonly fix?: string;
}

export class LightningError extends Error {
  readonly code: ErrorCode;
  /** How to fix it, when the error knows. Also the last line of `message`. */
  readonly fix: string | undefined;
  /** What went wrong and why, without the fix line (for shapes that carry the fix apart). */
  readonly summary: string;
  constructor(code: ErrorCode, message: string, options: LightningErrorOptions = {}) {
    const { fix, ...errorOptions } = options;
    super(fix === undefined || message.includes(fix) ? message : `${message}\n  fix: ${fix}`, errorOptions);
    this.name = new.target.name;
    this.code = code;
    this.fix = fix;
    this.summary = message;
  }
}

/** One problem found while validating a construct tree or an app file. */
export interface ValidationProblem {
  /** Construct path, e.g. `root.train`, or the app file for file-level problems. */
  readonly path: string;
  readonly message: string;
  /** How to fix it: every problem a person can cause has one. */
  readonly fix: string;
}

/** A construct, prop or app file is invalid. Collects every problem before it is thrown. */
export class ValidationError extends LightningError {
  readonly problems: readonly ValidationProblem[];
  /** Every problem's fix, `; `-separated (each also stands beside its problem in `message`). */
  override readonly fix: string;
  constructor(problems: readonly ValidationProblem[], header = 'Invalid app') {
    const lines = problems.map((p) => `  - ${p.path}: ${p.message}\n    fix: ${p.fix}`);
    super(
      'VALIDATION',
      `${header} (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${lines.join('\n')}`,
    );
    this.problems = problems;
    this.fix = problems.map((p) => p.fix).join('; ');
  }

  /** The construct path of the first problem (most errors have one). */
  get path(): string {
    return this.problems[0]?.path ?? '';
  }
}

/** Collects validation problems so all of them are reported at once. */
export class ProblemCollector {
  readonly problems: ValidationProblem[] = [];
  add(path: string, message: string, fix: string): void {
    this.problems.push({ path, message, fix });
  }
  throwIfAny(header?: string): void {
    if (this.problems.length > 0) throw new ValidationError(this.problems, header);
  }
}

/** Stable codes for {@link DriveError}. */
export type DriveErrorCode = 'INVALID_KEY' | 'NOT_FOUND' | 'CONFLICT' | 'UNAVAILABLE' | 'INTEGRITY' | 'IO';

/** A Drive operation failed. `key` is the Drive key involved, `rule` the key rule broken. */
export class DriveError extends LightningError {
  readonly key: string;
  readonly driveCode: DriveErrorCode;
  readonly rule: string | undefined;
  constructor(
    driveCode: DriveErrorCode,
    key: string,
    message: string,
    options: LightningErrorOptions & { readonly rule?: string } = {},
  ) {
    const { rule: _rule, ...rest } = options;
    super(`DRIVE_${driveCode}`, message, rest);
    this.key = key;
    this.driveCode = driveCode;
    this.rule = options.rule;
  }
}

/**
 * gRPC status codes used by the runtime (numeric values as in grpc/status.proto, so they can
 * be handed to grpc-js directly without importing it here).
 */
export const GrpcCode = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;
export type GrpcCode = (typeof GrpcCode)[keyof typeof GrpcCode];
/** A gRPC status by name, as in `DAEMON_INVALID_ARGUMENT`. */
export type GrpcCodeName = keyof typeof GrpcCode;

const GRPC_NAMES = new Map<number, GrpcCodeName>(
  Object.entries(GrpcCode).map(([name, code]) => [code, name as GrpcCodeName]),
);

/** The protocol refused a message or a peer. Safe to send to the peer: no internals. */
export class DaemonError extends LightningError {
  readonly grpcCode: GrpcCode;
  constructor(grpcCode: GrpcCode, message: string, options?: LightningErrorOptions) {
    super(`DAEMON_${GRPC_NAMES.get(grpcCode) ?? 'UNKNOWN'}`, message, options);
    this.grpcCode = grpcCode;
  }
}

/** A blocking (`parallel: false`) `work.run()` call failed for good (retries used up). */
export class WorkFailedError extends LightningError {
  readonly work: string;
  readonly exitCode: number | null;
  readonly reason: string;
  constructor(work: string, reason: string, exitCode: number | null, detail: string) {
    super(
      'WORK_FAILED',
      `${work} failed (${reason}${exitCode === null ? '' : `, exit code ${exitCode}`}): ${detail}`,
      {
        fix:
          'catch WorkFailedError in run() to react (retry with new arguments, stop the app), or give the ' +
          'work maxRetries / parallel: true',
      },
    );
    this.work = work;
    this.exitCode = exitCode;
    this.reason = reason;
  }
}
