/**
 * grpc-js wiring of `lightning.v1.FlowService` with protobuf-es messages, plus the codec
 * between wire PatchOps and in-memory patch operations.
 *
 * The server deserializes nothing itself: it receives raw bytes and the session decodes
 * them, so a malformed message becomes INVALID_ARGUMENT from our code (with a useful
 * message) instead of a generic INTERNAL from the transport.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import { DaemonError, GrpcCode } from '../../constructs/errors.ts';
import {
  type DaemonMessage,
  DaemonMessageSchema,
  type FlowMessage,
  FlowMessageSchema,
  type PatchOp,
  PatchOp_Op,
  PatchOpSchema,
} from '../../proto/gen/lightning/v1/runtime_pb.ts';
import { type PatchOperation, type PatchOpName, parseStateJson } from '../state/json-patch.ts';
import { opNeeds } from '../state/patch-shape.ts';

/** 2: snapshots and welcomes in parts (a state larger than one message). */
export const PROTOCOL_VERSION = 2;

/** Largest message either side accepts (grpc-js answers RESOURCE_EXHAUSTED above it). */
export const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

export const ATTACH_PATH = '/lightning.v1.FlowService/Attach';

const identity = (b: Buffer) => b;

/** Server side: raw request bytes in, FlowMessage out. */
export const flowServiceServerDefinition: grpc.ServiceDefinition = {
  attach: {
    path: ATTACH_PATH,
    requestStream: true,
    responseStream: true,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: (m: FlowMessage) => Buffer.from(toBinary(FlowMessageSchema, m)),
    responseDeserialize: identity,
  },
};

/** Client side: DaemonMessage out, raw response bytes in (decoded by the daemon). */
export const flowServiceClientDefinition: grpc.ServiceDefinition = {
  attach: {
    path: ATTACH_PATH,
    requestStream: true,
    responseStream: true,
    requestSerialize: (m: DaemonMessage) => Buffer.from(toBinary(DaemonMessageSchema, m)),
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};

export const FlowServiceClient = grpc.makeGenericClientConstructor(
  flowServiceClientDefinition,
  'FlowService',
);

export function decodeDaemonMessage(bytes: Buffer): DaemonMessage {
  try {
    return fromBinary(DaemonMessageSchema, bytes);
  } catch (err) {
    throw new DaemonError(GrpcCode.INVALID_ARGUMENT, `malformed DaemonMessage: ${(err as Error).message}`);
  }
}

export function decodeFlowMessage(bytes: Buffer): FlowMessage {
  try {
    return fromBinary(FlowMessageSchema, bytes);
  } catch (err) {
    throw new DaemonError(GrpcCode.INVALID_ARGUMENT, `malformed FlowMessage: ${(err as Error).message}`);
  }
}

const OP_TO_WIRE: Record<PatchOpName, PatchOp_Op> = {
  add: PatchOp_Op.ADD,
  remove: PatchOp_Op.REMOVE,
  replace: PatchOp_Op.REPLACE,
  move: PatchOp_Op.MOVE,
  copy: PatchOp_Op.COPY,
  test: PatchOp_Op.TEST,
};
const OP_FROM_WIRE = new Map<PatchOp_Op, PatchOpName>(
  Object.entries(OP_TO_WIRE).map(([k, v]) => [v, k as PatchOpName]),
);

export function opsToWire(ops: readonly PatchOperation[]): PatchOp[] {
  const out: PatchOp[] = new Array(ops.length);
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    out[i] = create(PatchOpSchema, {
      op: OP_TO_WIRE[op.op],
      path: op.path,
      from: op.from ?? '',
      valueJson: op.value === undefined ? '' : JSON.stringify(op.value),
    });
  }
  return out;
}

/** Decodes and validates wire ops (values parsed as data-only JSON). */
export function opsFromWire(ops: readonly PatchOp[]): PatchOperation[] {
  const out: PatchOperation[] = new Array(ops.length);
  for (let i = 0; i < ops.length; i++) {
    const w = ops[i]!;
    const name = OP_FROM_WIRE.get(w.op);
    if (!name) throw new DaemonError(GrpcCode.INVALID_ARGUMENT, `op #${i} has unknown kind ${w.op}`);
    const needs = opNeeds(name);
    if (needs.value && w.valueJson === '') {
      throw new DaemonError(GrpcCode.INVALID_ARGUMENT, `op #${i} (${name} ${w.path}) has no value`);
    }
    out[i] = {
      op: name,
      path: w.path,
      ...(needs.from ? { from: w.from } : {}),
      ...(needs.value ? { value: parseStateJson(w.valueJson, w.path) } : {}),
    };
  }
  return out;
}

/** Constant-time token check (hashes first so lengths never leak). */
export function tokenMatches(expected: string, given: string | undefined): boolean {
  if (given === undefined) return false;
  const a = createHash('sha256').update(expected).digest();
  const b = createHash('sha256').update(given).digest();
  return timingSafeEqual(a, b);
}

export function bearer(metadata: grpc.Metadata): string | undefined {
  const v = metadata.get('authorization')[0];
  if (typeof v !== 'string') return undefined;
  return v.startsWith('Bearer ') ? v.slice(7) : undefined;
}

/**
 * Server interceptor: every call must carry `authorization: Bearer <app token>`; otherwise
 * it ends with UNAUTHENTICATED before any handler sees it.
 */
export function authInterceptor(token: string): grpc.ServerInterceptor {
  return (_method, call) =>
    new grpc.ServerInterceptingCall(call, {
      start: (next) => {
        next({
          onReceiveMetadata: (metadata, nextMeta) => {
            if (tokenMatches(token, bearer(metadata))) nextMeta(metadata);
            else {
              call.sendStatus({
                code: grpc.status.UNAUTHENTICATED,
                details:
                  'missing or wrong app token: the daemon must send the token the flow was started with',
              });
            }
          },
        });
      },
    });
}

export function grpcChannelOptions(): grpc.ChannelOptions {
  return {
    'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
    'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
    // A dead peer (VM preempted, cable pulled) is noticed within ~40 s; an idle app with 100
    // works pings ~3 times a second in total.
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.http2.min_ping_interval_without_data_ms': 5_000,
  };
}
