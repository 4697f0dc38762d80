/**
 * A man-in-the-middle between a work daemon and its flow, for the fault suite: it terminates
 * the daemon's Attach stream, opens one to the flow with the same metadata, and forwards whole
 * gRPC messages, so it can do what TCP itself never does but a broken middlebox, a retrying
 * client or a resent message would, in both directions: drop, duplicate, reorder and delay
 * messages, and cut both streams (the daemon reconnects). Each direction draws from its own
 * seeded generator, so a run can be replayed.
 *
 * What each fault may hit, per direction:
 * - daemon → flow: deltas (sequenced, so every fault is detectable by the flow: a gap asks
 *   for a snapshot, a repeat is dropped); the rest passes unharmed except for cuts.
 * - flow → daemon: the flow's write requests (deltas, numbered) and acks take every fault;
 *   welcomes, runs, snapshot requests and stops are duplicated and delayed but never dropped
 *   or reordered alone: they carry no sequence number, so on a real link only a cut can lose
 *   them, and cuts are injected too.
 */
import { fromBinary } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import { DaemonMessageSchema, FlowMessageSchema } from '../../proto/gen/lightning/v1/runtime_pb.ts';
import { LARGE_MESSAGES, RAW_ATTACH, rawAttachClient } from './raw-attach.ts';

/** Probabilities per message that a fault may hit (the rest pass through unharmed). */
export interface FaultRates {
  readonly drop: number;
  readonly duplicate: number;
  readonly reorder: number;
  readonly delay: number;
  /** Per message of any kind: end both streams. */
  readonly cut: number;
}

/** Faults per direction; a direction left out passes everything unharmed (cuts included). */
export interface LinkFaults {
  readonly toFlow?: FaultRates;
  readonly toDaemon?: FaultRates;
}

/** What one direction did to the messages it carried. */
export interface DirectionCounts {
  forwarded: number;
  dropped: number;
  duplicated: number;
  reordered: number;
  delayed: number;
}

const NO_FAULTS: FaultRates = { drop: 0, duplicate: 0, reorder: 0, delay: 0, cut: 0 };

/** How a fault may treat a message: `any` fault, only `repeat` (duplicate, delay), or `none`. */
type Exposure = 'any' | 'repeat' | 'none';

function toFlowExposure(b: Buffer): Exposure {
  return fromBinary(DaemonMessageSchema, b).kind.case === 'delta' ? 'any' : 'none';
}

function toDaemonExposure(b: Buffer): Exposure {
  switch (fromBinary(FlowMessageSchema, b).kind.case) {
    case 'delta':
    case 'ack':
      return 'any';
    case 'welcome':
    case 'run':
    case 'snapshotRequest':
    case 'stop':
      return 'repeat';
    default:
      return 'none'; // shutdown: the app is ending, not the link's concern
  }
}

export class FaultProxy {
  readonly counts = {
    toFlow: { forwarded: 0, dropped: 0, duplicated: 0, reordered: 0, delayed: 0 } as DirectionCounts,
    toDaemon: { forwarded: 0, dropped: 0, duplicated: 0, reordered: 0, delayed: 0 } as DirectionCounts,
    cuts: 0,
    connections: 0,
    /** Snapshots the daemon sent (before any fault; one in parts counts once). */
    snapshots: 0,
    /** Messages of snapshots sent in more than one part. */
    snapshotParts: 0,
    /** Messages of welcomes sent in more than one part. */
    welcomeParts: 0,
    /** Snapshot requests the flow sent (before any fault). */
    snapshotRequests: 0,
    /** Runs the flow sent (before any fault). */
    runs: 0,
  };
  /** Off: forward everything as it comes (to let the states settle). */
  faulty = true;
  /**
   * Called with each message of the flow before faults apply; returning true cuts the link
   * right there (the message is lost with it), once. For tests that need a cut at one place.
   */
  cutBeforeToDaemon: ((message: Buffer) => boolean) | null = null;
  /** The same for the daemon's messages. */
  cutBeforeToFlow: ((message: Buffer) => boolean) | null = null;
  private readonly server = new grpc.Server(LARGE_MESSAGES);
  private readonly client: grpc.Client;
  private readonly toFlowRates: FaultRates;
  private readonly toDaemonRates: FaultRates;
  port = 0;

  constructor(
    flowAddress: string,
    faults: LinkFaults,
    private readonly randomToFlow: () => number,
    private readonly randomToDaemon: () => number = randomToFlow,
  ) {
    this.toFlowRates = faults.toFlow ?? NO_FAULTS;
    this.toDaemonRates = faults.toDaemon ?? NO_FAULTS;
    this.client = rawAttachClient(flowAddress);
    this.server.addService(RAW_ATTACH, {
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
    // The daemon's own metadata (its token) goes on to the flow as it came.
    const up = (
      this.client as unknown as { attach(md: grpc.Metadata): grpc.ClientDuplexStream<Buffer, Buffer> }
    ).attach(down.metadata);
    const link = { open: true };
    const end = (status: { code: grpc.status; details: string }) => {
      if (!link.open) return;
      link.open = false;
      up.cancel();
      if (status.code === grpc.status.OK) down.end();
      else {
        down.emit('error', { ...status, metadata: new grpc.Metadata() });
        down.end();
      }
    };
    const cut = () => {
      this.counts.cuts++;
      end({ code: grpc.status.UNAVAILABLE, details: 'cut by the fault proxy' });
    };
    const cutIfAsked = (hook: 'cutBeforeToFlow' | 'cutBeforeToDaemon', b: Buffer) => {
      if (!this[hook]?.(b)) return false;
      this[hook] = null; // once
      cut();
      return true;
    };
    const toFlow = this.direction(
      (b) => up.write(b),
      this.toFlowRates,
      this.randomToFlow,
      this.counts.toFlow,
      toFlowExposure,
      link,
      cut,
    );
    const toDaemon = this.direction(
      (b) => down.write(b),
      this.toDaemonRates,
      this.randomToDaemon,
      this.counts.toDaemon,
      toDaemonExposure,
      link,
      cut,
    );
    down.on('data', (b: Buffer) => {
      if (!link.open) return;
      const kind = fromBinary(DaemonMessageSchema, b).kind;
      if (kind.case === 'snapshot') {
        if (kind.value.part === 0) this.counts.snapshots++;
        if (kind.value.parts > 1) this.counts.snapshotParts++;
      }
      if (!cutIfAsked('cutBeforeToFlow', b)) toFlow(b);
    });
    down.on('end', () => end({ code: grpc.status.OK, details: '' }));
    down.on('cancelled', () => end({ code: grpc.status.CANCELLED, details: 'daemon went away' }));
    down.on('error', () => end({ code: grpc.status.CANCELLED, details: 'daemon went away' }));
    up.on('data', (b: Buffer) => {
      if (!link.open) return;
      const kind = fromBinary(FlowMessageSchema, b).kind;
      if (kind.case === 'snapshotRequest') this.counts.snapshotRequests++;
      if (kind.case === 'run') this.counts.runs++;
      if (kind.case === 'welcome' && kind.value.parts > 1) this.counts.welcomeParts++;
      if (!cutIfAsked('cutBeforeToDaemon', b)) toDaemon(b);
    });
    up.on('error', (err: grpc.ServiceError) => end({ code: err.code, details: err.details }));
    up.on('end', () => end({ code: grpc.status.OK, details: '' }));
  }

  /** One direction of one connection: returns the function that takes each message in turn. */
  private direction(
    write: (b: Buffer) => void,
    rates: FaultRates,
    random: () => number,
    counts: DirectionCounts,
    exposure: (b: Buffer) => Exposure,
    link: { open: boolean },
    cut: () => void,
  ): (b: Buffer) => void {
    // Delays keep the order of what follows them (a slow link, not a reordering one).
    let queue = Promise.resolve();
    const forward = (b: Buffer, delayMs = 0) => {
      queue = queue.then(async () => {
        if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
        if (link.open) {
          write(b);
          counts.forwarded++;
        }
      });
    };
    let held: Buffer | null = null;
    const release = () => {
      if (held) forward(held);
      held = null;
    };
    return (b) => {
      if (this.faulty && random() < rates.cut) {
        cut();
        return;
      }
      const exposed = this.faulty ? exposure(b) : 'none';
      if (exposed === 'none') {
        forward(b);
        release();
        return;
      }
      const x = random();
      let p = exposed === 'any' ? rates.drop : 0;
      if (x < p) {
        counts.dropped++;
        return;
      }
      p += rates.duplicate;
      if (x < p) {
        counts.duplicated++;
        forward(b);
        forward(b, Math.floor(random() * 20));
        release();
        return;
      }
      p += exposed === 'any' ? rates.reorder : 0;
      if (x < p && !held) {
        counts.reordered++;
        held = b; // sent right after the next message
        return;
      }
      p += rates.delay;
      const delay = x < p ? 1 + Math.floor(random() * 30) : 0;
      if (delay > 0) counts.delayed++;
      forward(b, delay);
      release();
    };
  }
}
