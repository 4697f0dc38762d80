/**
 * Opens one daemon → flow stream (DESIGN §3.1): the app token in the metadata, the hello
 * first, each message from the flow decoded before the daemon sees it, and one `onEnd` per
 * stream however it ends (error, end, close), so the daemon reconnects exactly once.
 */
import { hostname } from 'node:os';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import type { JsonValue } from '../../constructs/json.ts';
import {
  type DaemonMessage,
  DaemonMessageSchema,
  type FlowMessage,
  type StatusSchema,
} from '../../proto/gen/lightning/v1/runtime_pb.ts';
import { splitText } from '../protocol/document-parts.ts';
import { decodeFlowMessage, type FlowServiceClient, PROTOCOL_VERSION } from '../protocol/flow-service.ts';
import { parseStateJson, StateLimits } from '../state/json-patch.ts';

export type FlowStream = grpc.ClientDuplexStream<DaemonMessage, Buffer>;

export interface FlowStreamHandlers {
  /** A decoded message; a throw rejects it and cancels the stream. */
  readonly onMessage: (message: FlowMessage) => void;
  /** The stream ended (once), with why. */
  readonly onEnd: (why: string) => void;
  /** Diagnostics: a rejected message, a refused token. */
  readonly diag: (line: string) => void;
}

export function openFlowStream(
  client: InstanceType<typeof FlowServiceClient>,
  token: string,
  hello: { readonly work: string; readonly instanceId: string; readonly epoch: number },
  handlers: FlowStreamHandlers,
): FlowStream {
  const metadata = new grpc.Metadata();
  metadata.set('authorization', `Bearer ${token}`);
  const call = (client as unknown as { attach(md: grpc.Metadata): FlowStream }).attach(metadata);
  let ended = false;
  const onEnd = (why: string) => {
    if (ended) return;
    ended = true;
    handlers.onEnd(why);
  };
  call.on('data', (bytes: Buffer) => {
    try {
      handlers.onMessage(decodeFlowMessage(bytes));
    } catch (err) {
      handlers.diag(`rejected a message from the flow: ${(err as Error).message}`);
      call.cancel();
    }
  });
  call.on('error', (err: grpc.ServiceError) => {
    if (err.code === grpc.status.UNAUTHENTICATED) {
      handlers.diag(`the flow refused our token (${err.details}). Check LIGHTNING_TOKEN.`);
    }
    onEnd(`${grpc.status[err.code] ?? err.code}: ${err.details}`);
  });
  call.on('end', () => onEnd('stream ended'));
  call.on('close', () => onEnd('stream closed'));
  call.write(
    create(DaemonMessageSchema, {
      kind: {
        case: 'hello',
        value: {
          protocolVersion: PROTOCOL_VERSION,
          work: hello.work,
          instanceId: hello.instanceId,
          epoch: BigInt(hello.epoch),
          pid: process.pid,
          hostname: hostname(),
        },
      },
    }),
  );
  return call;
}

/** The state a welcome carries (the flow's copy of ours), if it is an object. */
export function welcomeState(stateJson: string): Record<string, JsonValue> | undefined {
  const limit = StateLimits.maxDocumentBytes + StateLimits.maxPartBytes;
  const vars = parseStateJson(stateJson || '{}', 'welcome state', limit);
  return typeof vars === 'object' && vars !== null && !Array.isArray(vars)
    ? (vars as Record<string, JsonValue>)
    : undefined;
}

type DaemonMessageKind = MessageInitShape<typeof DaemonMessageSchema>['kind'];

/** A document as snapshot messages, in as many parts as it needs (same seq); the last carries `last`. */
export function snapshotMessages(
  work: string,
  epoch: number,
  seq: number,
  text: string,
  last: { readonly status: MessageInitShape<typeof StatusSchema>; readonly appliedFlowSeq: number },
): DaemonMessageKind[] {
  const pieces = splitText(text);
  return pieces.map((stateJson, part) => ({
    case: 'snapshot',
    value: {
      work,
      epoch: BigInt(epoch),
      seq: BigInt(seq),
      stateJson,
      part,
      parts: pieces.length,
      ...(part === pieces.length - 1
        ? { status: last.status, appliedFlowSeq: BigInt(last.appliedFlowSeq) }
        : {}),
    },
  }));
}
