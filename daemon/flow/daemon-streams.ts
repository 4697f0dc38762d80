/**
 * The daemon side of the event loop: hello/welcome (epochs: a new daemon process fences older
 * ones and takes the work's state over, ADR 0013), sequenced deltas and statuses, snapshots,
 * rejections. A daemon going away (stream closed, lost, process ended, its host giving up)
 * is daemon-departures.ts, the layer under this one.
 */
import { create } from '@bufbuild/protobuf';
import type { LightningApp } from '../../constructs/app.ts';
import { DaemonError, GrpcCode } from '../../constructs/errors.ts';
import type { JsonValue } from '../../constructs/json.ts';
import { Work } from '../../constructs/work.ts';
import { isTerminal } from '../../constructs/work-status.ts';
import {
  type DaemonMessage,
  FlowMessageSchema,
  type Hello,
  LogChunk_Stream,
  type Snapshot,
  type StateDelta,
  type Status,
} from '../../proto/gen/lightning/v1/runtime_pb.ts';
import { splitText } from '../protocol/document-parts.ts';
import { opsFromWire, PROTOCOL_VERSION } from '../protocol/flow-service.ts';
import { phaseFromWire } from '../protocol/status-codec.ts';
import { parseStateJson, StateLimits } from '../state/json-patch.ts';
import { DaemonDepartures } from './daemon-departures.ts';
import type { DaemonSession, LogStream, WorkRecord } from './loop-types.ts';

export abstract class DaemonStreams extends DaemonDepartures {
  /**
   * Works whose Run went out on a stream that then broke, before the daemon said it had the
   * call: the same daemon came back, and the snapshot that answers its welcome tells whether
   * the Run arrived (its status names the call) or was lost with the stream (send it again).
   * Resending at once instead would run a call twice that the daemon got and finished while
   * only its reports were lost.
   */
  private readonly runsInDoubt = new Set<WorkRecord>();
  protected handleHello(session: DaemonSession, hello: Hello): void {
    if (hello.protocolVersion !== PROTOCOL_VERSION) {
      session.close(
        GrpcCode.FAILED_PRECONDITION,
        `protocol version ${hello.protocolVersion} is not supported (flow speaks ${PROTOCOL_VERSION}); run the same lightning-local version on both ends`,
      );
      return;
    }
    if (this.ended || this.endRequest) {
      session.close(GrpcCode.UNAVAILABLE, 'the app is shutting down');
      return;
    }
    let rec = this.works.get(hello.work);
    if (!rec) {
      const found = safeFind(this.app, hello.work);
      if (found) rec = this.works.get(found.name);
    }
    if (!rec) {
      session.close(GrpcCode.NOT_FOUND, `no work named "${hello.work}" in app ${this.app.name}`);
      return;
    }
    if (!hello.instanceId) {
      session.close(GrpcCode.INVALID_ARGUMENT, 'hello has no instance_id');
      return;
    }
    const resumed = rec.instanceId === hello.instanceId && Number(hello.epoch) === rec.epoch && rec.epoch > 0;
    // A call restored by --resume still waiting for this first daemon: a retry whose timer
    // died with the flow (announced below), or a call that ran (announced as a resume rerun).
    let restoredWaiting = rec.restoredInFlight;
    const restoredInFlight = rec.restoredInFlight;
    rec.restoredInFlight = false;
    if (rec.session && rec.session !== session) {
      const old = rec.session;
      this.sessions.delete(old);
      old.close(GrpcCode.ABORTED, `superseded by a newer connection for ${rec.name}`);
    }
    rec.session = session;
    rec.lastSession = session;
    this.sessions.set(session, rec);
    if (!resumed) {
      rec.epoch++;
      rec.instanceId = hello.instanceId;
      // The new daemon owns the document from here on, starting from the flow's copy.
      rec.replica.handToDaemon();
      this.changes.record(rec.name, {
        op: 'add',
        path: '/daemon',
        value: { epoch: rec.epoch, instanceId: rec.instanceId },
      });
      rec.appliedSeq = 0;
      // A new daemon process while a call was active: the old process (and its script) is
      // gone; run the call again on the new one.
      const stage = rec.lifecycle.stage;
      if (rec.call && (stage === 'running' || stage === 'dispatched')) {
        rec.status.restarts++;
        rec.call.rerun = restoredInFlight
          ? {
              reason: 'resume',
              why: 'the flow was resumed from its journal while the call ran, and the daemon that ran it did not come back',
            }
          : {
              reason: 'daemon_restart',
              why: 'a new daemon process took the work over while the call ran (the previous one ended or restarted)',
            };
        this.setStatus(rec, {
          phase: 'pending',
          reason: rec.call.rerun.reason,
          message: `running the call again: ${rec.call.rerun.why}`,
        });
        rec.lifecycle.to('awaiting-daemon');
        this.announceRerun(rec);
        restoredWaiting = false;
      }
    }
    // A retry that was waiting when the flow stopped runs now: say so, like any rerun.
    if (restoredWaiting && rec.lifecycle.stage === 'awaiting-daemon') this.announceRerun(rec);
    rec.awaitingSnapshot = true;
    rec.snapshotParts.reset();
    this.runsInDoubt.delete(rec);
    if (resumed && rec.lifecycle.stage === 'dispatched') this.runsInDoubt.add(rec);
    // The state in as many parts as it needs (the first message carries everything else).
    const pieces = splitText(JSON.stringify(rec.replica.vars));
    for (let part = 0; part < pieces.length; part++) {
      session.send(
        create(FlowMessageSchema, {
          kind: {
            case: 'welcome',
            value: {
              epoch: BigInt(rec.epoch),
              stateJson: pieces[part]!,
              part,
              parts: pieces.length,
            },
          },
        }),
      );
    }
    // Requests the owner may not have seen yet (it skips the ones it applied).
    for (const request of rec.replica.unconfirmed()) this.sendRequest(rec, request);
    if (rec.lifecycle.stage === 'awaiting-daemon') this.sendRun(rec);
  }
  protected handleMessage(session: DaemonSession, message: DaemonMessage): void {
    const rec = this.sessions.get(session);
    if (!rec) {
      session.close(GrpcCode.FAILED_PRECONDITION, 'send hello first');
      return;
    }
    const kind = message.kind;
    switch (kind.case) {
      case 'delta':
        this.sequenced(rec, session, kind.value, () => this.applyDelta(rec, kind.value));
        return;
      case 'status':
        this.sequenced(rec, session, kind.value, () => this.applyStatus(rec, kind.value));
        return;
      case 'snapshot':
        this.applySnapshot(rec, session, kind.value);
        return;
      case 'log':
        if (kind.value.lines.length > 0) {
          this.observer.onLog?.(rec.name, logStream(kind.value.stream), kind.value.lines);
        }
        return;
      case 'heartbeat':
        return;
      case 'hello':
        session.close(GrpcCode.FAILED_PRECONDITION, 'hello may be sent only once per stream');
        return;
      default:
        session.close(GrpcCode.INVALID_ARGUMENT, 'empty or unknown message kind');
    }
  }
  /** Epoch fencing and seq ordering for deltas and statuses. */
  protected sequenced(
    rec: WorkRecord,
    session: DaemonSession,
    m: { readonly work: string; readonly epoch: bigint; readonly seq: bigint },
    apply: () => void,
  ): void {
    if (m.work !== '' && m.work !== rec.name) {
      this.reject(
        rec,
        session,
        GrpcCode.INVALID_ARGUMENT,
        `message for "${m.work}" on the stream of ${rec.name}`,
      );
      return;
    }
    if (rec.snapshotParts.pending) {
      // Sent before the snapshot whose parts are arriving, and overtaken on the way (a faulty
      // link reorders): the snapshot covers it, like a duplicate. Anything newer is an error.
      if (Number(m.epoch) === rec.epoch && Number(m.seq) < (rec.snapshotParts.pendingSeq ?? 0)) {
        this.stats.duplicates++;
        return;
      }
      this.reject(
        rec,
        session,
        GrpcCode.INVALID_ARGUMENT,
        `a delta or status of ${rec.name} came between the parts of a snapshot`,
      );
      return;
    }
    const epoch = Number(m.epoch);
    if (epoch !== rec.epoch) {
      this.reject(
        rec,
        session,
        GrpcCode.FAILED_PRECONDITION,
        `stale epoch ${epoch} for ${rec.name} (current ${rec.epoch}): a newer daemon owns this work`,
      );
      return;
    }
    const seq = Number(m.seq);
    if (seq <= rec.appliedSeq) {
      this.stats.duplicates++;
      return;
    }
    if (rec.awaitingSnapshot) return;
    if (seq !== rec.appliedSeq + 1) {
      this.stats.gaps++;
      rec.awaitingSnapshot = true;
      session.send(
        create(FlowMessageSchema, {
          kind: {
            case: 'snapshotRequest',
            value: {
              epoch: BigInt(rec.epoch),
              reason: `gap: expected seq ${rec.appliedSeq + 1}, got ${seq}`,
              seq: BigInt(seq), // lets the daemon answer a repeated request only once
            },
          },
        }),
      );
      return;
    }
    try {
      apply();
    } catch (err) {
      const code = err instanceof DaemonError ? err.grpcCode : GrpcCode.INVALID_ARGUMENT;
      this.reject(rec, session, code, err instanceof Error ? err.message : String(err));
      return;
    }
    rec.appliedSeq = seq;
    rec.ackDue = true;
  }
  protected reject(rec: WorkRecord, session: DaemonSession, code: GrpcCode, message: string): void {
    this.stats.rejected++;
    this.observer.onNotice?.(`${rec.name}: rejected a message from its daemon: ${message}`);
    this.sessions.delete(session);
    if (rec.session === session) rec.session = null;
    rec.snapshotParts.reset();
    session.close(code, message);
  }
  protected applyDelta(rec: WorkRecord, delta: StateDelta): void {
    const ops = opsFromWire(delta.ops);
    rec.replica.applyOwnerDelta(ops, Number(delta.appliedFlowSeq));
    this.stats.deltasApplied++;
    this.stats.opsApplied += ops.length;
    if (ops.length > 0) this.changed = true;
  }
  protected applyStatus(rec: WorkRecord, s: Status): void {
    const phase = phaseFromWire(s.phase);
    if (!phase) throw new DaemonError(GrpcCode.INVALID_ARGUMENT, `status has no valid phase (${s.phase})`);
    if (!rec.call || s.callHash !== rec.call.hash) return; // a superseded call: stale
    if (rec.lifecycle.stage === 'retry-wait') return; // a retry is already scheduled for this failure
    const ts = Number(s.timestampMs) || Date.now();
    // Preempted, not failed: the call runs again on the restarted VM (not counted as a retry).
    if (phase === 'failed' && s.reason === 'preempted' && !this.ended) {
      this.callPreempted(rec, s.message);
      return;
    }
    if (phase === 'failed' && rec.call.attempt < (rec.work.props.maxRetries ?? 0) && !this.ended) {
      this.callFailed(rec, s.reason || 'exit_code', s.exitCode ?? null, s.message);
      return;
    }
    this.setStatus(rec, {
      phase,
      updatedAt: ts,
      ...(phase === 'running' && rec.status.phase !== 'running' ? { startedAt: ts } : {}),
      ...(isTerminal(phase) ? { endedAt: ts } : {}),
      exitCode: s.exitCode ?? (isTerminal(phase) ? rec.status.exitCode : null),
      reason: s.reason || null,
      message: s.message || null,
      // The daemon's status always carries its current URL: empty until this call's port answers.
      url: s.url || null,
    });
    if (phase === 'running') rec.lifecycle.to('running');
    else if (isTerminal(phase)) rec.lifecycle.to('ended');
  }
  protected applySnapshot(rec: WorkRecord, session: DaemonSession, snap: Snapshot): void {
    if (Number(snap.epoch) !== rec.epoch) {
      this.reject(
        rec,
        session,
        GrpcCode.FAILED_PRECONDITION,
        `stale epoch ${snap.epoch} in snapshot for ${rec.name}`,
      );
      return;
    }
    const seq = Number(snap.seq);
    let vars: JsonValue;
    try {
      const text = rec.snapshotParts.add(
        `${snap.epoch}/${snap.seq}`,
        snap.part,
        snap.parts,
        snap.stateJson,
        Number(snap.seq),
      );
      if (text === undefined) return; // more parts follow
      if (seq <= rec.appliedSeq) {
        this.stats.duplicates++;
        return;
      }
      vars = parseStateJson(
        text,
        `${rec.name} snapshot`,
        StateLimits.maxDocumentBytes + StateLimits.maxPartBytes,
      );
      if (typeof vars !== 'object' || vars === null || Array.isArray(vars)) {
        throw new DaemonError(GrpcCode.INVALID_ARGUMENT, 'snapshot state must be a JSON object');
      }
      if (snap.status) this.applyStatus(rec, snap.status);
    } catch (err) {
      const code = err instanceof DaemonError ? err.grpcCode : GrpcCode.INVALID_ARGUMENT;
      this.reject(rec, session, code, (err as Error).message);
      return;
    }
    rec.replica.applyOwnerSnapshot(vars as Record<string, JsonValue>, Number(snap.appliedFlowSeq));
    rec.appliedSeq = seq;
    rec.awaitingSnapshot = false;
    rec.ackDue = true;
    this.changed = true;
    // See runsInDoubt: the daemon is on another call (or none), so the Run never arrived.
    if (this.runsInDoubt.delete(rec) && rec.lifecycle.stage === 'dispatched' && rec.call) {
      if (snap.status?.callHash !== rec.call.hash) this.sendRun(rec, true);
    }
  }
}

function safeFind(app: LightningApp, name: string): Work | undefined {
  try {
    const found = app.find(name);
    return found && Work.isWork(found) ? found : undefined;
  } catch {
    return undefined;
  }
}

function logStream(s: LogChunk_Stream): LogStream {
  return s === LogChunk_Stream.STDERR ? 'stderr' : s === LogChunk_Stream.DAEMON ? 'daemon' : 'stdout';
}
