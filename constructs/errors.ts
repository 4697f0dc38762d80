/**
 * The error tree. Every error has a stable `code` (for programs) and a message that says
 * what happened, why, and how to fix it (for people).
 *
 * ```
 * LightningError
 * ├── ValidationError   a construct or app file is wrong; carries the construct path
 * ├── DriveError        a Drive call failed; carries the key
 * ├── DaemonError       the daemon/flow protocol refused something; carries a gRPC code
 * └── WorkFailedError   a blocking work.run() call failed; carries the work's status
 * ```
 */
export class LightningError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** One problem found while validating a construct tree or an app file. */
export interface ValidationProblem {
  /** Construct path, e.g. `root.train`, or the app file for file-level problems. */
  readonly path: string;
  readonly message: string;
  /** How to fix it. */
  readonly fix?: string;
}

/** A construct, prop or app file is invalid. Collects every problem before it is thrown. */
export class ValidationError extends LightningError {
  readonly problems: readonly ValidationProblem[];
  constructor(problems: readonly ValidationProblem[], header = 'Invalid app') {
    const lines = problems.map((p) => `  - ${p.path}: ${p.message}${p.fix ? `\n    fix: ${p.fix}` : ''}`);
    super(
      'VALIDATION',
      `${header} (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${lines.join('\n')}`,
    );
    this.problems = problems;
  }

  /** The construct path of the first problem (most errors have one). */
  get path(): string {
    return this.problems[0]?.path ?? '';
  }
}

/** Collects validation problems so all of them are reported at once. */
export class ProblemCollector {
  readonly problems: ValidationProblem[] = [];
  add(path: string, message: string, fix?: string): void {
    this.problems.push(fix === undefined ? { path, message } : { path, message, fix });
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
    options?: { cause?: unknown; rule?: string },
  ) {
    super(`DRIVE_${driveCode}`, message, options);
    this.key = key;
    this.driveCode = driveCode;
    this.rule = options?.rule;
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

/** The protocol refused a message or a peer. Safe to send to the peer: no internals. */
export class DaemonError extends LightningError {
  readonly grpcCode: GrpcCode;
  constructor(grpcCode: GrpcCode, message: string, options?: { cause?: unknown }) {
    super(`DAEMON_${grpcCode}`, message, options);
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
      `${work} failed (${reason}${exitCode === null ? '' : `, exit code ${exitCode}`}): ${detail}\n` +
        `  Catch WorkFailedError in run() to react (retry with new arguments, stop the app), or give the ` +
        `work maxRetries / parallel: true.`,
    );
    this.work = work;
    this.exitCode = exitCode;
    this.reason = reason;
  }
}
