import { LightningError } from '../../constructs/errors.ts';

/**
 * Why a call did not succeed, as the daemon reports it in a Status: `reason` is
 * machine-readable ("exit_code", "signal", "timeout", "spawn_error", "stopped",
 * "input_fetch", "output_upload", "user_exception"), the message is for people.
 */
export class CallFailure extends LightningError {
  readonly reason: string;
  readonly exitCode: number | null;
  /** True when the call was stopped on purpose (phase `stopped`, not `failed`). */
  readonly stopped: boolean;
  constructor(
    reason: string,
    message: string,
    options: { exitCode?: number | null; stopped?: boolean; cause?: unknown } = {},
  ) {
    super('CALL_FAILED', message, { cause: options.cause });
    this.reason = reason;
    this.exitCode = options.exitCode ?? null;
    this.stopped = options.stopped ?? false;
  }
}
