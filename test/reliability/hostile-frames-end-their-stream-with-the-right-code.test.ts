/**
 * The fault suite's frame fuzzing (issue 10): over 10,000 frames on one flow, seeded. Each
 * stream says hello, resyncs, sends benign frames (in-order deltas, duplicates, logs,
 * heartbeats, snapshots in parts) and ends with one hostile frame drawn from a catalogue:
 * random bytes, truncated or deeply nested protobuf, forbidden keys, JSON nested past the
 * limit, values and messages over the limits, stale epochs, a second hello, snapshot parts
 * out of order or over the document limit, and more. test/runtime/flow-orders-deltas-and-
 * rejects-hostile-messages.test.ts checks one example of some of these; this checks them in
 * bulk, in random order, interleaved with real traffic:
 * - every stream ends with exactly the code its hostile frame calls for (never INTERNAL);
 * - the flow's copy of the work equals a model that applied only the benign deltas, once
 *   (rejected frames change nothing, duplicates never apply);
 * - no prototype is polluted and the flow keeps serving a well-behaved daemon.
 * Prints one line of figures. LIGHTNING_FAULT_SEED picks another seed.
 */
import { create, type MessageInitShape, toBinary } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Flow, LightningApp, Work } from '../../constructs/index.ts';
import { EventLoop } from '../../daemon/flow/event-loop.ts';
import { FlowServer } from '../../daemon/flow/flow-server.ts';
import { ATTACH_PATH, opsToWire, PROTOCOL_VERSION } from '../../daemon/protocol/flow-service.ts';
import type { PatchOperation } from '../../daemon/state/json-patch.ts';
import { DaemonMessageSchema, Phase } from '../../proto/gen/lightning/v1/runtime_pb.ts';
import { prng } from './seeded-random.ts';

class Idle extends Work<Record<string, unknown>> {
  override async execute(): Promise<void> {}
}
class Root extends Flow {
  readonly w = new Idle(this, 'w');
  override run(): void {}
}

const TOKEN = 'fuzz-token-0123456789';
const FRAMES = 10_000;
const S = grpc.status;
type Kind = MessageInitShape<typeof DaemonMessageSchema>['kind'];

let loop: EventLoop;
let server: FlowServer;
let client: grpc.Client;

beforeAll(async () => {
  const app = new LightningApp({ name: 'fuzz' });
  new Root(app, 'root');
  loop = new EventLoop(app);
  server = new FlowServer(loop, { token: TOKEN });
  const port = await server.listen();
  loop.start();
  const Client = grpc.makeGenericClientConstructor(
    {
      attach: {
        path: ATTACH_PATH,
        requestStream: true,
        responseStream: true,
        requestSerialize: (b: Buffer) => b,
        requestDeserialize: (b: Buffer) => b,
        responseSerialize: (b: Buffer) => b,
        responseDeserialize: (b: Buffer) => b,
      },
    },
    'FlowService',
  );
  client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
    'grpc.max_send_message_length': 64 * 1024 * 1024,
    'grpc.max_receive_message_length': 64 * 1024 * 1024,
  });
});

afterAll(async () => {
  client?.close();
  await server?.close();
});

/** One stream: frames in, its final status out (the flow's answer, or OK when we end it). */
function stream(token = TOKEN) {
  const md = new grpc.Metadata();
  if (token) md.set('authorization', `Bearer ${token}`);
  const call = (
    client as unknown as { attach(m: grpc.Metadata): grpc.ClientDuplexStream<Buffer, Buffer> }
  ).attach(md);
  const welcomes: Buffer[] = [];
  call.on('data', (b: Buffer) => welcomes.push(b));
  call.on('error', () => {});
  const ended = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
  return {
    sendBytes: (b: Buffer | Uint8Array) => call.write(Buffer.from(b)),
    send: (kind: Kind) => call.write(encode(kind)),
    end: () => call.end(),
    ended,
    welcomes,
  };
}

const encode = (kind: Kind) =>
  Buffer.from(toBinary(DaemonMessageSchema, create(DaemonMessageSchema, { kind })));
const hello = (
  over: Partial<{ work: string; instanceId: string; epoch: bigint; protocolVersion: number }> = {},
): Kind => ({
  case: 'hello',
  value: {
    protocolVersion: PROTOCOL_VERSION,
    work: 'root.w',
    instanceId: 'fuzz-1',
    epoch: 0n,
    pid: 1,
    hostname: 'fuzz',
    ...over,
  },
});
const delta = (epoch: number, seq: number, ops: PatchOperation[]): Kind => ({
  case: 'delta',
  value: { work: 'root.w', epoch: BigInt(epoch), seq: BigInt(seq), ops: opsToWire(ops) },
});
const snapshotParts = (epoch: number, seq: number, text: string, parts: number): Kind[] => {
  const size = Math.ceil(text.length / parts);
  return Array.from({ length: parts }, (_, part) => ({
    case: 'snapshot' as const,
    value: {
      work: 'root.w',
      epoch: BigInt(epoch),
      seq: BigInt(seq),
      stateJson: text.slice(part * size, (part + 1) * size),
      part,
      parts,
    },
  }));
};

function nested(depth: number): string {
  return `${'['.repeat(depth)}1${']'.repeat(depth)}`;
}

describe('hostile frames', () => {
  it('end their stream with the right code, change nothing, and never stop the flow', {
    timeout: 300_000,
  }, async () => {
    const seed = Number(process.env.LIGHTNING_FAULT_SEED ?? 20261127);
    const random = prng(seed);
    const int = (n: number) => Math.floor(random() * n);
    const model: Record<string, number> = {};
    let epoch = 0;
    let seq = 0;
    let frames = 0;
    let duplicates = 0;
    let streams = 0;
    const codes = new Map<string, number>();
    const mismatches: string[] = [];

    // Each returns the frames to send after the benign ones (possibly a new stream's own) and
    // the code the stream must end with.
    type Hostile = {
      name: string;
      weight: number;
      frames: () => Buffer[];
      code: grpc.status;
      fresh?: 'no-hello' | 'no-token';
    };
    const validDelta = () => encode(delta(epoch, seq + 1, [{ op: 'add', path: '/x', value: 1 }]));
    const catalogue: Hostile[] = [
      {
        name: 'random bytes',
        weight: 6,
        code: S.INVALID_ARGUMENT,
        frames: () => {
          // Bytes protobuf cannot read (a field number 0 or a truncated varint first).
          const b = Buffer.alloc(1 + int(64));
          for (let i = 0; i < b.length; i++) b[i] = int(256);
          b[0] = random() < 0.5 ? 0x00 : 0xff;
          if (b[0] === 0xff) b.fill(0xff, 0, Math.min(b.length, 11));
          return [b];
        },
      },
      {
        name: 'truncated delta',
        weight: 4,
        code: S.INVALID_ARGUMENT,
        frames: () => {
          const b = encode(delta(epoch, seq + 1, [{ op: 'add', path: '/t', value: 'y'.repeat(200) }]));
          return [b.subarray(0, 3 + int(b.length - 10))];
        },
      },
      {
        name: 'deep protobuf groups',
        weight: 1,
        code: S.INVALID_ARGUMENT,
        // Field 15 (none: unknown, skipped group by group) opened 10,000+ times, never closed.
        frames: () => [Buffer.alloc(10_000 + int(100_000), 0x7b)],
      },
      { name: 'empty kind', weight: 2, code: S.INVALID_ARGUMENT, frames: () => [Buffer.alloc(0)] },
      {
        name: 'forbidden key',
        weight: 3,
        code: S.INVALID_ARGUMENT,
        frames: () => {
          const key = ['__proto__', 'constructor', 'prototype'][int(3)]!;
          const op: PatchOperation =
            random() < 0.5
              ? { op: 'add', path: `/${key}`, value: { polluted: true } }
              : { op: 'add', path: '/obj', value: JSON.parse(`{"${key}": {"polluted": true}}`) };
          return [encode(delta(epoch, seq + 1, [{ op: 'add', path: '/ok', value: 1 }, op]))];
        },
      },
      {
        name: 'bad pointer or op',
        weight: 3,
        code: S.INVALID_ARGUMENT,
        frames: () => {
          const ops: PatchOperation[][] = [
            [{ op: 'remove', path: '/missing' }],
            [{ op: 'add', path: 'no-slash', value: 1 }],
            [{ op: 'replace', path: '', value: 1 }],
            [{ op: 'add', path: '/a~2b', value: 1 }],
            [{ op: 'move', from: '/x', path: '/x/y' }],
            [{ op: 'test', path: '/n0', value: 'never' }],
          ];
          return [encode(delta(epoch, seq + 1, ops[int(ops.length)]!))];
        },
      },
      {
        name: 'JSON past the depth limit',
        weight: 2,
        code: S.INVALID_ARGUMENT,
        frames: () => {
          const ops = opsToWire([{ op: 'add', path: '/deep', value: 0 }]);
          ops[0]!.valueJson = nested(65 + int(100_000));
          return [
            encode({
              case: 'delta',
              value: { work: 'root.w', epoch: BigInt(epoch), seq: BigInt(seq + 1), ops },
            }),
          ];
        },
      },
      {
        name: 'value over 1 MiB',
        weight: 1,
        code: S.RESOURCE_EXHAUSTED,
        frames: () => [
          encode(delta(epoch, seq + 1, [{ op: 'add', path: '/big', value: 'v'.repeat(1024 * 1024 + 1) }])),
        ],
      },
      {
        name: 'message over 4 MiB',
        weight: 0.3,
        code: S.RESOURCE_EXHAUSTED,
        frames: () => [
          encode(
            delta(epoch, seq + 1, [{ op: 'add', path: '/huge', value: 'h'.repeat(4 * 1024 * 1024 + 1) }]),
          ),
        ],
      },
      {
        name: 'stale epoch',
        weight: 3,
        code: S.FAILED_PRECONDITION,
        frames: () => [encode(delta(epoch + 1 + int(5), seq + 1, [{ op: 'add', path: '/s', value: 1 }]))],
      },
      { name: 'second hello', weight: 2, code: S.FAILED_PRECONDITION, frames: () => [encode(hello())] },
      {
        name: 'status without a phase',
        weight: 2,
        code: S.INVALID_ARGUMENT,
        frames: () => [
          encode({
            case: 'status',
            value: { work: 'root.w', epoch: BigInt(epoch), seq: BigInt(seq + 1), phase: Phase.UNSPECIFIED },
          }),
        ],
      },
      {
        name: 'snapshot part out of order',
        weight: 2,
        code: S.INVALID_ARGUMENT,
        frames: () => {
          const parts = snapshotParts(epoch, seq + 1, JSON.stringify(model), 3);
          return [encode(parts[1 + int(2)]!)];
        },
      },
      {
        name: 'delta between snapshot parts',
        weight: 2,
        code: S.INVALID_ARGUMENT,
        frames: () => [encode(snapshotParts(epoch, seq + 1, JSON.stringify(model), 2)[0]!), validDelta()],
      },
      {
        name: 'snapshot parts over the document limit',
        weight: 0.15,
        code: S.RESOURCE_EXHAUSTED,
        frames: () => snapshotParts(epoch, seq + 1, `"${'p'.repeat(10 * 1024 * 1024)}"`, 10).map(encode),
      },
      {
        name: 'snapshot that is not an object',
        weight: 1,
        code: S.INVALID_ARGUMENT,
        frames: () => snapshotParts(epoch, seq + 1, '[1,2,3]', 1).map(encode),
      },
      {
        name: 'no hello first',
        weight: 1,
        code: S.FAILED_PRECONDITION,
        fresh: 'no-hello',
        frames: () => [validDelta()],
      },
      {
        name: 'unknown work',
        weight: 1,
        code: S.NOT_FOUND,
        fresh: 'no-hello',
        frames: () => [encode(hello({ work: `root.nobody${int(1000)}` }))],
      },
      {
        name: 'wrong protocol version',
        weight: 1,
        code: S.FAILED_PRECONDITION,
        fresh: 'no-hello',
        frames: () => [encode(hello({ protocolVersion: 99 }))],
      },
      {
        name: 'no token',
        weight: 1,
        code: S.UNAUTHENTICATED,
        fresh: 'no-token',
        frames: () => [encode(hello())],
      },
    ];
    const totalWeight = catalogue.reduce((a, h) => a + h.weight, 0);
    const pick = () => {
      let r = random() * totalWeight;
      for (const h of catalogue) {
        r -= h.weight;
        if (r < 0) return h;
      }
      return catalogue[0]!;
    };

    // The first hello registers the instance (epoch 1); later streams resume it.
    const first = stream();
    first.send(hello());
    await new Promise((r) => setTimeout(r, 200));
    epoch = loop.replicaOf('root.w')!.epoch;
    expect(epoch).toBeGreaterThan(0);
    first.end();
    await first.ended;

    while (frames < FRAMES) {
      streams++;
      const hostile = pick();
      const s = stream(hostile.fresh === 'no-token' ? '' : TOKEN);
      if (!hostile.fresh) {
        s.send(hello({ epoch: BigInt(epoch) }));
        // Resync: the model's state as a snapshot, sometimes in parts.
        const parts = snapshotParts(epoch, ++seq, JSON.stringify(model), 1 + int(3));
        for (const p of parts) s.send(p);
        frames += 1 + parts.length;
        for (let i = int(30); i > 0; i--) {
          const r = random();
          if (r < 0.5) {
            const key = `n${int(20)}`;
            model[key] = (model[key] ?? 0) + 1;
            s.send(delta(epoch, ++seq, [{ op: 'add', path: `/${key}`, value: model[key]! }]));
          } else if (r < 0.7 && seq > 1) {
            // A duplicate: an old seq, with a value that would show if it applied.
            s.send(delta(epoch, 1 + int(seq), [{ op: 'add', path: '/dup', value: seq }]));
            duplicates++;
          } else if (r < 0.85) {
            s.send({ case: 'log', value: { work: 'root.w', lines: [`line ${frames}`] } });
          } else {
            s.send({ case: 'heartbeat', value: { timestampMs: BigInt(Date.now()) } });
          }
          frames++;
        }
      }
      const bad = hostile.frames();
      for (const b of bad) s.sendBytes(b);
      frames += bad.length;
      const status = await Promise.race([
        s.ended,
        new Promise<grpc.StatusObject>((r) =>
          setTimeout(
            () => r({ code: -1 as grpc.status, details: 'no answer in 30 s', metadata: new grpc.Metadata() }),
            30_000,
          ),
        ),
      ]);
      s.end();
      const code = S[status.code] ?? String(status.code);
      codes.set(code, (codes.get(code) ?? 0) + 1);
      if (status.code !== hostile.code) {
        mismatches.push(`${hostile.name}: expected ${S[hostile.code]}, got ${code} (${status.details})`);
      }
    }

    // Only the benign deltas applied, each once; nothing reached a prototype.
    const settle = () => new Promise<void>((r) => loop.post(() => r()));
    await settle();
    expect(mismatches.slice(0, 10)).toEqual([]);
    expect(loop.snapshot()['root.w']!.vars).toEqual(model);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(codes.get('INTERNAL') ?? 0).toBe(0);

    // And a well-behaved daemon is still served.
    const good = stream();
    good.send(hello({ epoch: BigInt(epoch) }));
    for (const p of snapshotParts(epoch, ++seq, JSON.stringify(model), 1)) good.send(p);
    good.send(delta(epoch, ++seq, [{ op: 'add', path: '/after', value: 1 }]));
    await new Promise((r) => setTimeout(r, 200));
    await settle();
    expect(loop.snapshot()['root.w']!.vars).toEqual({ ...model, after: 1 });
    good.end();

    process.stdout.write(
      `reliability: hostile frames tried ${frames} on ${streams} streams, duplicates ${duplicates} (applied 0), crashes 0, codes ${[...codes].map(([c, n]) => `${c} ${n}`).join(', ')}, seed ${seed}\n`,
    );
  });
});
