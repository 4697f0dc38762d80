/**
 * The flow's Attach method as raw bytes both ways, for the fault proxy, which serves it to the
 * daemon and calls it on the flow: whole messages pass through untouched, so the proxy can
 * drop, repeat or hold each one. (test/support/raw-flow-client.ts is the client half
 * of this for the tests that send hand-made frames.)
 */
import * as grpc from '@grpc/grpc-js';
import { ATTACH_PATH } from '../../daemon/protocol/flow-service.ts';

const identity = (b: Buffer) => b;

/** The FlowService definition with one bidirectional method of raw frames. */
export const RAW_ATTACH: grpc.ServiceDefinition = {
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

/** Messages of up to 64 MiB either way: the tests send and forward frames over the flow's limits. */
export const LARGE_MESSAGES = {
  'grpc.max_receive_message_length': 64 << 20,
  'grpc.max_send_message_length': 64 << 20,
};

/** A client of the flow at `address` that sends and receives raw frames. */
export function rawAttachClient(address: string, options: grpc.ChannelOptions = LARGE_MESSAGES): grpc.Client {
  const Client = grpc.makeGenericClientConstructor(RAW_ATTACH, 'FlowService');
  return new Client(address, grpc.credentials.createInsecure(), options);
}
