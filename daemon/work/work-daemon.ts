import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TransferProgress } from '../../constructs/drive.ts';
import type { JsonObject } from '../../constructs/json.ts';
import type { Path } from '../../constructs/path.ts';
import { ScriptWork } from '../../constructs/script-work.ts';
import type { WorkContext } from '../../constructs/work.ts';
import { pendingStatus, type WorkPhase } from '../../constructs/work-status.ts';
import { LogChunk_Stream, type Run } from '../../proto/gen/lightning/v1/runtime_pb.ts';
import { releaseOutputs, uploadOutputs } from '../drive/path-transfer.ts';
import { formatProgress, type ProgressSnapshot, throttledProgress } from '../drive/transfer-progress.ts';
import {
  applyPatch,
  captureOps,
  cloneState,
  mergePatchToOps,
  parseStateJson,
  toStateValue,
} from '../state/json-patch.ts';
import { callContext, PREEMPTED_FILE, portFor } from './call-context.ts';
import { CallFailure } from './call-failure.ts';
import { type CheckpointSlot, dropCheckpoint, restoreCheckpoint, saveCheckpoint } from './checkpoint.ts';
import { DaemonLink } from './daemon-link.ts';
import { probePort, resolvePathArgs, runScript } from './script-runner.ts';
import { StateEndpoint } from './state-endpoint.ts';
import type { WorkDaemonOptions } from './work-daemon-options.ts';

export type { WorkDaemonOptions } from './work-daemon-options.ts';

/**
 * How long a script may take to act on a preemption notice (flush its checkpoint) before it
 * is killed: GCE stops a Spot VM about 30 s after the notice; the rest is for saving the
 * checkpoint to the Drive and reporting to the flow.
 */
export const PREEMPTION_GRACE_MS = 20_000;

export { PREEMPTED_FILE } from './call-context.ts';

interface CurrentCall {
  readonly hash: string;
  readonly controller: AbortController;
  done: Promise<void>;
}

export class WorkDaemon extends DaemonLink {
  private current: CurrentCall | null = null;

  /** Run ids this daemon started, newest last (see startCall). */
  private startedRuns: string[] = [];

  private graceOverrideMs: number | undefined;

  /** The VM got a preemption notice: no call starts on it any more. */
  private preempted = false;

  private resolveExit!: (code: number) => void;

  /** Resolves with the process exit code once the daemon has shut down. */
  readonly exited: Promise<number>;

  /** The address in this work's `url` (WorkDaemonOptions.advertiseHost). */
  private readonly urlHost: string;

  constructor(opts: WorkDaemonOptions) {
    super(opts);
    this.urlHost = opts.advertiseHost ?? '127.0.0.1';
    this.exited = new Promise((resolve) => {
      this.resolveExit = resolve;
    });
  }

  protected override runScript(args: JsonObject, ctx: WorkContext): Promise<void> {
    const w = this.work as ScriptWork;
    const daemon = this;
    return runScript(w, args, ctx, {
      // Read when the kill starts: a Stop/Shutdown may carry its own grace period.
      get graceMs() {
        return daemon.graceOverrideMs ?? Math.round((w.props.stopGraceSeconds ?? 10) * 1000);
      },
      onLines: (stream, lines) =>
        this.log(stream === 'stderr' ? LogChunk_Stream.STDERR : LogChunk_Stream.STDOUT, lines),
      onUrl: (url) => this.setStatus({ url }),
      urlHost: this.urlHost,
    });
  }

  async start(): Promise<void> {
    await mkdir(this.workDir, { recursive: true });
    // A notice of an earlier boot of this disk (a preempted VM started again) is over.
    await rm(join(this.workDir, PREEMPTED_FILE), { force: true });
    this.endpoint = new StateEndpoint(this.stateToken, {
      read: () => this.vars,
      merge: (patch) => {
        const ops = mergePatchToOps(this.vars, patch, '');
        this.budget.admitOps(ops);
        applyPatch(this.vars, captureOps(ops));
        for (const op of ops) this.recordOp(op);
      },
    });
    await this.endpoint.listen();
    this.heartbeat = setInterval(() => void this.beat(), this.opts.heartbeatMs ?? 30_000);
    this.heartbeat.unref();
    this.connect();
  }

  /** A heartbeat, with the GPUs' utilisation when the machine reports it (the flow's idle stop). */
  private async beat(): Promise<void> {
    const gpu = this.connected ? await this.opts.gpuUtilization?.() : undefined;
    if (!this.connected) return;
    const value = {
      timestampMs: BigInt(Date.now()),
      ...(gpu === undefined ? {} : { gpuUtilizationPercent: gpu }),
    };
    this.send({ case: 'heartbeat', value });
  }

  /** Stops the current call (if any), closes the stream, resolves `exited`. */
  async shutdown(reason: string, graceMs?: number): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    // A script is killed after its grace period, so its stop always ends; a TypeScript work's
    // execute() that ignores its AbortSignal never would, and the daemon would outlive its
    // flow (found by the flow-kill fault suite). Wait that long, plus a margin, then go anyway:
    // the process exits after this, taking the execute() with it.
    const boundMs = (graceMs ?? Math.round((this.work.props.stopGraceSeconds ?? 10) * 1000)) + 2000;
    let bound: NodeJS.Timeout | undefined;
    const stopped = await Promise.race([
      this.stopCurrent(new CallFailure('stopped', `stopped: ${reason}`, { stopped: true }), graceMs).then(
        () => true,
      ),
      new Promise<false>((resolve) => {
        bound = setTimeout(() => resolve(false), boundMs);
      }),
    ]);
    clearTimeout(bound);
    if (!stopped) {
      this.log(LogChunk_Stream.DAEMON, [
        `${this.work.name}.execute() did not return within ${boundMs} ms of being stopped (it ignores ctx.signal); the daemon exits anyway`,
      ]);
    }
    this.flushOps();
    this.flushLogs();
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.heartbeat) clearInterval(this.heartbeat);
    await this.endpoint?.close();
    // Half-close and wait until the flow has read everything and closed its side (it does so
    // on our end), so the last messages are not lost; bounded for a flow that does not answer.
    await new Promise<void>((resolve) => {
      const call = this.call;
      if (!call) return resolve();
      // Not unref'd: the process must stay alive until the last messages are written.
      const timer = setTimeout(resolve, 500);
      call.once('status', () => {
        clearTimeout(timer);
        resolve();
      });
      call.end();
    });
    this.client?.close();
    this.resolveExit(0);
  }

  /**
   * The VM is about to be preempted (its `instance/preempted` metadata turned TRUE). The
   * script learns it from SIGTERM and from $LIGHTNING_PREEMPTED_FILE appearing, a TypeScript
   * work from `ctx.signal` (reason `preempted`); it has PREEMPTION_GRACE_MS to flush its
   * checkpoint. The call then ends `failed` with reason `preempted` (its checkpoint saved to
   * the Drive), which the flow answers by restarting the VM and running the call again; this
   * daemon ends, so it takes no further call on a VM about to stop.
   */
  async preemptionNotice(): Promise<void> {
    if (this.preempted || this.stopping) return;
    this.preempted = true;
    this.log(LogChunk_Stream.DAEMON, [
      'preemption notice: this Spot VM stops in about 30 s; telling the script (SIGTERM) and saving its checkpoint',
    ]);
    await writeFile(join(this.workDir, PREEMPTED_FILE), `${new Date().toISOString()}\n`).catch(() => {});
    await this.stopCurrent(
      new CallFailure(
        'preempted',
        'the VM was preempted (Spot capacity reclaimed); the flow restarts it and runs the call again from its last checkpoint',
      ),
      PREEMPTION_GRACE_MS,
    );
    await this.shutdown('the VM is being preempted');
  }

  protected startCall(run: Run): void {
    if (this.preempted) return; // the flow runs it again once the VM is back
    // A Run repeated on the way (or resent after a broken stream) has the id of one started
    // already: never run it twice. A few ids suffice: a copy follows its original closely.
    if (run.runId) {
      if (this.startedRuns.includes(run.runId)) return;
      this.startedRuns = [...this.startedRuns.slice(-15), run.runId];
    }
    const previous = this.current;
    // The same call re-sent (a flow that restarted or reconnected): it is already running.
    if (previous && previous.hash === run.callHash && !previous.controller.signal.aborted) return;
    const controller = new AbortController();
    const call: CurrentCall = { hash: run.callHash, controller, done: Promise.resolve() };
    this.current = call;
    call.done = (async () => {
      if (previous && previous.hash !== run.callHash) {
        previous.controller.abort(
          new CallFailure('stopped', 'superseded by a call with new arguments', { stopped: true }),
        );
      }
      await previous?.done;
      if (this.current !== call || this.stopping) return;
      await this.executeCall(run, controller);
    })();
  }

  protected async stopCurrent(reason: CallFailure, graceMs?: number): Promise<void> {
    const call = this.current;
    if (!call) return;
    if (graceMs !== undefined) this.graceOverrideMs = graceMs;
    call.controller.abort(reason);
    await call.done;
  }

  private async executeCall(run: Run, controller: AbortController): Promise<void> {
    const work = this.work;
    const started = Date.now();
    const slot: CheckpointSlot | undefined = work.props.checkpoint
      ? { drive: this.opts.drive, work: work.name, workDir: this.workDir, file: work.props.checkpoint }
      : undefined;
    this.setStatus(pendingStatus(run.callHash, run.attempt));
    let timeout: NodeJS.Timeout | undefined;
    try {
      const args = parseStateJson(run.argsJson || '{}', 'run arguments') as JsonObject;
      const port = await portFor(work);
      let resolvedArgs: JsonObject;
      let resumeFrom: string | undefined;
      try {
        if (slot) resumeFrom = await restoreCheckpoint(slot, run.callHash);
      } catch (err) {
        throw new CallFailure('input_fetch', `could not restore the checkpoint: ${(err as Error).message}`, {
          cause: err,
        });
      }
      if (resumeFrom)
        this.log(LogChunk_Stream.DAEMON, [
          `resuming from the checkpoint of an earlier attempt: ${slot!.file}`,
        ]);
      const ctx = this.context(controller.signal, port, run, resumeFrom);
      const fetched = new Set<string>();
      const fetchInput = async (path: Path, dest?: string) => {
        const local = await ctx.fetch(path, dest);
        fetched.add(local);
        return local;
      };
      try {
        for (const [dest, path] of Object.entries(work.declaredInputs)) await fetchInput(path, dest);
        resolvedArgs = await resolvePathArgs(args, (p) => fetchInput(p));
        // Outputs an earlier call handed to the Drive (uploads link, not copy) become this
        // call's own writable files again, so rewriting them cannot change uploaded objects.
        if (work.declaredOutputs.length > 0)
          await releaseOutputs(this.workDir, work.declaredOutputs, fetched);
      } catch (err) {
        if (err instanceof CallFailure) throw err;
        throw new CallFailure('input_fetch', `could not fetch the work's inputs: ${(err as Error).message}`, {
          cause: err,
        });
      }
      if (work.props.timeoutSeconds !== undefined) {
        const seconds = work.props.timeoutSeconds;
        timeout = setTimeout(
          () =>
            controller.abort(
              new CallFailure(
                'timeout',
                `the call ran longer than timeoutSeconds (${seconds} s) and was killed`,
              ),
            ),
          seconds * 1000,
        );
      }
      this.setStatus({ phase: 'running', startedAt: Date.now() });
      // A TypeScript Work that serves its port gets a url as a ScriptWork does (the script
      // runner probes those): once the port answers at the address other machines use.
      const probe =
        port !== undefined && !(work instanceof ScriptWork)
          ? probePort(this.urlHost, port, { onUrl: (url) => this.setStatus({ url }) }, controller.signal)
          : undefined;
      try {
        const execute = () => work.execute(resolvedArgs as never, ctx);
        await (this.opts.callScope ? this.opts.callScope(execute) : execute());
      } catch (err) {
        if (controller.signal.aborted && controller.signal.reason instanceof CallFailure)
          throw controller.signal.reason;
        if (err instanceof CallFailure) throw err;
        throw new CallFailure('user_exception', (err as Error)?.stack ?? String(err), { cause: err });
      } finally {
        probe?.cancel();
      }
      if (controller.signal.aborted) throw controller.signal.reason;
      if (timeout) clearTimeout(timeout);
      if (work.declaredOutputs.length > 0) {
        const progress = this.transferProgress();
        try {
          await uploadOutputs(
            this.opts.drive,
            work.name,
            this.workDir,
            work.declaredOutputs,
            progress.onProgress,
          );
          progress.finish();
        } catch (err) {
          throw new CallFailure(
            'output_upload',
            `could not upload the declared outputs: ${(err as Error).message}`,
            { cause: err },
          );
        }
      }
      if (slot) await dropCheckpoint(slot, run.callHash).catch(() => {});
      this.log(LogChunk_Stream.DAEMON, [`call succeeded in ${((Date.now() - started) / 1000).toFixed(1)} s`]);
      this.setStatus({ phase: 'succeeded', endedAt: Date.now(), exitCode: 0 });
    } catch (err) {
      const failure =
        err instanceof CallFailure
          ? err
          : new CallFailure('user_exception', String((err as Error)?.stack ?? err));
      const phase: WorkPhase = failure.stopped ? 'stopped' : 'failed';
      // What the attempt got done so far, for the next attempt (after a preemption, a crash, a timeout).
      if (slot && !failure.stopped) {
        const key = await saveCheckpoint(slot, run.callHash).catch((err: unknown) => {
          this.log(LogChunk_Stream.DAEMON, [`could not save the checkpoint: ${(err as Error).message}`]);
          return undefined;
        });
        if (key) this.log(LogChunk_Stream.DAEMON, [`checkpoint saved to the Drive: ${key}`]);
      }
      const ended = failure.reason === 'preempted' ? 'preempted' : phase;
      this.log(LogChunk_Stream.DAEMON, [`call ${ended}: ${failure.message.split('\n')[0]}`]);
      this.setStatus({
        phase,
        endedAt: Date.now(),
        exitCode: failure.exitCode,
        reason: failure.reason,
        message: failure.message,
      });
    } finally {
      if (timeout) clearTimeout(timeout);
      if (this.current?.controller === controller) this.current = null;
    }
  }

  /**
   * Progress of a Drive transfer: `state.transfer` (bytes, rate, ETA) about once a second, and
   * a log line every 5 s for transfers of 8 MiB or more.
   */
  private transferProgress(): { onProgress: (p: TransferProgress) => void; finish(): void } {
    let lastLine = 0;
    const t = throttledProgress((snap: ProgressSnapshot) => {
      const value = toStateValue(snap, '/transfer');
      this.vars.transfer = value;
      this.recordOp({ op: 'add', path: '/transfer', value: cloneState(value) });
      const big = (snap.totalBytes ?? snap.bytes) >= 8 * 1024 * 1024;
      if (big && (snap.done || performance.now() - lastLine >= 5000)) {
        lastLine = performance.now();
        this.log(LogChunk_Stream.DAEMON, [formatProgress(snap)]);
      }
    }, 1000);
    let used = false;
    return {
      onProgress: (p) => {
        used = true;
        t.onProgress(p);
      },
      finish: () => {
        if (used) t.finish();
      },
    };
  }

  private context(signal: AbortSignal, port: number | undefined, run: Run, resumeFrom?: string): WorkContext {
    return callContext(
      {
        work: this.work,
        workDir: this.workDir,
        appDir: this.opts.appDir,
        drive: this.opts.drive,
        env: this.opts.env ?? {},
        stateUrl: this.endpoint?.url ?? '',
        stateToken: this.stateToken,
        urlHost: this.urlHost,
        log: (line) => this.log(LogChunk_Stream.DAEMON, [line]),
        transferProgress: () => this.transferProgress(),
      },
      { signal, port, run, ...(resumeFrom ? { resumeFrom } : {}) },
    );
  }
}
