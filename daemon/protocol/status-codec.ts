import type { WorkPhase } from '../../constructs/work-status.ts';
import { Phase } from '../../proto/gen/lightning/v1/runtime_pb.ts';

const TO_WIRE: Record<WorkPhase, Phase> = {
  not_started: Phase.NOT_STARTED,
  pending: Phase.PENDING,
  running: Phase.RUNNING,
  succeeded: Phase.SUCCEEDED,
  failed: Phase.FAILED,
  stopped: Phase.STOPPED,
};

const FROM_WIRE = new Map<Phase, WorkPhase>(Object.entries(TO_WIRE).map(([k, v]) => [v, k as WorkPhase]));

export function phaseToWire(phase: WorkPhase): Phase {
  return TO_WIRE[phase];
}

/** Undefined for PHASE_UNSPECIFIED or an unknown value (the caller rejects the message). */
export function phaseFromWire(phase: Phase): WorkPhase | undefined {
  return FROM_WIRE.get(phase);
}
