/**
 * The daemon's link to the flow (the base of WorkDaemon, work-daemon.ts): the stream and its
 * reconnects, the messages from the flow, and the work's state, status and logs on their way
 * to the flow. It owns the work's state document (ADR 0013): the flow's writes arrive as
 * numbered requests, applied once in seq order; the deltas it sends say up to which request
 * they include. Ordering: every delta, status and snapshot carries the epoch and the next seq;
 * a status is sent after the ops produced before it.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import { DaemonError, GrpcCode } from '../../constructs/errors.ts';
import type { JsonObject, JsonValue } from '../../constructs/json.ts';
import { Work, type WorkContext } from '../../constructs/work.ts';
import { initialStatus, type WorkStatus } from '../../constructs/work-status.ts';
import {
  DaemonMessageSchema,
  type FlowMessage,
  LogChunk_Stream,
  type Run,
  type StatusSchema,
} from '../../proto/gen/lightning/v1/runtime_pb.ts';
import { deltaBatches, PartAssembler } from '../protocol/document-parts.ts';
import { FlowServiceClient, grpcChannelOptions, opsFromWire, opsToWire } from '../protocol/flow-service.ts';
import { phaseToWire } from '../protocol/status-codec.ts';
import { DocumentBudget } from '../state/document-budget.ts';
import { applyPatch, captureOps, type PatchOperation, toStateValue } from '../state/json-patch.ts';
import { flushPendingArrays, readonlyView, recordingView } from '../state/state-recorder.ts';
import { CallFailure } from './call-failure.ts';
import { type FlowStream, openFlowStream, snapshotMessages, welcomeState } from './flow-stream.ts';
import { LogBuffer } from './log-buffer.ts';
import type { StateEndpoint } from './state-endpoint.ts';
import { bindServedWork, refuseOtherComponents } from './work-bindings.ts';
import type { WorkDaemonOptions } from './work-daemon-options.ts';

export abstract class DaemonLink {
  readonly work: Work;
  protected readonly opts: WorkDaemonOptions;
  protected readonly instanceId = randomUUID();
  protected readonly stateToken = randomBytes(24).toString('hex');
  protected readonly workDir: string;
  protected readonly diag: (line: string) => void;
  protected client: InstanceType<typeof FlowServiceClient> | null = null;
  protected call: FlowStream | null = null;
  protected connected = false;
  protected epoch = 0;
  protected seq = 0;
  /** Highest flow request (seq) applied in this epoch, and whether the flow has yet to hear of it. */
  protected appliedFlowSeq = 0;
  protected flowSeqDue = false;
  /** Seq of the last snapshot sent on this stream: it answers every gap the flow saw before it. */
  private snapshotSeq = 0;
  protected vars: Record<string, JsonValue>;
  /** The size limit of `vars`, checked as the work writes (rebuilt with the view). */
  protected budget!: DocumentBudget;
  /** The parts of a welcome whose state is larger than one message. */
  private readonly welcomeParts = new PartAssembler('welcome state');
  protected readonly status: { -readonly [K in keyof WorkStatus]: WorkStatus[K] } = initialStatus();
  protected pendingOps: PatchOperation[] = [];
  protected flushScheduled = false;
  protected readonly logs = new LogBuffer();
  protected logFlushScheduled = false;
  /** True while the stream's write buffer is full (see flushOps). */
  protected blocked = false;
  /** Writes merged into a pending one (for benchmarks and tests). */
  coalesced = 0;
  protected backoffMs: number;
  protected reconnectTimer: NodeJS.Timeout | null = null;
  protected heartbeat: NodeJS.Timeout | null = null;
  protected stopping = false;
  protected endpoint: StateEndpoint | null = null;
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
  protected connect(): void {
    if (this.stopping) return;
    this.client ??= new FlowServiceClient(
      this.opts.flowAddress,
      this.opts.credentials ?? grpc.credentials.createInsecure(),
      grpcChannelOptions(),
    );
    this.welcomeParts.reset();
    const call: FlowStream = openFlowStream(
      this.client,
      this.opts.token,
      { work: this.work.name, instanceId: this.instanceId, epoch: this.epoch },
      {
        // A stream given up (see resyncByReconnect): the rest of what it brings is stale.
        onMessage: (message) => {
          if (this.call === call) this.handle(message);
        },
        diag: this.diag,
        onEnd: (why) => {
          // Given up already (resyncByReconnect dialed again): nothing to reset or reschedule.
          if (this.call !== call) return;
          this.call = null;
          this.connected = false;
          this.blocked = false;
          if (!this.stopping) {
            this.diag(
              `connection to the flow at ${this.opts.flowAddress} ended (${why}); reconnecting in ${this.backoffMs} ms`,
            );
            this.scheduleReconnect();
          }
        },
      },
    );
    this.call = call;
  }
  protected scheduleReconnect(): void {
    if (this.reconnectTimer || this.stopping) return;
    const jitter = 0.8 + Math.random() * 0.4;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.connect();
    }, this.backoffMs * jitter);
    this.backoffMs = Math.min(this.opts.maxBackoffMs ?? 5000, this.backoffMs * 2);
  }
  protected send(kind: MessageInitShape<typeof DaemonMessageSchema>['kind']): void {
    if (!this.call || !this.connected) return;
    this.call.write(create(DaemonMessageSchema, { kind }));
  }
  protected handle(message: FlowMessage): void {
    const kind = message.kind;
    switch (kind.case) {
      case 'welcome': {
        // The flow welcomes once per stream: another whole welcome is a repeat (a faulty link),
        // and answering it would cost a snapshot for nothing.
        if (this.connected) return;
        const w = kind.value;
        const stateJson = this.welcomeParts.add(String(w.epoch), w.part, w.parts, w.stateJson);
        if (stateJson === undefined) return; // more parts follow
        const epoch = Number(w.epoch);
        if (epoch !== this.epoch) {
          // A new registration: the flow's copy of our state is the truth to start from.
          this.epoch = epoch;
          this.seq = 0;
          this.appliedFlowSeq = 0;
          const vars = welcomeState(stateJson);
          if (vars) {
            this.vars = vars;
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
        // A snapshot sent after the seq that showed the gap already answers it (the request
        // was repeated on the way): one snapshot per gap.
        if (kind.value.seq > 0n && this.snapshotSeq > Number(kind.value.seq)) return;
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
  protected applyFlowRequest(epoch: number, seq: number, ops: PatchOperation[]): void {
    if (epoch !== this.epoch || seq <= this.appliedFlowSeq) return;
    if (seq !== this.appliedFlowSeq + 1) {
      // A request went missing on the way (the flow never skips a number). The flow resends
      // every unconfirmed request, in order, on a new stream: dial again now rather than wait
      // for a reconnect that may never come. The gap costs one snapshot (the welcome's).
      this.diag(
        `flow request ${seq} arrived before ${this.appliedFlowSeq + 1}; reconnecting to have the flow resend its requests`,
      );
      this.resyncByReconnect();
      return;
    }
    flushPendingArrays(); // the work's own array mutations come first
    try {
      this.budget.admitOps(ops);
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
  /** Gives the current stream up and dials again at once (nothing more is read from it). */
  private resyncByReconnect(): void {
    const call = this.call;
    if (!call) return;
    this.call = null;
    this.connected = false;
    this.blocked = false;
    call.cancel(); // its end is ignored: it is no longer the current stream
    this.backoffMs = Math.min(100, this.opts.maxBackoffMs ?? 100);
    this.scheduleReconnect();
  }
  /** The whole document, in as many parts as it needs (one message each, same seq). */
  protected sendSnapshot(): void {
    const text = JSON.stringify(this.vars);
    if (this.connected) this.snapshotSeq = this.seq + 1;
    const last = { status: this.statusMessage(), appliedFlowSeq: this.appliedFlowSeq };
    for (const kind of snapshotMessages(this.work.name, this.epoch, ++this.seq, text, last)) this.send(kind);
    this.flowSeqDue = false;
    if (this.connected) this.opts.onStateSent?.(this.epoch, this.seq, text);
  }
  protected bindState(): void {
    this.budget = new DocumentBudget(this.vars, `${this.opts.workName}.state`);
    const state = recordingView(
      this.vars,
      '',
      (op) => this.recordOp(op),
      `${this.opts.workName}.state`,
      undefined,
      this.budget,
    );
    const status = readonlyView<WorkStatus>(this.status, `${this.opts.workName}.status`);
    bindServedWork(this.work, { state, status, runScript: (args, ctx) => this.runScript(args, ctx) });
  }

  protected recordOp(op: PatchOperation): void {
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
  protected scheduleFlush(): void {
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flushOps());
    }
  }
  /**
   * Sends the pending ops as one delta, or as several when they are more than the flow takes
   * in one (StateLimits.maxOpsPerDelta ops, a message's bytes): in order, each with the next
   * seq, and only the last says which flow requests they include (the earlier ones may not).
   * An op whose value is larger than the flow takes in one op (a large array sent whole after
   * a splice) cannot travel as an op: a snapshot (in parts) carries the state instead.
   *
   * Back-pressure: while the stream's buffer is full (write() returned false) ops keep
   * accumulating (and coalescing) until it drains, so a work that changes state faster than
   * the flow applies it sends fewer, larger deltas instead of growing an unbounded backlog.
   * `force` (before a status) ignores it, to keep the order of state and status.
   */
  protected flushOps(force = false): void {
    this.flushScheduled = false;
    flushPendingArrays();
    if ((this.pendingOps.length === 0 && !this.flowSeqDue) || !this.connected || !this.call) return;
    if (this.blocked && !force) return;
    const ops = this.pendingOps;
    this.pendingOps = [];
    const batches = deltaBatches(opsToWire(ops));
    if (batches === null) {
      this.sendSnapshot();
      return;
    }
    this.flowSeqDue = false;
    const call = this.call;
    let ok = true;
    for (let i = 0; i < batches.length; i++) {
      const last = i === batches.length - 1;
      ok = call.write(
        create(DaemonMessageSchema, {
          kind: {
            case: 'delta',
            value: {
              work: this.work.name,
              epoch: BigInt(this.epoch),
              seq: BigInt(++this.seq),
              ops: batches[i]!,
              appliedFlowSeq: last ? BigInt(this.appliedFlowSeq) : 0n,
            },
          },
        }),
      );
    }
    this.opts.onStateSent?.(this.epoch, this.seq, JSON.stringify(this.vars));
    if (!ok && !this.blocked) {
      this.blocked = true;
      call.once('drain', () => {
        this.blocked = false;
        if (this.call === call) this.flushOps();
      });
    }
  }
  protected statusMessage(): MessageInitShape<typeof StatusSchema> {
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
  protected setStatus(patch: Partial<WorkStatus>): void {
    Object.assign(this.status, patch, { updatedAt: Date.now() });
    this.flushLogs();
    this.flushOps(true);
    if (!this.connected) return;
    ++this.seq;
    this.send({ case: 'status', value: this.statusMessage() });
  }
  protected log(stream: LogChunk_Stream, lines: string[]): void {
    this.logs.push(stream, lines);
    if (!this.logFlushScheduled) {
      this.logFlushScheduled = true;
      setImmediate(() => this.flushLogs());
    }
  }
  protected flushLogs(): void {
    this.logFlushScheduled = false;
    if (!this.connected || this.logs.isEmpty) return;
    const now = BigInt(Date.now());
    for (const chunk of this.logs.take()) {
      this.send({
        case: 'log',
        value: { work: this.work.name, stream: chunk.stream, lines: chunk.lines, timestampMs: now },
      });
    }
  }

  constructor(opts: WorkDaemonOptions) {
    this.opts = opts;
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
    // Every other component is owned elsewhere: touching it from inside this work fails at once.
    refuseOtherComponents(opts.app, found);
  }

  /** Runs the served ScriptWork's script for one call (its binding's `runScript`). */
  protected abstract runScript(args: JsonObject, ctx: WorkContext): Promise<void>;
  /** Runs (or keeps running) the call the flow sent. */
  protected abstract startCall(run: Run): void;
  /** Stops the current call, if any. */
  protected abstract stopCurrent(reason: CallFailure, graceMs?: number): Promise<void>;
  /** Stops everything and resolves `exited`. */
  abstract shutdown(reason: string, graceMs?: number): Promise<void>;
}
