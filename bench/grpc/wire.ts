/**
 * The bare transport baseline's wire: `lightning.v1.FlowService/Attach` on plain grpc-js with
 * protobuf-es messages from proto/gen, nothing of our runtime (no auth, no event loop, no
 * state). It carries exactly what a work daemon sends: DaemonMessage{delta: StateDelta} with
 * one PatchOp per change, and the flow answers every delta with an Ack.
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import {
  type DaemonMessage,
  DaemonMessageSchema,
  type FlowMessage,
  FlowMessageSchema,
  type PatchOp,
  PatchOp_Op,
  PatchOpSchema,
} from '../../proto/gen/lightning/v1/runtime_pb.ts';

// The same RPC path the runtime serves (the bare baseline shares only the wire, not the code).
export { ATTACH_PATH } from '../../daemon/protocol/flow-service.ts';

import { ATTACH_PATH } from '../../daemon/protocol/flow-service.ts';

export const attachDefinition: grpc.ServiceDefinition = {
  attach: {
    path: ATTACH_PATH,
    requestStream: true,
    responseStream: true,
    requestSerialize: (m: DaemonMessage) => Buffer.from(toBinary(DaemonMessageSchema, m)),
    requestDeserialize: (b: Buffer) => fromBinary(DaemonMessageSchema, b),
    responseSerialize: (m: FlowMessage) => Buffer.from(toBinary(FlowMessageSchema, m)),
    responseDeserialize: (b: Buffer) => fromBinary(FlowMessageSchema, b),
  },
};

export const AttachClient = grpc.makeGenericClientConstructor(attachDefinition, 'FlowService');

/** The same limits the runtime configures, so both sides of the comparison match. */
export const channelOptions: grpc.ChannelOptions = {
  'grpc.max_receive_message_length': 4 * 1024 * 1024,
  'grpc.max_send_message_length': 4 * 1024 * 1024,
};

/** One change of a work's counter as the daemon encodes it: replace /count with the new value. */
export function countOp(value: number): PatchOp {
  return create(PatchOpSchema, { op: PatchOp_Op.REPLACE, path: '/count', valueJson: String(value) });
}

/** How the baseline's producers send. */
export interface BareClientConfig {
  readonly address: string;
  /** Work ids (indices into the server's observation table) this process serves. */
  readonly works: readonly number[];
  /** "tight": K changes per tick as fast as flow control allows; "paced": ratePerWork changes/s. */
  readonly mode: 'tight' | 'paced';
  /** true: a tick's changes travel as one StateDelta with many ops (as our daemon sends them). */
  readonly batched: boolean;
  readonly changesPerTick: number;
  readonly ratePerWork: number;
  readonly seconds: number;
  /** Directory for the producers' logs (`w<i>.bin`, little-endian float64 wall ms per change). */
  readonly outDir: string;
}
