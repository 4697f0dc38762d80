/**
 * The event loop's layer for daemons going away and coming back later: a stream closing, a
 * daemon staying unreachable (lost), its process ending, the process host reporting on
 * getting it a daemon (or giving up), and a retry's backoff ending. Each fails or retries
 * the work's call in flight through loop-core.ts and hands the work's document back to the
 * flow (ADR 0013) until a new daemon says hello (daemon-streams.ts).
 */
import { GrpcCode } from '../../constructs/errors.ts';
import { LoopCore } from './loop-core.ts';
import type { DaemonSession } from './loop-types.ts';

export abstract class DaemonDepartures extends LoopCore {
  /** A daemon's stream ended; if it stays gone while a call is in flight, 'lost' follows. */
  protected onStreamClosed(session: DaemonSession): void {
    const rec = this.sessions.get(session);
    this.sessions.delete(session);
    if (!rec || rec.session !== session) return;
    rec.session = null;
    rec.snapshotParts.reset();
    if (this.ended) return;
    if (this.daemonLostAfterMs > 0 && (rec.lifecycle.inFlight || rec.lifecycle.stage === 'retry-wait')) {
      setTimeout(
        () => this.enqueue({ kind: 'lost', work: rec.name, session }),
        this.daemonLostAfterMs,
      ).unref();
    }
  }
  /** Still without a stream since `session` closed: the daemon (or its VM) is gone. */
  protected onDaemonLost(work: string, session: DaemonSession): void {
    const rec = this.works.get(work);
    if (!rec || rec.session !== null || rec.lastSession !== session) return;
    if (!rec.lifecycle.inFlight) return;
    // Waiting for a preempted VM to be started again: the host reports if that fails.
    if (rec.lifecycle.stage === 'awaiting-daemon' && rec.status.reason === 'preempted') return;
    rec.instanceId = null;
    rec.replica.takeBack();
    this.callFailed(
      rec,
      'daemon_lost',
      null,
      `the work's daemon has been unreachable for ${formatMs(this.daemonLostAfterMs)} (process or VM stopped, preempted, or cut off)`,
    );
  }
  /** A retry's backoff is over: send the next attempt (unless the call moved on meanwhile). */
  protected onRetryDue(work: string, hash: string): void {
    const rec = this.works.get(work);
    if (!rec || rec.call?.hash !== hash || rec.lifecycle.stage !== 'retry-wait') return;
    rec.call.attempt++;
    this.announceRerun(rec);
    this.sendRun(rec);
  }
  /** The local host saw the daemon process end: the flow holds the work's state again. */
  protected onDaemonProcessEnded(work: string, detail: string): void {
    const rec = this.works.get(work);
    if (!rec) return;
    if (rec.session) {
      this.sessions.delete(rec.session);
      rec.session = null;
    }
    rec.instanceId = null;
    rec.replica.takeBack();
    if (rec.call && rec.lifecycle.inFlight) {
      this.callFailed(rec, 'daemon_exit', null, `the work's daemon process ended (${detail})`);
    }
  }
  /**
   * See EventLoop.hostReport. A progress message shows only while the call waits for its
   * daemon. A failure ends the work's stream too (the host took its VM away, e.g. a spend cap)
   * and fails the call in flight.
   */
  protected onHostReport(work: string, message: string, failReason: string | undefined): void {
    const rec = this.works.get(work);
    if (!rec?.call) return;
    if (!failReason) {
      if (!rec.session && rec.lifecycle.stage === 'awaiting-daemon')
        this.setStatus(rec, { phase: 'pending', message });
      return;
    }
    if (rec.session) {
      rec.session.close(GrpcCode.UNAVAILABLE, message);
      this.sessions.delete(rec.session);
      rec.session = null;
      rec.instanceId = null;
      rec.replica.takeBack();
    }
    if (rec.lifecycle.inFlight) this.callFailed(rec, failReason, null, message);
  }
}

function formatMs(ms: number): string {
  return ms >= 1000 ? `${Math.round(ms / 1000)} s` : `${ms} ms`;
}
