/**
 * A client of the flow's gRPC service that writes raw bytes: a daemon that can send anything
 * (truncated frames, forbidden keys, a second hello), for the tests of what the flow refuses.
 * Our own codec is used only where a test builds a well-formed message on purpose (encodeKind).
 */
import { create, type MessageInitShape, toBinary } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import { ATTACH_PATH } from '../../daemon/protocol/flow-service.ts';
import { DaemonMessageSchema } from '../../proto/gen/lightning/v1/runtime_pb.ts';

/** One kind of daemon message, as protobuf-es takes it (`{ case: 'hello', value: {...} }`). */
export type Kind = MessageInitShape<typeof DaemonMessageSchema>['kind'];

/** The bytes of a DaemonMessage of this kind. */
export function encodeKind(kind: Kind): Buffer {
  return Buffer.from(toBinary(DaemonMessageSchema, create(DaemonMessageSchema, { kind })));
}

export interface RawFlowClient {
  /** Opens an attach stream with this bearer token (none: no authorization header). */
  attach(token: string | undefined): grpc.ClientDuplexStream<Buffer, Buffer>;
  close(): void;
}

/** A raw client of the flow at `address` (host:port), over plain TCP. */
export function rawFlowClient(address: string, options: grpc.ClientOptions = {}): RawFlowClient {
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
  const client = new Client(address, grpc.credentials.createInsecure(), options);
  return {
    attach: (token) => {
      const md = new grpc.Metadata();
      if (token) md.set('authorization', `Bearer ${token}`);
      return (
        client as unknown as { attach(m: grpc.Metadata): grpc.ClientDuplexStream<Buffer, Buffer> }
      ).attach(md);
    },
    close: () => client.close(),
  };
}
