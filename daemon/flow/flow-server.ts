/**
 * The flow's gRPC server: authenticates daemon streams, decodes their messages, and hands
 * them to the event loop. Anything unexpected while handling a stream ends that stream with
 * a generic status (no internals leak) and the server keeps serving.
 */
import * as grpc from '@grpc/grpc-js';
import { DaemonError, GrpcCode, LightningError } from '../../constructs/errors.ts';
import type { FlowMessage } from '../../proto/gen/lightning/v1/runtime_pb.ts';
import {
  authInterceptor,
  decodeDaemonMessage,
  flowServiceServerDefinition,
  grpcChannelOptions,
} from '../protocol/flow-service.ts';
import type { DaemonSession, EventLoop } from './event-loop.ts';

export interface FlowServerOptions {
  readonly token: string;
  /** host:port to listen on. @default '127.0.0.1:0' */
  readonly listen?: string;
  /** TLS credentials for cloud mode. @default insecure (loopback only) */
  readonly credentials?: grpc.ServerCredentials;
}

export class FlowServer {
  private readonly server: grpc.Server;
  private readonly loop: EventLoop;
  private nextId = 1;
  private readonly live = new Set<grpc.ServerDuplexStream<Buffer, FlowMessage>>();
  port = 0;

  constructor(
    loop: EventLoop,
    private readonly options: FlowServerOptions,
  ) {
    this.loop = loop;
    this.server = new grpc.Server({
      ...grpcChannelOptions(),
      interceptors: [authInterceptor(options.token)],
    });
    this.server.addService(flowServiceServerDefinition, {
      attach: (call: grpc.ServerDuplexStream<Buffer, FlowMessage>) => this.attach(call),
    });
  }

  async listen(): Promise<number> {
    const address = this.options.listen ?? '127.0.0.1:0';
    this.port = await new Promise<number>((resolve, reject) => {
      this.server.bindAsync(
        address,
        this.options.credentials ?? grpc.ServerCredentials.createInsecure(),
        (err, port) =>
          err
            ? reject(
                new LightningError('LISTEN', `the flow cannot listen on ${address}: ${err.message}`, {
                  cause: err,
                  fix: 'pick a free port (--listen host:0 takes any) or stop the process that holds it',
                }),
              )
            : resolve(port),
      );
    });
    return this.port;
  }

  /** Stops accepting streams and ends the open ones. */
  async close(): Promise<void> {
    for (const call of this.live) call.end();
    await new Promise<void>((resolve) => {
      this.server.tryShutdown(() => resolve());
      setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, 2000).unref();
    });
  }

  private attach(call: grpc.ServerDuplexStream<Buffer, FlowMessage>): void {
    this.live.add(call);
    let closed = false;
    let helloSeen = false;
    let helloWork = '';
    const session: DaemonSession = {
      id: this.nextId++,
      peer: call.getPeer(),
      send: (message) => {
        if (!closed) call.write(message);
      },
      close: (code, message) => {
        if (closed) return;
        closed = true;
        call.emit('error', { code, details: message, metadata: new grpc.Metadata() });
        call.end();
      },
    };
    const finish = () => {
      if (!this.live.delete(call)) return;
      closed = true;
      this.loop.onClosed(session);
    };
    call.on('data', (bytes: Buffer) => {
      if (closed) return;
      try {
        const message = decodeDaemonMessage(bytes);
        if (!helloSeen) {
          if (message.kind.case !== 'hello') {
            throw new DaemonError(
              GrpcCode.FAILED_PRECONDITION,
              'the first message on a stream must be hello',
            );
          }
          helloSeen = true;
          const work = message.kind.value.work;
          helloWork = work;
          // Only works the flow has created: a hello must not create WorkMap members (anyone
          // with the token could add them without end). A daemon retries NOT_FOUND, so one
          // that dials a resumed flow before run() re-created its member gets in later.
          if (this.loop.statusOf(work) === undefined) {
            throw new DaemonError(
              GrpcCode.NOT_FOUND,
              `no work named "${work.slice(0, 200)}" in app ${this.loop.app.name} (yet): a WorkMap member exists once the flow creates it`,
            );
          }
          this.loop.onHello(session, message.kind.value);
          return;
        }
        // Heartbeats prove the stream is alive; they change no state, so they never wake the
        // loop (observers hear of them: the GPU utilisation they carry).
        if (message.kind.case === 'heartbeat') {
          this.loop.onHeartbeat(helloWork, message.kind.value);
          return;
        }
        this.loop.onMessage(session, message);
      } catch (err) {
        if (err instanceof DaemonError) session.close(err.grpcCode, err.message);
        else session.close(GrpcCode.INTERNAL, 'internal error while reading the message');
      }
    });
    call.on('end', () => {
      if (!closed) call.end();
      finish();
    });
    call.on('error', () => finish());
    call.on('close', () => finish());
    call.on('cancelled', () => finish());
  }
}
