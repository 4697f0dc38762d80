/**
 * The flow's Attach method as raw bytes both ways, for tests that speak the protocol by hand
 * or forward it whole (the hostile-frame fuzzing, the hello test, the fault proxy): no
 * (de)serialization in the way, so a test can send any bytes and see exactly what came back.
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

/** Opens one Attach stream with the app token `token` (none: no authorization header). */
export function openAttach(client: grpc.Client, token: string): grpc.ClientDuplexStream<Buffer, Buffer> {
  const md = new grpc.Metadata();
  if (token) md.set('authorization', `Bearer ${token}`);
  return (client as unknown as { attach(m: grpc.Metadata): grpc.ClientDuplexStream<Buffer, Buffer> }).attach(
    md,
  );
}
