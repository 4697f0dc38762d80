/**
 * A man-in-the-middle between a work daemon and its flow, for the fault suite: it terminates
 * the daemon's Attach stream, opens one to the flow with the same metadata, and forwards whole
 * gRPC messages, so it can do what TCP itself never does but a broken middlebox, a retrying
 * client or a resent message would: drop, duplicate, reorder and delay the daemon's deltas,
 * and cut both streams (the daemon reconnects). Seeded, so a run can be replayed.
 */
import { fromBinary } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import { ATTACH_PATH } from '../../daemon/protocol/flow-service.ts';
import { DaemonMessageSchema, FlowMessageSchema } from '../../proto/gen/lightning/v1/runtime_pb.ts';

const identity = (b: Buffer) => b;
const definition: grpc.ServiceDefinition = {
  attach: {
    path: ATTACH_PATH,
    requestStream: true,
    responseStream: true,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};
const limits = { 'grpc.max_receive_message_length': 64 << 20, 'grpc.max_send_message_length': 64 << 20 };

/** Probabilities per delta from the daemon (the rest pass through unharmed). */
export interface FaultRates {
  readonly drop: number;
  readonly duplicate: number;
  readonly reorder: number;
  readonly delay: number;
  /** Per message of any kind: end both streams. */
  readonly cut: number;
}

export class FaultProxy {
  readonly counts = {
    forwarded: 0,
    dropped: 0,
    duplicated: 0,
    reordered: 0,
    delayed: 0,
    cuts: 0,
    connections: 0,
    snapshots: 0,
    snapshotRequests: 0,
  };
  /** Off: forward everything as it comes (to let the states settle). */
  faulty = true;
  private readonly server = new grpc.Server(limits);
  private readonly client: grpc.Client;
  port = 0;

  constructor(
    flowAddress: string,
    private readonly rates: FaultRates,
    private readonly random: () => number,
  ) {
    const Client = grpc.makeGenericClientConstructor(definition, 'FlowService');
    this.client = new Client(flowAddress, grpc.credentials.createInsecure(), limits);
    this.server.addService(definition, {
      attach: (down: grpc.ServerDuplexStream<Buffer, Buffer>) => this.attach(down),
    });
  }

  async listen(): Promise<string> {
    this.port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) =>
        err ? reject(err) : resolve(port),
      ),
    );
    return `127.0.0.1:${this.port}`;
  }

  close(): void {
    this.server.forceShutdown();
    this.client.close();
  }

  private attach(down: grpc.ServerDuplexStream<Buffer, Buffer>): void {
    this.counts.connections++;
    const up = (
      this.client as unknown as { attach(md: grpc.Metadata): grpc.ClientDuplexStream<Buffer, Buffer> }
    ).attach(down.metadata);
    let open = true;
    const end = (status: { code: grpc.status; details: string }) => {
      if (!open) return;
      open = false;
      up.cancel();
      if (status.code === grpc.status.OK) down.end();
      else {
        down.emit('error', { ...status, metadata: new grpc.Metadata() });
        down.end();
      }
    };
    // Delays keep the order of what follows them (a slow link, not a reordering one).
    let queue = Promise.resolve();
    const toFlow = (b: Buffer, delayMs = 0) => {
      queue = queue.then(async () => {
        if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
        if (open) {
          up.write(b);
          this.counts.forwarded++;
        }
      });
    };
    let held: Buffer | null = null;
    down.on('data', (b: Buffer) => {
      if (!open) return;
      const kind = fromBinary(DaemonMessageSchema, b).kind.case;
      if (kind === 'snapshot') this.counts.snapshots++;
      const r = this.random;
      if (this.faulty && r() < this.rates.cut) {
        this.counts.cuts++;
        end({ code: grpc.status.UNAVAILABLE, details: 'cut by the fault proxy' });
        return;
      }
      if (!this.faulty || kind !== 'delta') {
        toFlow(b);
        if (held) toFlow(held);
        held = null;
        return;
      }
      const x = r();
      let p = this.rates.drop;
      if (x < p) {
        this.counts.dropped++;
        return;
      }
      p += this.rates.duplicate;
      if (x < p) {
        this.counts.duplicated++;
        toFlow(b);
        toFlow(b, Math.floor(r() * 20));
        return;
      }
      p += this.rates.reorder;
      if (x < p && !held) {
        this.counts.reordered++;
        held = b; // sent right after the next message
        return;
      }
      p += this.rates.delay;
      const delay = x < p ? 1 + Math.floor(r() * 30) : 0;
      if (delay > 0) this.counts.delayed++;
      toFlow(b, delay);
      if (held) toFlow(held);
      held = null;
    });
    down.on('end', () => end({ code: grpc.status.OK, details: '' }));
    down.on('cancelled', () => end({ code: grpc.status.CANCELLED, details: 'daemon went away' }));
    down.on('error', () => end({ code: grpc.status.CANCELLED, details: 'daemon went away' }));
    up.on('data', (b: Buffer) => {
      if (fromBinary(FlowMessageSchema, b).kind.case === 'snapshotRequest') this.counts.snapshotRequests++;
      if (open) down.write(b);
    });
    up.on('error', (err: grpc.ServiceError) => end({ code: err.code, details: err.details }));
    up.on('end', () => end({ code: grpc.status.OK, details: '' }));
  }
}
