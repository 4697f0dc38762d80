/**
 * How a pass of the root flow's run() ends: normally, waiting on a blocking call (the
 * CallPending signal), or with an error that ends the app.
 */
import { WorkFailedError } from '../../constructs/errors.ts';
import type { WorkPhase } from '../../constructs/work-status.ts';
import type { AppEnd } from './loop-types.ts';

/**
 * Thrown inside flow.run() by a blocking call that has not succeeded yet: it ends the pass,
 * and the pass resumes on a later one. Not an Error, so `catch (e) { if (e instanceof Error)`
 * filters skip it. A pass in which one was thrown but did not reach the loop (a `try/catch`
 * around the call swallowed it) ends the app with a message saying how to catch right: see
 * `swallowedWaitEnd`.
 */
export class CallPending {
  constructor(
    readonly work: string,
    readonly phase: WorkPhase,
  ) {}
  toString(): string {
    return `${this.work}.run() is still ${this.phase}: the pass ends here and resumes when it has succeeded (this is not an error; do not catch it)`;
  }
}

export function swallowedWaitEnd(wait: CallPending, root: string): AppEnd {
  return {
    exitCode: 1,
    message:
      `${root}.run() caught the signal that ${wait.work}.run() is still ${wait.phase}, so code meant for a ` +
      'failure ran while the call was merely waiting (a try/catch around a blocking work.run()). ' +
      'To react to a real failure, rethrow everything else: ' +
      '`catch (err) { if (!(err instanceof WorkFailedError)) throw err; /* fallback */ }`; ' +
      'or give the call { parallel: true } and read work.status / work.hasFailed on later passes.',
  };
}

export function flowErrorEnd(err: unknown, root: string): AppEnd {
  if (err instanceof WorkFailedError) return { exitCode: 1, message: err.message };
  const detail = err instanceof Error ? (err.stack ?? err.message) : String(err);
  return { exitCode: 1, message: `${root}.run() threw, so the app ends:\n${detail}` };
}
