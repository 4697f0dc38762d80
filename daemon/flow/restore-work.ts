/**
 * `--resume`: a work's record as the journal left it (ADR 0020 for the reruns it implies).
 * Runs while the loop binds the work, before any daemon connects.
 */
import type { JsonValue } from '../../constructs/json.ts';
import type { ActiveCall, WorkRecord } from './loop-types.ts';

/**
 * Restores the work's status, call and daemon identity into `rec` from its journaled
 * document, and returns its state (undefined if the journal has none). A daemon that kept
 * running re-attaches with the same instance and epoch; a new one reruns the call.
 */
export function restoreWork(
  rec: WorkRecord,
  restored: Record<string, JsonValue>,
): Record<string, JsonValue> | undefined {
  if (isObject(restored.status)) Object.assign(rec.status, restored.status);
  // A call that ended failed or stopped is forgotten, so the next run() with the same
  // arguments dispatches it again: resuming is how a user retries after fixing the cause.
  // A succeeded call is kept (not re-run); a pending or running one is still in flight.
  const phase = rec.status.phase;
  if (isObject(restored.call) && (phase === 'failed' || phase === 'stopped')) {
    const { reason, message } = rec.status;
    rec.forgottenCall = {
      hash: (restored.call as unknown as ActiveCall).hash,
      argsJson: (restored.call as unknown as ActiveCall).argsJson,
      why: `the call had ${phase} before the flow restarted (${message?.split('\n')[0] ?? reason ?? phase}), and --resume runs it again`,
    };
  }
  if (isObject(restored.call) && phase !== 'failed' && phase !== 'stopped') {
    rec.call = { ...(restored.call as unknown as ActiveCall) };
    rec.restoredInFlight = phase === 'running' || phase === 'pending';
    // Where the call was: ended, running on a daemon that may re-attach, or (a retry was
    // scheduled, or its Run may not have reached a daemon) to be sent once one attaches.
    if (phase === 'succeeded') rec.lifecycle.to('ended');
    else if (phase === 'running') rec.lifecycle.to('running');
    else if (phase === 'pending' && rec.status.reason === 'retry_scheduled') {
      // The retry's timer died with the flow: the next attempt runs once a daemon attaches.
      rec.lifecycle.to('awaiting-daemon');
      rec.call.attempt++;
    } else if (phase === 'pending') rec.lifecycle.to('dispatched');
  }
  if (isObject(restored.daemon)) {
    const d = restored.daemon as { epoch?: number; instanceId?: string | null };
    rec.epoch = d.epoch ?? 0;
    rec.instanceId = d.instanceId ?? null;
  }
  return isObject(restored.vars) ? restored.vars : undefined;
}

function isObject(v: unknown): v is Record<string, JsonValue> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
