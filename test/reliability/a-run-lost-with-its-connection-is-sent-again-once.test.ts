/**
 * A connection that breaks right after the flow wrote a Run (issue 10, the faulty link): the
 * Run is lost with it, and the daemon comes back on a new stream as the same process (same
 * epoch). The flow must send the Run again, or the call sits `pending` for ever. And the
 * opposite case: the daemon got the Run, ran the call and its reports were lost with the
 * connection; then the call must not run a second time.
 */
import { fromBinary } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { Flow, LightningApp, Work } from '../../constructs/index.ts';
import { DaemonMessageSchema, FlowMessageSchema } from '../../proto/gen/lightning/v1/runtime_pb.ts';
import { pollUntil } from '../support/app-fixture.ts';
import { startFaultyLink } from './faulty-link-rig.ts';

type S = { runs: number };

function buildApp() {
  class Once extends Work<S> {
    override async execute() {
      this.state.runs++;
    }
  }
  class Root extends Flow {
    readonly w = new Once(this, 'w', { state: { runs: 0 } });
    override run() {
      this.w.run({});
    }
  }
  const app = new LightningApp({ name: 'lostrun' });
  new Root(app, 'root');
  return app;
}

describe('a Run lost with its connection', () => {
  it('is sent again on the new stream, and the call runs once', { timeout: 60_000 }, async () => {
    const link = await startFaultyLink(buildApp, 'root.w', {}, 1);
    const { loop, proxy, daemon } = link;
    // The flow's first Run never reaches the daemon: the link breaks as it passes.
    link.proxy.cutBeforeToDaemon = (b) => fromBinary(FlowMessageSchema, b).kind.case === 'run';
    try {
      await daemon.start();
      await pollUntil(() => loop.statusOf('root.w')?.phase === 'succeeded', 30_000, 'the call to succeed');
      expect(proxy.counts.cuts).toBe(1);
      expect(proxy.counts.runs).toBe(2);
      expect((loop.snapshot()['root.w']!.vars as S).runs).toBe(1);
      expect(daemon.sequence.epoch).toBe(1); // the same daemon process came back
    } finally {
      await link.close();
    }
  });

  it('is not sent again when the daemon got it and only its reports were lost', {
    timeout: 60_000,
  }, async () => {
    const link = await startFaultyLink(buildApp, 'root.w', {}, 1);
    const { loop, proxy, daemon } = link;
    // The daemon's first status of the call (pending) breaks the link: it runs the call while
    // it dials again, and the flow hears of it only from the snapshot on the new stream.
    link.proxy.cutBeforeToFlow = (b) => fromBinary(DaemonMessageSchema, b).kind.case === 'status';
    try {
      await daemon.start();
      await pollUntil(() => loop.statusOf('root.w')?.phase === 'succeeded', 30_000, 'the call to succeed');
      await new Promise((r) => setTimeout(r, 300)); // a second run, if any, would have started
      expect(proxy.counts.cuts).toBe(1);
      expect(proxy.counts.runs).toBe(1);
      expect((loop.snapshot()['root.w']!.vars as S).runs).toBe(1);
      expect((daemon.work.state as S).runs).toBe(1);
    } finally {
      await link.close();
    }
  });
});
