/**
 * Scenario 1's ceiling: a bare grpc-js bidirectional stream carrying the same messages as our
 * runtime, with no runtime around it. The server (in this process, standing in for the flow)
 * decodes each DaemonMessage, notes the counter it carries and acks once per tick; producer processes
 * (standing in for work daemons) stream StateDeltas. Throughput and per-change latency come
 * from the same join as ours (lib/stats.ts).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { create } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import {
  AckSchema,
  type DaemonMessage,
  type FlowMessage,
  FlowMessageSchema,
  WelcomeSchema,
} from '../../proto/gen/lightning/v1/runtime_pb.ts';
import { joinStreams, type Observation, type StreamRunResult, TimeLog, wallMs } from '../lib/stats.ts';
import { attachDefinition, type BareClientConfig, channelOptions } from './wire.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const CLIENT = join(import.meta.dirname, 'bare-client.ts');

export interface BareStreamOptions {
  readonly works: number;
  readonly mode: 'tight' | 'paced';
  readonly batched: boolean;
  readonly seconds: number;
  /** Changes per event-loop tick in tight mode. @default 100 */
  readonly changesPerTick?: number;
  /** Changes/s per work in paced mode. @default 100 */
  readonly ratePerWork?: number;
  /** At most this many producer processes; works are spread over them. @default 10 */
  readonly maxProcesses?: number;
}

export interface BareStreamResult extends StreamRunResult {
  readonly messages: number;
}

export async function runBareStream(opts: BareStreamOptions): Promise<BareStreamResult> {
  const outDir = mkdtempSync(join(tmpdir(), 'bench-bare-'));
  const times = Array.from({ length: opts.works }, () => new TimeLog());
  const counts = Array.from({ length: opts.works }, () => new TimeLog());
  const calls: grpc.ServerDuplexStream<DaemonMessage, FlowMessage>[] = [];
  let messages = 0;
  let welcomed = false;

  const server = new grpc.Server(channelOptions);
  server.addService(attachDefinition, {
    attach: (call: grpc.ServerDuplexStream<DaemonMessage, FlowMessage>) => {
      let work = -1;
      let ackSeq = 0n;
      let ackScheduled = false;
      call.on('data', (m: DaemonMessage) => {
        if (m.kind.case === 'delta') {
          const now = wallMs();
          const ops = m.kind.value.ops;
          const last = ops[ops.length - 1];
          if (last && work >= 0) {
            times[work]!.push(now);
            counts[work]!.push(Number(last.valueJson));
          }
          messages++;
          // Acks are coalesced per tick, as the flow acks once per pass.
          ackSeq = m.kind.value.seq;
          if (!ackScheduled) {
            ackScheduled = true;
            setImmediate(() => {
              ackScheduled = false;
              call.write(
                create(FlowMessageSchema, {
                  kind: { case: 'ack', value: create(AckSchema, { epoch: 1n, seq: ackSeq }) },
                }),
              );
            });
          }
        } else if (m.kind.case === 'hello') {
          work = Number(m.kind.value.work.replace(/^root\.w/, ''));
          calls.push(call);
          if (calls.length === opts.works && !welcomed) {
            welcomed = true;
            // Start everyone together, shortly after the last stream is up.
            const startAt = BigInt(Math.ceil(wallMs() + 200));
            for (const c of calls) {
              c.write(
                create(FlowMessageSchema, {
                  kind: { case: 'welcome', value: create(WelcomeSchema, { epoch: startAt }) },
                }),
              );
            }
          }
        }
      });
      call.on('end', () => call.end());
      call.on('error', () => {});
    },
  });
  const port = await new Promise<number>((res, rej) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? rej(err) : res(p),
    ),
  );

  const processes = Math.min(opts.works, opts.maxProcesses ?? 10);
  const children: Promise<number | null>[] = [];
  try {
    for (let p = 0; p < processes; p++) {
      const works: number[] = [];
      for (let w = p; w < opts.works; w += processes) works.push(w);
      const config: BareClientConfig = {
        address: `127.0.0.1:${port}`,
        works,
        mode: opts.mode,
        batched: opts.batched,
        changesPerTick: opts.changesPerTick ?? 100,
        ratePerWork: opts.ratePerWork ?? 100,
        seconds: opts.seconds,
        outDir,
      };
      const child = spawn(process.execPath, ['--import', 'tsx', CLIENT, JSON.stringify(config)], {
        cwd: ROOT,
        stdio: ['ignore', 'inherit', 'inherit'],
      });
      children.push(new Promise((r) => child.on('exit', (code) => r(code))));
    }
    const codes = await Promise.all(children);
    if (codes.some((c) => c !== 0)) throw new Error(`bare gRPC producers exited with ${codes.join(',')}`);
    const produced: Float64Array[] = [];
    const observed: Observation[][] = [];
    for (let w = 0; w < opts.works; w++) {
      const file = join(outDir, `w${w}.bin`);
      const buf = existsSync(file) ? readFileSync(file) : Buffer.alloc(0);
      produced.push(new Float64Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength)));
      const t = times[w]!.view();
      const c = counts[w]!.view();
      const obs: Observation[] = new Array(t.length);
      for (let i = 0; i < t.length; i++) obs[i] = { timeMs: t[i]!, count: c[i]! };
      observed.push(obs);
    }
    return { ...joinStreams(produced, observed), messages };
  } finally {
    server.forceShutdown();
    rmSync(outDir, { recursive: true, force: true });
  }
}

/** For debugging: `tsx bench/grpc/bare-stream.ts <works> <tight|paced> <batched 0|1> <seconds>` */
if (process.argv[1] === import.meta.filename) {
  const result = await runBareStream({
    works: Number(process.argv[2] ?? 1),
    mode: (process.argv[3] ?? 'tight') as 'tight' | 'paced',
    batched: process.argv[4] !== '0',
    seconds: Number(process.argv[5] ?? 3),
  });
  console.log(JSON.stringify(result, null, 2));
}
