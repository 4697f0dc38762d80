/**
 * The work daemon: serves one Work of an app. It dials the flow, authenticates, says Hello,
 * and then runs the calls the flow sends: fetch inputs, execute (a script through execa or
 * a TypeScript `execute()`), upload outputs, report status. State changes the Work makes
 * are batched per tick into one sequenced StateDelta. If the stream breaks, it reconnects
 * with capped exponential backoff and resyncs with a snapshot; the script keeps running.
 *
 * Ordering: every delta, status and snapshot carries the epoch the flow gave this process
 * and the next seq. A status is always sent after the ops produced before it, so the flow
 * sees state and status in the order they happened.
 *
 * Ownership (ADR 0013): this daemon owns the work's state document. The flow's writes arrive
 * as numbered requests (flow → daemon StateDelta); each is applied once, in seq order, into
 * the daemon's one order of changes, and the deltas sent back say up to which request they
 * include (`applied_flow_seq`). A request that does not apply (the work deleted what it
 * replaces) is refused whole and logged; it is still counted as handled.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import type { LightningApp } from '../../constructs/app.ts';
import type { Drive, TransferProgress } from '../../constructs/drive.ts';
import { DaemonError, GrpcCode } from '../../constructs/errors.ts';
import type { JsonObject, JsonValue } from '../../constructs/json.ts';
import { type Path, Payload } from '../../constructs/path.ts';
import { BINDING } from '../../constructs/runtime-binding.ts';
import { SCRIPT_RUNNER, ScriptWork } from '../../constructs/script-work.ts';
import { Work, type WorkContext } from '../../constructs/work.ts';
import { initialStatus, type WorkPhase, type WorkStatus } from '../../constructs/work-status.ts';
import {
  type DaemonMessage,
  DaemonMessageSchema,
  type FlowMessage,
  LogChunk_Stream,
  type Run,
  type StatusSchema,
} from '../../proto/gen/lightning/v1/runtime_pb.ts';
import { fetchPath, uploadOutputs } from '../drive/path-transfer.ts';
import { formatProgress, type ProgressSnapshot, throttledProgress } from '../drive/transfer-progress.ts';
import {
  decodeFlowMessage,
  FlowServiceClient,
  grpcChannelOptions,
  opsFromWire,
  opsToWire,
  PROTOCOL_VERSION,
} from '../protocol/flow-service.ts';
import { phaseToWire } from '../protocol/status-codec.ts';
import {
  applyPatch,
  captureOps,
  cloneState,
  mergePatchToOps,
  type PatchOperation,
  parseStateJson,
  toStateValue,
} from '../state/json-patch.ts';
import { flushPendingArrays, readonlyView, recordingView } from '../state/state-recorder.ts';
import { CallFailure } from './call-failure.ts';
import { probePort, resolvePathArgs, runScript } from './script-runner.ts';
import { StateEndpoint } from './state-endpoint.ts';

export interface WorkDaemonOptions {
  readonly app: LightningApp;
  /** Directory of the app file: scripts resolve against it. */
  readonly appDir: string;
  /** Directory for the work's files (cwd, inputs): `<appDir>/.lightning/works/<name>` by default. */
  readonly workDir?: string;
  readonly workName: string;
  /** host:port of the flow's gRPC server. */
  readonly flowAddress: string;
  readonly token: string;
  readonly drive: Drive;
  /** Extra environment for the work (app-level `--env`). */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * Address other machines reach this work's servers at (its `url` names it, and the port
   * is probed there). In the cloud, the VM's internal IP (vm-boot.mjs passes it from the
   * metadata server), so the flow's UI proxy and other works on other VMs can call it.
   * @default '127.0.0.1' (local: every work on this machine)
   */
  readonly advertiseHost?: string;
  /** TLS for cloud mode. @default insecure (loopback) */
  readonly credentials?: grpc.ChannelCredentials;
  /** Daemon diagnostics (not the script's output). @default stderr */
  readonly diagnostics?: (line: string) => void;
  /** Max reconnect backoff. @default 5000 */
  readonly maxBackoffMs?: number;
  /**
   * Heartbeat interval: a liveness signal for the flow that also keeps idle connections
   * through NATs and load balancers warm. Rare, so 100 idle works cost the flow nothing.
   * @default 30000
   */
  readonly heartbeatMs?: number;
  /**
   * Called with the document as it is in each delta and snapshot sent (JSON text): the
   * owner's sequence of states, for tests and tools that check what the flow observed.
   * @default none
   */
  readonly onStateSent?: (epoch: number, seq: number, stateJson: string) => void;
}

interface CurrentCall {
  readonly hash: string;
  readonly controller: AbortController;
  done: Promise<void>;
}

const MAX_BUFFERED_LOG_LINES = 2000;

export class WorkDaemon {
  readonly work: Work;
  private readonly opts: WorkDaemonOptions;
  private readonly instanceId = randomUUID();
  /** The address in this work's `url` (WorkDaemonOptions.advertiseHost). */
  private readonly urlHost: string;
  private readonly stateToken = randomBytes(24).toString('hex');
  private readonly workDir: string;
  private readonly diag: (line: string) => void;
  private client: InstanceType<typeof FlowServiceClient> | null = null;
  private call: grpc.ClientDuplexStream<DaemonMessage, Buffer> | null = null;
  private connected = false;
  private epoch = 0;
  private seq = 0;
  /** Highest flow request (seq) applied in this epoch, and whether the flow has yet to hear of it. */
  private appliedFlowSeq = 0;
  private flowSeqDue = false;
  private vars: Record<string, JsonValue>;
  private readonly status: { -readonly [K in keyof WorkStatus]: WorkStatus[K] } = initialStatus();
  private pendingOps: PatchOperation[] = [];
  private flushScheduled = false;
  private logBuffer: { stream: LogChunk_Stream; lines: string[] }[] = [];
  private logFlushScheduled = false;
  private bufferedLogLines = 0;
  private current: CurrentCall | null = null;
  private graceOverrideMs: number | undefined;
  /** True while the stream's write buffer is full (see flushOps). */
  private blocked = false;
  /** Writes merged into a pending one (for benchmarks and tests). */
  coalesced = 0;
  private backoffMs: number;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private stopping = false;
  private endpoint: StateEndpoint | null = null;
  private resolveExit!: (code: number) => void;
  /** Resolves with the process exit code once the daemon has shut down. */
  readonly exited: Promise<number>;

  constructor(opts: WorkDaemonOptions) {
    this.opts = opts;
    this.urlHost = opts.advertiseHost ?? '127.0.0.1';
    this.backoffMs = Math.min(100, opts.maxBackoffMs ?? 100);
    this.diag = opts.diagnostics ?? ((line) => process.stderr.write(`[daemon ${opts.workName}] ${line}\n`));
    const found = opts.app.find(opts.workName);
    if (!found || !Work.isWork(found)) {
      throw new DaemonError(
        GrpcCode.NOT_FOUND,
        `app ${opts.app.name} has no work named "${opts.workName}" (works: ${opts.app
          .works()
          .map((w) => w.name)
          .join(', ')})`,
      );
    }
    this.work = found;
    this.workDir = opts.workDir ?? join(opts.appDir, '.lightning', 'works', found.name);
    this.vars = toStateValue(found.initialState, '') as Record<string, JsonValue>;
    this.bindState();
    this.exited = new Promise((resolve) => {
      this.resolveExit = resolve;
    });
    const self = this;
    (globalThis as Record<symbol, unknown>)[SCRIPT_RUNNER] = (
      w: ScriptWork,
      args: JsonObject,
      ctx: WorkContext,
    ) =>
      runScript(w, args, ctx, {
        // Read when the kill starts: a Stop/Shutdown may carry its own grace period.
        get graceMs() {
          return self.graceOverrideMs ?? Math.round((w.props.stopGraceSeconds ?? 10) * 1000);
        },
        onLines: (stream, lines) =>
          this.log(stream === 'stderr' ? LogChunk_Stream.STDERR : LogChunk_Stream.STDOUT, lines),
        onUrl: (url) => this.setStatus({ url }),
        urlHost: this.urlHost,
      });
  }

  /** Where this daemon's sequence stands (tests and tools). */
  get sequence(): { epoch: number; seq: number; appliedFlowSeq: number; connected: boolean; unsent: number } {
    return {
      epoch: this.epoch,
      seq: this.seq,
      appliedFlowSeq: this.appliedFlowSeq,
      connected: this.connected,
      unsent: this.pendingOps.length + (this.flushScheduled ? 1 : 0),
    };
  }

  async start(): Promise<void> {
    await mkdir(this.workDir, { recursive: true });
    this.endpoint = new StateEndpoint(this.stateToken, {
      read: () => this.vars,
      merge: (patch) => {
        const ops = mergePatchToOps(this.vars, patch, '');
        applyPatch(this.vars, captureOps(ops));
        for (const op of ops) this.recordOp(op);
      },
    });
    await this.endpoint.listen();
    this.heartbeat = setInterval(() => {
      if (this.connected) {
        this.send({ case: 'heartbeat', value: { timestampMs: BigInt(Date.now()) } });
      }
    }, this.opts.heartbeatMs ?? 30_000);
    this.heartbeat.unref();
    this.connect();
  }

  /** Stops the current call (if any), closes the stream, resolves `exited`. */
  async shutdown(reason: string, graceMs?: number): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    await this.stopCurrent(new CallFailure('stopped', `stopped: ${reason}`, { stopped: true }), graceMs);
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

  // ---- connection ----

  private connect(): void {
    if (this.stopping) return;
    this.client ??= new FlowServiceClient(
      this.opts.flowAddress,
      this.opts.credentials ?? grpc.credentials.createInsecure(),
      grpcChannelOptions(),
    );
    const metadata = new grpc.Metadata();
    metadata.set('authorization', `Bearer ${this.opts.token}`);
    const call = (
      this.client as unknown as { attach(md: grpc.Metadata): grpc.ClientDuplexStream<DaemonMessage, Buffer> }
    ).attach(metadata);
    this.call = call;
    let ended = false;
    const onEnd = (why: string) => {
      if (ended) return;
      ended = true;
      if (this.call === call) {
        this.call = null;
        this.connected = false;
        this.blocked = false;
      }
      if (!this.stopping) {
        this.diag(
          `connection to the flow at ${this.opts.flowAddress} ended (${why}); reconnecting in ${this.backoffMs} ms`,
        );
        this.scheduleReconnect();
      }
    };
    call.on('data', (bytes: Buffer) => {
      try {
        this.handle(decodeFlowMessage(bytes));
      } catch (err) {
        this.diag(`rejected a message from the flow: ${(err as Error).message}`);
        call.cancel();
      }
    });
    call.on('error', (err: grpc.ServiceError) => {
      if (err.code === grpc.status.UNAUTHENTICATED) {
        this.diag(`the flow refused our token (${err.details}). Check LIGHTNING_TOKEN.`);
      }
      onEnd(`${grpc.status[err.code] ?? err.code}: ${err.details}`);
    });
    call.on('end', () => onEnd('stream ended'));
    call.on('close', () => onEnd('stream closed'));
    call.write(
      create(DaemonMessageSchema, {
        kind: {
          case: 'hello',
          value: {
            protocolVersion: PROTOCOL_VERSION,
            work: this.work.name,
            instanceId: this.instanceId,
            epoch: BigInt(this.epoch),
            pid: process.pid,
            hostname: hostname(),
          },
        },
      }),
    );
  }

  private scheduleReconnect(): void {
    if (this.reconnectTimer || this.stopping) return;
    const jitter = 0.8 + Math.random() * 0.4;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.connect();
    }, this.backoffMs * jitter);
    this.backoffMs = Math.min(this.opts.maxBackoffMs ?? 5000, this.backoffMs * 2);
  }

  private send(kind: MessageInitShape<typeof DaemonMessageSchema>['kind']): void {
    if (!this.call || !this.connected) return;
    this.call.write(create(DaemonMessageSchema, { kind }));
  }

  // ---- flow → daemon ----

  private handle(message: FlowMessage): void {
    const kind = message.kind;
    switch (kind.case) {
      case 'welcome': {
        const epoch = Number(kind.value.epoch);
        if (epoch !== this.epoch) {
          // A new registration: the flow's copy of our state is the truth to start from.
          this.epoch = epoch;
          this.seq = 0;
          this.appliedFlowSeq = 0;
          const vars = parseStateJson(kind.value.stateJson || '{}', 'welcome state');
          if (typeof vars === 'object' && vars !== null && !Array.isArray(vars)) {
            this.vars = vars as Record<string, JsonValue>;
            this.bindState();
          }
        }
        this.connected = true;
        this.backoffMs = Math.min(100, this.opts.maxBackoffMs ?? 100);
        this.pendingOps = [];
        this.sendSnapshot();
        this.flushLogs();
        return;
      }
      case 'run':
        this.startCall(kind.value);
        return;
      case 'stop':
        void this.stopCurrent(
          new CallFailure('stopped', kind.value.reason || 'stopped by the flow', { stopped: true }),
          kind.value.graceMs || undefined,
        );
        return;
      case 'delta':
        this.applyFlowRequest(Number(kind.value.epoch), Number(kind.value.seq), opsFromWire(kind.value.ops));
        return;
      case 'snapshotRequest':
        this.pendingOps = [];
        this.sendSnapshot();
        return;
      case 'shutdown':
        void this.shutdown(kind.value.reason || 'the app is shutting down', kind.value.graceMs || undefined);
        return;
      case 'ack':
        return;
      default:
        throw new DaemonError(GrpcCode.INVALID_ARGUMENT, 'empty or unknown flow message');
    }
  }

  /**
   * A write request of the flow: applied once, in seq order (a request resent after a
   * reconnect is skipped), and recorded among the work's own changes so both copies share
   * one order.
   */
  private applyFlowRequest(epoch: number, seq: number, ops: PatchOperation[]): void {
    if (epoch !== this.epoch || seq <= this.appliedFlowSeq) return;
    if (seq !== this.appliedFlowSeq + 1) {
      // The flow resends every unconfirmed request in order after a reconnect; wait for it.
      this.diag(`flow request ${seq} arrived before ${this.appliedFlowSeq + 1}; ignored until resent`);
      return;
    }
    flushPendingArrays(); // the work's own array mutations come first
    try {
      applyPatch(this.vars, captureOps(ops));
      for (const op of ops) this.recordOp(op);
    } catch (err) {
      this.log(LogChunk_Stream.DAEMON, [
        `a state write from the flow was refused, the work's newer state did not allow it: ${(err as Error).message}`,
      ]);
    }
    this.appliedFlowSeq = seq;
    this.flowSeqDue = true;
    this.scheduleFlush();
  }

  private sendSnapshot(): void {
    this.send({
      case: 'snapshot',
      value: {
        work: this.work.name,
        epoch: BigInt(this.epoch),
        seq: BigInt(++this.seq),
        stateJson: JSON.stringify(this.vars),
        status: this.statusMessage(),
        appliedFlowSeq: BigInt(this.appliedFlowSeq),
      },
    });
    this.flowSeqDue = false;
    if (this.connected) this.opts.onStateSent?.(this.epoch, this.seq, JSON.stringify(this.vars));
  }

  // ---- state ----

  private bindState(): void {
    const state = recordingView(this.vars, '', (op) => this.recordOp(op), `${this.opts.workName}.state`);
    const status = readonlyView<WorkStatus>(this.status, `${this.opts.workName}.status`);
    this.work[BINDING] = {
      state,
      status,
      run: () => {
        throw new Error(`${this.work.name}.run() is called by the flow, not from inside a work`);
      },
      stop: () => {
        throw new Error(
          `${this.work.name}.stop() is called by the flow; to end a call from inside, return or throw`,
        );
      },
    };
  }

  private recordOp(op: PatchOperation): void {
    if (!this.connected) return; // resynced by the snapshot after reconnecting
    // A write that overwrites the previous pending one (`count++` in a loop) replaces it:
    // only the newest value travels. Valid for consecutive ops on the same path only.
    const last = this.pendingOps[this.pendingOps.length - 1];
    if (
      last &&
      op.op === 'replace' &&
      last.path === op.path &&
      (last.op === 'replace' || last.op === 'add') &&
      !op.path.endsWith('/-')
    ) {
      this.pendingOps[this.pendingOps.length - 1] = { op: last.op, path: op.path, value: op.value! };
      this.coalesced++;
    } else {
      this.pendingOps.push(op);
    }
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flushOps());
    }
  }

  /**
   * Sends the pending ops as one delta. Back-pressure: while the stream's buffer is full
   * (write() returned false) ops keep accumulating (and coalescing) until it drains, so a
   * work that changes state faster than the flow applies it sends fewer, larger deltas
   * instead of growing an unbounded backlog. `force` (before a status) ignores it, to keep
   * the order of state and status.
   */
  private flushOps(force = false): void {
    this.flushScheduled = false;
    flushPendingArrays();
    if ((this.pendingOps.length === 0 && !this.flowSeqDue) || !this.connected || !this.call) return;
    if (this.blocked && !force) return;
    const ops = this.pendingOps;
    this.pendingOps = [];
    this.flowSeqDue = false;
    const call = this.call;
    const ok = call.write(
      create(DaemonMessageSchema, {
        kind: {
          case: 'delta',
          value: {
            work: this.work.name,
            epoch: BigInt(this.epoch),
            seq: BigInt(++this.seq),
            ops: opsToWire(ops),
            appliedFlowSeq: BigInt(this.appliedFlowSeq),
          },
        },
      }),
    );
    this.opts.onStateSent?.(this.epoch, this.seq, JSON.stringify(this.vars));
    if (!ok && !this.blocked) {
      this.blocked = true;
      call.once('drain', () => {
        this.blocked = false;
        if (this.call === call) this.flushOps();
      });
    }
  }

  private statusMessage(): MessageInitShape<typeof StatusSchema> {
    const s = this.status;
    return {
      work: this.work.name,
      epoch: BigInt(this.epoch),
      seq: BigInt(this.seq),
      phase: phaseToWire(s.phase),
      callHash: s.callHash ?? '',
      timestampMs: BigInt(s.updatedAt),
      ...(s.exitCode === null ? {} : { exitCode: s.exitCode }),
      reason: s.reason ?? '',
      message: s.message ?? '',
      url: s.url ?? '',
    };
  }

  private setStatus(patch: Partial<WorkStatus>): void {
    Object.assign(this.status, patch, { updatedAt: Date.now() });
    this.flushLogs();
    this.flushOps(true);
    if (!this.connected) return;
    ++this.seq;
    this.send({ case: 'status', value: this.statusMessage() });
  }

  // ---- logs ----

  private log(stream: LogChunk_Stream, lines: string[]): void {
    if (this.bufferedLogLines + lines.length > MAX_BUFFERED_LOG_LINES) {
      // Disconnected for long: keep the newest lines, say that some were dropped.
      this.logBuffer = [
        { stream: LogChunk_Stream.DAEMON, lines: ['[log lines dropped while the flow was unreachable]'] },
      ];
      this.bufferedLogLines = 1;
    }
    this.logBuffer.push({ stream, lines });
    this.bufferedLogLines += lines.length;
    if (!this.logFlushScheduled) {
      this.logFlushScheduled = true;
      setImmediate(() => this.flushLogs());
    }
  }

  private flushLogs(): void {
    this.logFlushScheduled = false;
    if (!this.connected || this.logBuffer.length === 0) return;
    const now = BigInt(Date.now());
    for (const chunk of this.logBuffer) {
      this.send({
        case: 'log',
        value: { work: this.work.name, stream: chunk.stream, lines: chunk.lines, timestampMs: now },
      });
    }
    this.logBuffer = [];
    this.bufferedLogLines = 0;
  }

  // ---- calls ----

  private startCall(run: Run): void {
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

  private async stopCurrent(reason: CallFailure, graceMs?: number): Promise<void> {
    const call = this.current;
    if (!call) return;
    if (graceMs !== undefined) this.graceOverrideMs = graceMs;
    call.controller.abort(reason);
    await call.done;
  }

  private async executeCall(run: Run, controller: AbortController): Promise<void> {
    const work = this.work;
    const started = Date.now();
    this.setStatus({
      phase: 'pending',
      callHash: run.callHash,
      attempt: run.attempt,
      startedAt: null,
      endedAt: null,
      exitCode: null,
      reason: null,
      message: null,
      url: null,
    });
    let timeout: NodeJS.Timeout | undefined;
    try {
      const args = parseStateJson(run.argsJson || '{}', 'run arguments') as JsonObject;
      const port = await this.portFor(work);
      const ctx = this.context(controller.signal, port);
      let resolvedArgs: JsonObject;
      try {
        for (const [dest, path] of Object.entries(work.declaredInputs)) await ctx.fetch(path, dest);
        resolvedArgs = await resolvePathArgs(args, (p) => ctx.fetch(p));
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
        await work.execute(resolvedArgs as never, ctx);
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
      this.log(LogChunk_Stream.DAEMON, [`call succeeded in ${((Date.now() - started) / 1000).toFixed(1)} s`]);
      this.setStatus({ phase: 'succeeded', endedAt: Date.now(), exitCode: 0 });
    } catch (err) {
      const failure =
        err instanceof CallFailure
          ? err
          : new CallFailure('user_exception', String((err as Error)?.stack ?? err));
      const phase: WorkPhase = failure.stopped ? 'stopped' : 'failed';
      this.log(LogChunk_Stream.DAEMON, [`call ${phase}: ${failure.message.split('\n')[0]}`]);
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

  private async portFor(work: Work): Promise<number | undefined> {
    const p = work.servesPort;
    if (p === undefined) return undefined;
    if (p !== 'auto') return p;
    return new Promise((resolve, reject) => {
      const srv = createServer();
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const port = (srv.address() as { port: number }).port;
        srv.close(() => resolve(port));
      });
    });
  }

  private context(signal: AbortSignal, port: number | undefined): WorkContext {
    const drive = this.opts.drive;
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
    delete env.LIGHTNING_TOKEN; // the app token is the daemon's, never the script's
    Object.assign(env, this.opts.env ?? {}, this.work.props.env ?? {}, {
      LIGHTNING_STATE_URL: this.endpoint?.url ?? '',
      LIGHTNING_STATE_TOKEN: this.stateToken,
      LIGHTNING_WORK_NAME: this.work.name,
      LIGHTNING_WORK_DIR: this.workDir,
      LIGHTNING_DRIVE_URL: drive.url,
    });
    if (port !== undefined) {
      env.PORT = String(port);
      env.LIGHTNING_PORT = String(port);
      // The host other machines reach this work's servers at (its url names it): a Work that
      // publishes its own URL builds it from this, never from the bind address LIGHTNING_HOST.
      env.LIGHTNING_ADVERTISE_HOST = this.urlHost;
    }
    const workDir = this.workDir;
    const log = (line: string) => this.log(LogChunk_Stream.DAEMON, [line]);
    return {
      signal,
      workDir,
      appDir: this.opts.appDir,
      port,
      drive,
      env,
      log,
      fetch: async (path: Path, dest?: string) => {
        const target = join(workDir, dest ?? path.basename);
        log(`fetching ${path.key} (from ${path.origin}) → ${dest ?? path.basename}`);
        const progress = this.transferProgress();
        const local = await fetchPath(drive, path, target, progress.onProgress);
        progress.finish();
        return local;
      },
      putPayload: async (name: string, value: unknown) => {
        const key = `works/${this.work.name}/payloads/${name}.json`;
        await drive.put(key, Buffer.from(JSON.stringify(toStateValue(value, name))));
        return new Payload(drive.name, key, this.work.name);
      },
      loadPayload: async <T>(payload: Payload) => {
        const p = Payload.isPayloadJson(payload) ? Payload.fromJSON(payload) : payload;
        return JSON.parse((await drive.read(p.key)).toString('utf8')) as T;
      },
    };
  }
}
