/**
 * Producer process of the bare gRPC baseline: opens one Attach stream per work, says Hello,
 * waits for the server's Welcome (which carries the common start time), then streams counter
 * changes and logs when each was made. Run by bare-stream.ts with the config as argv[2].
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { create } from '@bufbuild/protobuf';
import type * as grpc from '@grpc/grpc-js';
import {
  type DaemonMessage,
  DaemonMessageSchema,
  type FlowMessage,
  HelloSchema,
  type PatchOp,
  StateDeltaSchema,
} from '../../proto/gen/lightning/v1/runtime_pb.ts';
import { TimeLog, wallMs } from '../lib/stats.ts';
import { AttachClient, type BareClientConfig, channelOptions, countOp } from './wire.ts';

const config = JSON.parse(process.argv[2] ?? '{}') as BareClientConfig;
const client = new (
  AttachClient as unknown as new (
    address: string,
    creds: grpc.ChannelCredentials,
    options: grpc.ChannelOptions,
  ) => grpc.Client & { attach(): grpc.ClientDuplexStream<DaemonMessage, FlowMessage> }
)(config.address, (await import('@grpc/grpc-js')).credentials.createInsecure(), channelOptions);

const tick = () => new Promise<void>((r) => setImmediate(r));
// Paced producers share one timer per process: a timer per stream would wake the process
// thousands of times a second and compete with the server for the machine's two cores.
const PACE_INTERVAL_MS = 5;
let waiters: (() => void)[] = [];
const pacer = setInterval(() => {
  const due = waiters;
  waiters = [];
  for (const w of due) w();
}, PACE_INTERVAL_MS);
const timer = () => new Promise<void>((r) => waiters.push(r));

async function produce(work: number): Promise<void> {
  const call = client.attach();
  const name = `root.w${work}`;
  const welcome = new Promise<number>((resolve, reject) => {
    call.once('data', (m: FlowMessage) => {
      // The server puts the common start time (wall ms) in Welcome.epoch: no runtime here.
      resolve(m.kind.case === 'welcome' ? Number(m.kind.value.epoch) : 0);
    });
    call.once('error', reject);
  });
  call.on('data', () => {}); // acks: read and drop, as a daemon does once journaled
  call.write(
    create(DaemonMessageSchema, { kind: { case: 'hello', value: create(HelloSchema, { work: name }) } }),
  );
  const startAt = await welcome;
  while (wallMs() < startAt) await timer();

  const log = new TimeLog();
  const end = startAt + config.seconds * 1000;
  let count = 0;
  let seq = 0n;
  const send = async (ops: PatchOp[]) => {
    seq += 1n;
    const ok = call.write(
      create(DaemonMessageSchema, {
        kind: { case: 'delta', value: create(StateDeltaSchema, { work: name, epoch: 1n, seq, ops }) },
      }),
    );
    if (!ok) await new Promise((r) => call.once('drain', r));
  };
  const change = (): PatchOp => {
    count += 1;
    log.push(wallMs());
    return countOp(count);
  };

  while (wallMs() < end) {
    let n: number;
    if (config.mode === 'tight') n = config.changesPerTick;
    else {
      const due = Math.floor(((wallMs() - startAt) * config.ratePerWork) / 1000);
      n = due - count;
    }
    if (n > 0) {
      if (config.batched) {
        const ops: PatchOp[] = new Array(n);
        for (let i = 0; i < n; i++) ops[i] = change();
        await send(ops);
      } else {
        for (let i = 0; i < n; i++) await send([change()]);
      }
    }
    await (config.mode === 'tight' ? tick() : timer());
  }
  const made = log.view();
  writeFileSync(
    join(config.outDir, `w${work}.bin`),
    Buffer.from(made.buffer, made.byteOffset, made.byteLength),
  );
  call.end();
  await new Promise<void>((resolve) => {
    call.on('end', resolve);
    call.on('error', () => resolve());
    call.on('status', () => resolve());
  });
}

await Promise.all(config.works.map(produce));
clearInterval(pacer);
client.close();
