/**
 * A real flow (event loop + gRPC server) and a real work daemon (WorkDaemon, in this process)
 * joined through the fault proxy (fault-proxy.ts): the set-up of the faulty-link tests. The
 * daemon's diagnostics are kept, so a test can count what it said (a gap, a reconnect).
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LightningApp } from '../../constructs/index.ts';
import { openDrive } from '../../daemon/drive/open-drive.ts';
import { EventLoop } from '../../daemon/flow/event-loop.ts';
import { FlowServer } from '../../daemon/flow/flow-server.ts';
import { WorkDaemon } from '../../daemon/work/work-daemon.ts';
import { pollUntil } from '../support/app-fixture.ts';
import { FaultProxy, type LinkFaults } from './fault-proxy.ts';
import { prng } from './seeded-random.ts';

/** The suite's seed: LIGHTNING_FAULT_SEED, or the default one (each figures line names it). */
export function faultSeed(): number {
  return Number(process.env.LIGHTNING_FAULT_SEED ?? 20261127);
}

/**
 * The faulty link's rates, both directions, with `cut` (per message) the tests choose. The
 * flow sends fewer messages than the daemon (a request per pass that wrote, acks, control),
 * so its direction has higher rates, to hit each kind a few times per run.
 */
export function suiteFaults(cut: number): LinkFaults {
  return {
    toFlow: { drop: 0.03, duplicate: 0.05, reorder: 0.03, delay: 0.1, cut },
    toDaemon: { drop: 0.08, duplicate: 0.15, reorder: 0.08, delay: 0.1, cut },
  };
}

export interface FaultyLink {
  readonly loop: EventLoop;
  readonly proxy: FaultProxy;
  readonly daemon: WorkDaemon;
  /** What the daemon said about its link, in order. */
  readonly diagnostics: string[];
  /** What the flow said (a rejected message, …), in order. */
  readonly notices: string[];
  /** Gaps the daemon saw in the flow's requests (each one cost it a new stream). */
  requestGaps(): number;
  /**
   * Waits for the work's call to succeed, turns the faults off and writes `/closed: true`
   * into the work's state (the UI's PATCH path): one more exchange, so a message lost last,
   * with nothing after it on its way, shows as a gap (nothing resends on a timer). Resolves
   * once the daemon has it and the flow has no unconfirmed write left and `settled()` holds.
   */
  settle(settled: () => boolean): Promise<void>;
  /** Stops the daemon, the proxy and the flow. */
  close(): Promise<void>;
}

/**
 * Starts the flow of `buildApp()`, the proxy in front of it (faults drawn from `seed`, and
 * `seed + 1` for the flow → daemon direction), and the daemon of `workName`, dialing the
 * proxy. The app is built twice: the flow and the daemon each hold their own tree, as in
 * separate processes.
 */
export async function startFaultyLink(
  buildApp: () => LightningApp,
  workName: string,
  faults: LinkFaults,
  seed: number,
): Promise<FaultyLink> {
  const dir = await mkdtemp(join(tmpdir(), 'faulty-link-'));
  const token = 'faulty-link-token';
  const diagnostics: string[] = [];
  const notices: string[] = [];
  const loop = new EventLoop(buildApp());
  loop.addObserver({ onLog: () => {}, onNotice: (line) => notices.push(line) });
  const server = new FlowServer(loop, { token });
  const flowPort = await server.listen();
  loop.start();
  const proxy = new FaultProxy(`127.0.0.1:${flowPort}`, faults, prng(seed), prng(seed + 1));
  const daemon = new WorkDaemon({
    app: buildApp(),
    appDir: dir,
    workName,
    flowAddress: await proxy.listen(),
    token,
    drive: await openDrive(join(dir, 'drive')),
    maxBackoffMs: 50,
    diagnostics: (line) => diagnostics.push(line),
  });
  return {
    loop,
    proxy,
    daemon,
    diagnostics,
    notices,
    requestGaps: () => diagnostics.filter((l) => /^flow request \d+ arrived before \d+/.test(l)).length,
    async settle(settled) {
      await pollUntil(() => loop.statusOf(workName)?.phase === 'succeeded', 180_000, 'the work to succeed');
      proxy.faulty = false;
      await loop.patchState(workName, [{ op: 'add', path: '/closed', value: true }]);
      await pollUntil(
        () =>
          settled() &&
          loop.replicaOf(workName)!.unconfirmed === 0 &&
          (daemon.work.state as { closed?: boolean }).closed === true,
        30_000,
        'the flow to see every write confirmed',
      );
    },
    async close() {
      await daemon.shutdown('test over', 0);
      proxy.close();
      await server.close();
    },
  };
}
