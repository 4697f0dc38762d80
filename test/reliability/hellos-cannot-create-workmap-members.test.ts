/**
 * Issue 10 item 9: a client with the app token could create WorkMap members without end by
 * sending hellos for new names (each one a Work with state and a journal entry). Hellos now
 * name works the flow has created; others end NOT_FOUND (a real daemon retries, so one that
 * reconnects to a resumed flow before run() re-created its member gets in on a later try).
 */
import { create, toBinary } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { Flow, LightningApp, Work, WorkMap } from '../../constructs/index.ts';
import { EventLoop } from '../../daemon/flow/event-loop.ts';
import { FlowServer } from '../../daemon/flow/flow-server.ts';
import { ATTACH_PATH, PROTOCOL_VERSION } from '../../daemon/protocol/flow-service.ts';
import { DaemonMessageSchema } from '../../proto/gen/lightning/v1/runtime_pb.ts';

class Idle extends Work {
  override async execute(): Promise<void> {}
}
class Root extends Flow {
  readonly trials = new WorkMap(this, 'trials', (scope, key) => new Idle(scope, key));
  override run(): void {
    this.trials.get('known');
  }
}

const TOKEN = 'test-token-hellos';

function helloFrom(address: string, work: string): Promise<grpc.StatusObject> {
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
  const client = new Client(address, grpc.credentials.createInsecure());
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${TOKEN}`);
  const call = (
    client as unknown as { attach(m: grpc.Metadata): grpc.ClientDuplexStream<Buffer, Buffer> }
  ).attach(md);
  call.on('error', () => {});
  call.on('data', () => {});
  const message = create(DaemonMessageSchema, {
    kind: {
      case: 'hello',
      value: {
        protocolVersion: PROTOCOL_VERSION,
        work,
        instanceId: `i-${work}`,
        epoch: 0n,
        pid: 1,
        hostname: 't',
      },
    },
  });
  call.write(Buffer.from(toBinary(DaemonMessageSchema, message)));
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      call.cancel();
      client.close();
      resolve({ code: grpc.status.OK, details: 'still open', metadata: new grpc.Metadata() });
    }, 1500);
    call.on('status', (s: grpc.StatusObject) => {
      clearTimeout(timer);
      client.close();
      resolve(s);
    });
  });
}

describe('hellos from daemons', () => {
  it('cannot create WorkMap members; a created member is served', async () => {
    const app = new LightningApp({ name: 'hellos' });
    new Root(app, 'root');
    const loop = new EventLoop(app);
    const server = new FlowServer(loop, { token: TOKEN });
    const address = `127.0.0.1:${await server.listen()}`;
    loop.start();
    try {
      await new Promise<void>((resolve) => {
        const check = () =>
          loop.workNames().includes('root.trials.known') ? resolve() : setTimeout(check, 20);
        check();
      });
      const before = loop.workNames().length;
      const answers = await Promise.all(
        Array.from({ length: 20 }, (_, i) => helloFrom(address, `root.trials.spam-${i}`)),
      );
      for (const a of answers) expect(a.code).toBe(grpc.status.NOT_FOUND);
      expect(loop.workNames()).toHaveLength(before);
      expect(app.workMaps()[0]!.size).toBe(1);
      // The member the flow created is served (the stream stays open).
      expect((await helloFrom(address, 'root.trials.known')).details).toBe('still open');
    } finally {
      await server.close();
    }
  });
});
