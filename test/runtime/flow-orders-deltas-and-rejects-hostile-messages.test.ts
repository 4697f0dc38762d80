/**
 * The flow's side of the protocol, driven by a hand-written daemon over a real gRPC
 * connection: ordering (duplicates, gaps, out-of-order), epoch fencing, auth, and hostile
 * input. Each rejection must carry the right gRPC code, change nothing, and leave the flow
 * serving the next stream.
 */
import * as grpc from '@grpc/grpc-js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Flow, LightningApp, Work } from '../../constructs/index.ts';
import { EventLoop } from '../../daemon/flow/event-loop.ts';
import { FlowServer } from '../../daemon/flow/flow-server.ts';
import { decodeFlowMessage, opsToWire, PROTOCOL_VERSION } from '../../daemon/protocol/flow-service.ts';
import type { PatchOperation } from '../../daemon/state/json-patch.ts';
import { type FlowMessage, Phase } from '../../proto/gen/lightning/v1/runtime_pb.ts';
import { encodeKind, type Kind, rawFlowClient } from '../support/raw-flow-client.ts';

class Idle extends Work<{ a?: number; nested?: object }> {
  override async execute(): Promise<void> {}
}
class Root extends Flow {
  readonly w = new Idle(this, 'w');
  override run(): void {}
}

const TOKEN = 'test-token-0123456789';
let loop: EventLoop;
let server: FlowServer;
let address: string;

beforeEach(async () => {
  const app = new LightningApp({ name: 'proto' });
  new Root(app, 'root');
  loop = new EventLoop(app);
  server = new FlowServer(loop, { token: TOKEN });
  address = `127.0.0.1:${await server.listen()}`;
  loop.start();
});

afterEach(async () => {
  await server.close();
});

/** A raw daemon: sends bytes it builds itself, records what the flow answers and how the stream ends. */
function rawDaemon(token = TOKEN) {
  const client = rawFlowClient(address, { 'grpc.max_send_message_length': 64 * 1024 * 1024 });
  const call = client.attach(token);
  const received: FlowMessage[] = [];
  const waiters: (() => void)[] = [];
  const ended = new Promise<grpc.StatusObject>((resolve) => {
    call.on('status', (s: grpc.StatusObject) => resolve(s));
  });
  call.on('error', () => {});
  call.on('data', (b: Buffer) => {
    received.push(decodeFlowMessage(b));
    for (const w of waiters.splice(0)) w();
  });
  const next = (kind: FlowMessage['kind']['case']) =>
    new Promise<FlowMessage>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${kind} from the flow`)), 10_000);
      const check = () => {
        const i = received.findIndex((m) => m.kind.case === kind);
        if (i >= 0) {
          clearTimeout(timer);
          resolve(received.splice(i, 1)[0]!);
        } else waiters.push(check);
      };
      check();
    });
  return {
    send: (kind: Kind) => call.write(encodeKind(kind)),
    sendBytes: (b: Buffer) => call.write(b),
    next,
    ended,
    received,
    close: () => {
      call.end();
      client.close();
    },
  };
}

const hello = (instanceId = 'i-1', epoch = 0n): Kind => ({
  case: 'hello',
  value: { protocolVersion: PROTOCOL_VERSION, work: 'root.w', instanceId, epoch, pid: 1, hostname: 'test' },
});
const delta = (epoch: number, seq: number, ops: PatchOperation[]): Kind => ({
  case: 'delta',
  value: { work: 'root.w', epoch: BigInt(epoch), seq: BigInt(seq), ops: opsToWire(ops) },
});
const snapshot = (epoch: number, seq: number, state: object): Kind => ({
  case: 'snapshot',
  value: { work: 'root.w', epoch: BigInt(epoch), seq: BigInt(seq), stateJson: JSON.stringify(state) },
});
const vars = () => loop.snapshot()['root.w']!.vars as Record<string, unknown>;
/** Waits until the loop has processed everything sent so far (a heartbeat round trip through the queue). */
const settle = () => new Promise<void>((resolve) => loop.post(() => resolve()));
const settleAfter = async (ms = 50) => {
  await new Promise((r) => setTimeout(r, ms));
  await settle();
};

async function attached() {
  const d = rawDaemon();
  d.send(hello());
  const welcome = await d.next('welcome');
  const epoch = Number(welcome.kind.case === 'welcome' ? welcome.kind.value.epoch : 0);
  d.send(snapshot(epoch, 1, { a: 0 }));
  await settleAfter();
  return { d, epoch };
}

describe('ordering by epoch and seq', () => {
  it('applies in-order deltas and drops duplicates', async () => {
    const { d, epoch } = await attached();
    d.send(delta(epoch, 2, [{ op: 'replace', path: '/a', value: 1 }]));
    d.send(delta(epoch, 2, [{ op: 'replace', path: '/a', value: 99 }])); // duplicate seq
    d.send(delta(epoch, 3, [{ op: 'add', path: '/nested', value: { x: 1 } }]));
    await settleAfter();
    expect(vars()).toEqual({ a: 1, nested: { x: 1 } });
    expect(loop.stats.duplicates).toBe(1);
    d.close();
  });

  it('on a gap (or out-of-order arrival) drops the delta, asks for a snapshot, and converges on it', async () => {
    const { d, epoch } = await attached();
    d.send(delta(epoch, 3, [{ op: 'replace', path: '/a', value: 3 }])); // seq 2 missing: arrives later
    const request = await d.next('snapshotRequest');
    expect(request.kind.case === 'snapshotRequest' && request.kind.value.reason).toMatch(
      /expected seq 2, got 3/,
    );
    // The seq that showed the gap: the daemon answers a repeat of this request only once.
    expect(request.kind.case === 'snapshotRequest' && request.kind.value.seq).toBe(3n);
    d.send(delta(epoch, 2, [{ op: 'replace', path: '/a', value: 2 }])); // late: ignored while a snapshot is due
    await settleAfter();
    expect(vars()).toEqual({ a: 0 });
    d.send(snapshot(epoch, 4, { a: 3 }));
    d.send(delta(epoch, 5, [{ op: 'replace', path: '/a', value: 5 }]));
    await settleAfter();
    expect(vars()).toEqual({ a: 5 });
    expect(loop.stats.gaps).toBe(1);
    d.close();
  });

  it('drops a delta overtaken by the parts of a later snapshot, and rejects a newer one between them', async () => {
    const { d, epoch } = await attached();
    const part = (seq: number, n: number, text: string): Kind => ({
      case: 'snapshot',
      value: { work: 'root.w', epoch: BigInt(epoch), seq: BigInt(seq), stateJson: text, part: n, parts: 2 },
    });
    d.send(part(3, 0, '{"a":'));
    d.send(delta(epoch, 2, [{ op: 'replace', path: '/a', value: 2 }])); // sent before, arrives late
    d.send(part(3, 1, '3}'));
    await settleAfter();
    expect(vars()).toEqual({ a: 3 });
    expect(loop.stats.duplicates).toBe(1);
    expect(loop.stats.rejected).toBe(0);
    d.send(part(5, 0, '{"a":'));
    d.send(delta(epoch, 6, [{ op: 'replace', path: '/a', value: 6 }])); // the daemon never sends that
    const end = await d.ended;
    expect(end.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(end.details).toMatch(/between the parts of a snapshot/);
    expect(vars()).toEqual({ a: 3 });
    d.close();
  });

  it('rejects a delta from a stale epoch with FAILED_PRECONDITION and applies nothing', async () => {
    const { d, epoch } = await attached();
    d.send(delta(epoch - 1, 2, [{ op: 'replace', path: '/a', value: 7 }]));
    const status = await d.ended;
    expect(status.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(status.details).toMatch(/stale epoch/);
    expect(vars()).toEqual({ a: 0 });
  });

  it('fences an older daemon process once a newer one registered', async () => {
    const first = await attached();
    const second = rawDaemon();
    second.send(hello('i-2'));
    const welcome = await second.next('welcome');
    const newEpoch = Number(welcome.kind.case === 'welcome' ? welcome.kind.value.epoch : 0);
    expect(newEpoch).toBe(first.epoch + 1);
    expect((await first.d.ended).code).toBe(grpc.status.ABORTED);
    second.send(snapshot(newEpoch, 1, { a: 42 }));
    await settleAfter();
    expect(vars()).toEqual({ a: 42 });
    second.close();
  });
});

describe('hostile and malformed input', () => {
  it('refuses a wrong token with UNAUTHENTICATED before any handler runs', async () => {
    const d = rawDaemon('wrong-token');
    d.send(hello());
    const status = await d.ended;
    expect(status.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(d.received).toEqual([]);
    expect(loop.stats.drains).toBeLessThan(3); // start + nothing from this stream
  });

  it('rejects __proto__ in a patch path or value with INVALID_ARGUMENT, atomically', async () => {
    const { d, epoch } = await attached();
    d.send(
      delta(epoch, 2, [
        { op: 'replace', path: '/a', value: 1 },
        { op: 'add', path: '/__proto__/polluted', value: true },
      ]),
    );
    const status = await d.ended;
    expect(status.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(status.details).toMatch(/"__proto__" .* is not allowed in state/);
    expect(vars()).toEqual({ a: 0 }); // the first op was not applied either
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();

    const again = await attached();
    const wire = opsToWire([{ op: 'add', path: '/nested', value: 1 }]);
    wire[0]!.valueJson = '{"__proto__": {"polluted": true}}';
    again.d.send({
      case: 'delta',
      value: { work: 'root.w', epoch: BigInt(again.epoch), seq: 2n, ops: wire },
    });
    expect((await again.d.ended).code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('rejects bytes that are not a DaemonMessage with INVALID_ARGUMENT', async () => {
    const d = rawDaemon();
    d.sendBytes(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]));
    const status = await d.ended;
    expect(status.code).toBe(grpc.status.INVALID_ARGUMENT);
  });

  it('rejects a message over the size limit with RESOURCE_EXHAUSTED', async () => {
    const { d, epoch } = await attached();
    d.send(delta(epoch, 2, [{ op: 'add', path: '/big', value: 'x'.repeat(5 * 1024 * 1024) }]));
    const status = await d.ended;
    expect(status.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(vars()).toEqual({ a: 0 });
  });

  it('rejects a value nested past the depth limit with INVALID_ARGUMENT', async () => {
    const { d, epoch } = await attached();
    let deep: unknown = 1;
    for (let i = 0; i < 100; i++) deep = { d: deep };
    d.send(delta(epoch, 2, [{ op: 'add', path: '/nested', value: deep as never }]));
    expect((await d.ended).code).toBe(grpc.status.INVALID_ARGUMENT);
  });

  it('rejects a status without a phase, and a message before hello', async () => {
    const { d, epoch } = await attached();
    d.send({
      case: 'status',
      value: { work: 'root.w', epoch: BigInt(epoch), seq: 2n, phase: Phase.UNSPECIFIED, callHash: '' },
    });
    expect((await d.ended).code).toBe(grpc.status.INVALID_ARGUMENT);

    const early = rawDaemon();
    early.send(delta(1, 1, [{ op: 'add', path: '/a', value: 1 }]));
    expect((await early.ended).code).toBe(grpc.status.FAILED_PRECONDITION);
  });

  it('keeps serving well-behaved daemons after all of the above', async () => {
    for (const bad of ['wrong', TOKEN]) {
      const d = rawDaemon(bad);
      d.sendBytes(Buffer.from([0xff, 0xff]));
      await d.ended;
    }
    const { d, epoch } = await attached();
    d.send(delta(epoch, 2, [{ op: 'replace', path: '/a', value: 11 }]));
    await settleAfter();
    expect(vars()).toEqual({ a: 11 });
    d.close();
  });
});
