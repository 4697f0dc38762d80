/**
 * Model-based test of ADR 0013 (one owner and one order per document), against the real
 * event loop, flow server and work daemon in this process, over real gRPC on loopback.
 *
 * fast-check generates runs of steps. A step writes with random commands on both sides (the
 * work's execute side; the flow outside a pass, as a timer would; the flow inside a pass),
 * in a random interleaving with ticks in between, then maybe cuts the daemon's stream or
 * restarts the daemon, during or after the writes. At every quiescent point:
 * - flow copy (loop.snapshot(), what the UI's /api/state serves) == work copy == the owner's
 *   confirmed copy == a replay of the journal;
 * - each side's keys equal a plain reference model that ran the same commands (a restart in
 *   the middle of writes may lose the old daemon's last writes: the model then takes the
 *   owner's state after checking convergence);
 * - every state run() observed while it had no unconfirmed writes is a state the owner sent
 *   (no phantom states); epochs count daemon starts; nothing was rejected.
 * Seed: STATE_MODEL_SEED; runs: STATE_MODEL_RUNS (default 1000). Failures shrink and print
 * the seed and path to replay.
 */
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Flow, LightningApp, Work } from '../../constructs/index.ts';
import { Journal } from '../../daemon/flow/journal.ts';
import { stableStringify } from '../../daemon/state/stable-hash.ts';
import { flushPendingArrays } from '../../daemon/state/state-recorder.ts';
import { type InProcessApp, startInProcessApp } from '../support/in-process-app.ts';
import { assignCopy, assignDirect, type Cmd, cmdArb, runCmd, showCmd } from '../support/state-commands.ts';

const RUNS = Number(process.env.STATE_MODEL_RUNS ?? 1000);
const SEED = Number(process.env.STATE_MODEL_SEED ?? Date.now() % 2 ** 31);
const WORK_KEYS = ['wa', 'wb', 'wl', 'wo'];
const FLOW_KEYS = ['fa', 'fb', 'fl', 'fo'];
const SHARED_KEYS = ['sa', 'sl'];
const W = 'root.w';

type Doc = Record<string, unknown>;
type Disturb = 'none' | 'reconnect-mid' | 'reconnect-after' | 'restart-mid' | 'restart-after';

interface Step {
  readonly work: readonly Cmd[];
  readonly flow: readonly Cmd[];
  readonly pass: readonly Cmd[];
  /** Shared-key writes from both sides: convergence is checked, the model then follows the owner. */
  readonly conflict: { readonly work: readonly Cmd[]; readonly flow: readonly Cmd[] } | null;
  /** Per action: take a work command next (else a flow one), and yield a tick after it. */
  readonly schedule: readonly (readonly [boolean, boolean])[];
  readonly disturb: Disturb;
}

const stepArb: fc.Arbitrary<Step> = fc.record({
  work: fc.array(cmdArb(WORK_KEYS), { maxLength: 4 }),
  flow: fc.array(cmdArb(FLOW_KEYS), { maxLength: 3 }),
  pass: fc.array(cmdArb(FLOW_KEYS), { maxLength: 3 }),
  conflict: fc.option(
    fc.record({
      work: fc.array(cmdArb(SHARED_KEYS), { minLength: 1, maxLength: 2 }),
      flow: fc.array(cmdArb(SHARED_KEYS), { minLength: 1, maxLength: 2 }),
    }),
    { freq: 4 },
  ),
  schedule: fc.array(fc.tuple(fc.boolean(), fc.boolean()), { minLength: 14, maxLength: 14 }),
  disturb: fc.oneof(
    { weight: 12, arbitrary: fc.constant<Disturb>('none') },
    { weight: 1, arbitrary: fc.constant<Disturb>('reconnect-mid') },
    { weight: 1, arbitrary: fc.constant<Disturb>('reconnect-after') },
    { weight: 1, arbitrary: fc.constant<Disturb>('restart-mid') },
    { weight: 1, arbitrary: fc.constant<Disturb>('restart-after') },
  ),
});

/** What the flow's run() shares with the test: commands to run in the next pass, and what it saw. */
interface PassContext {
  app: InProcessApp | null;
  todo: Cmd[];
  observed: string[];
}

function builder(ctx: PassContext) {
  return () => {
    const app = new LightningApp({ name: 'model' });
    class Idle extends Work<Doc> {
      override async execute(_args: object, c: { signal: AbortSignal }): Promise<void> {
        await new Promise<void>((resolve) => c.signal.addEventListener('abort', () => resolve()));
      }
    }
    class Root extends Flow {
      readonly w = new Idle(this, 'w', { parallel: true });
      override run(): void {
        this.w.run({});
        const r = ctx.app?.loop.replicaOf(W);
        if (r && !r.ownedByFlow && r.unconfirmed === 0) ctx.observed.push(stableStringify(this.w.state));
        for (const c of ctx.todo.splice(0)) runCmd(this.w.state as Doc, c, assignDirect, settle);
      }
    }
    new Root(app, 'root');
    return app;
  };
}

/** Records pending array changes, as the next microtask would in a real app. */
const settle = () => flushPendingArrays();
const tick = () => new Promise<void>((r) => setImmediate(r));
const pick = (doc: unknown, keys: readonly string[]) =>
  stableStringify(Object.fromEntries(keys.map((k) => [k, (doc as Doc)[k]])));

/** Waits until both copies agree and nothing is in flight; throws (a divergence) after 5 s. */
async function quiesce(app: InProcessApp, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const d = app.daemons.get(W)!.sequence;
    const r = app.loop.replicaOf(W)!;
    const flow = stableStringify(app.flowState(W));
    const work = stableStringify(app.workState(W));
    if (
      d.connected &&
      app.loop.isIdle &&
      d.unsent === 0 &&
      r.unconfirmed === 0 &&
      !r.ownedByFlow &&
      r.epoch === d.epoch &&
      r.appliedSeq === d.seq &&
      flow === work
    ) {
      return;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `diverged after ${what}:\n flow ${flow}\n work ${work}\n replica ${JSON.stringify({ ...r, confirmed: undefined })}\n daemon ${JSON.stringify(d)}`,
      );
    }
    await (Date.now() + 4_900 > deadline ? new Promise((res) => setTimeout(res, 2)) : tick());
  }
}

async function runSteps(steps: readonly Step[], stats: { commands: number }): Promise<void> {
  const ctx: PassContext = { app: null, todo: [], observed: [] };
  const ownerStates = new Set<string>();
  const app = await startInProcessApp(builder(ctx), {
    daemons: [W],
    onStateSent: (_w, _e, _s, json) => ownerStates.add(stableStringify(JSON.parse(json))),
  });
  ctx.app = app;
  let starts = 1;
  const model: Doc = {};
  try {
    await quiesce(app, 'start');
    for (const [i, step] of steps.entries()) {
      const workState = () => app.daemons.get(W)!.work.state as Doc;
      const flowState = () => (app.loop.app.find(W) as Work).state as Doc;
      const queues = {
        work: [...step.work, ...(step.conflict?.work ?? [])],
        flow: [...step.flow, ...(step.conflict?.flow ?? [])],
      };
      let passQueued = false;
      const disturb = async (when: 'mid' | 'after') => {
        if (step.disturb === `reconnect-${when}`) app.dropStream(W);
        if (step.disturb === `restart-${when}`) {
          await app.startDaemon(W);
          starts++;
        }
      };
      for (const [n, [workNext, yieldAfter]] of step.schedule.entries()) {
        const side = (workNext && queues.work.length > 0) || queues.flow.length === 0 ? 'work' : 'flow';
        const cmd = queues[side].shift();
        if (cmd) {
          runCmd(side === 'work' ? workState() : flowState(), cmd, assignDirect, settle);
          stats.commands++;
        }
        if (!passQueued && (n >= 6 || queues.flow.length === 0)) {
          passQueued = true;
          ctx.todo.push(...step.pass);
          stats.commands += step.pass.length;
          app.loop.post(() => {});
        }
        if (n === 7) await disturb('mid');
        if (yieldAfter) await tick();
      }
      for (const side of ['work', 'flow'] as const) {
        for (const cmd of queues[side]) {
          runCmd(side === 'work' ? workState() : flowState(), cmd, assignDirect, settle);
          stats.commands++;
        }
      }
      const what = `step ${i + 1}`;
      await quiesce(app, what);
      await disturb('after');
      await quiesce(app, `${what} (after ${step.disturb})`);
      // The model ran the same commands; each side owns its keys.
      for (const c of step.work) runCmd(model, c, assignCopy);
      for (const c of [...step.flow, ...step.pass]) runCmd(model, c, assignCopy);
      const flow = app.flowState(W) as Doc;
      const followOwner = step.conflict !== null || step.disturb === 'restart-mid';
      if (!followOwner) {
        expect(pick(flow, WORK_KEYS), `${what}: work keys vs model`).toBe(pick(model, WORK_KEYS));
        expect(pick(flow, FLOW_KEYS), `${what}: flow keys vs model`).toBe(pick(model, FLOW_KEYS));
        expect(app.loop.stats.rejected, `${what}: rejected messages`).toBe(0);
      }
      if (followOwner) {
        for (const k of Object.keys(model)) delete model[k];
        Object.assign(model, structuredClone(flow));
      }
      const replica = app.loop.replicaOf(W)!;
      expect(stableStringify(replica.confirmed), `${what}: confirmed`).toBe(stableStringify(flow));
      expect(replica.epoch, `${what}: epoch counts daemon starts`).toBe(starts);
      await app.journal.whenWritten();
      const replay = await Journal.load(join(app.dir, 'journal'));
      expect(stableStringify(replay?.[W]?.vars), `${what}: journal replay`).toBe(stableStringify(flow));
      for (const seen of ctx.observed)
        expect(ownerStates.has(seen), `${what}: phantom state ${seen}`).toBe(true);
      ctx.observed.length = 0;
    }
  } finally {
    await app.stop();
  }
}

describe('state never diverges (model-based, in-process)', () => {
  it(`holds for ${RUNS} random runs (seed ${SEED})`, { timeout: 600_000 }, async () => {
    const stats = { runs: 0, commands: 0 };
    const t0 = Date.now();
    const result = await fc.check(
      fc.asyncProperty(fc.array(stepArb, { minLength: 1, maxLength: 4 }), async (steps) => {
        stats.runs++;
        await runSteps(steps, stats);
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: false },
    );
    const seconds = ((Date.now() - t0) / 1000).toFixed(1);
    console.log(
      `state model: seed ${SEED}, ${stats.runs} runs, ${stats.commands} commands, ${result.failed ? 1 : 0} divergences, ${seconds} s`,
    );
    if (result.failed) {
      const steps = (result.counterexample?.[0] ?? []) as Step[];
      const shown = steps.map(
        (s, i) =>
          `  step ${i + 1} (${s.disturb}): work [${s.work.map(showCmd).join('; ')}] flow [${s.flow.map(showCmd).join('; ')}] pass [${s.pass.map(showCmd).join('; ')}]${s.conflict ? ` conflict work [${s.conflict.work.map(showCmd).join('; ')}] flow [${s.conflict.flow.map(showCmd).join('; ')}]` : ''}`,
      );
      throw new Error(
        `${(result.errorInstance as Error)?.message}\nshrunk counterexample:\n${shown.join('\n')}\nreplay: STATE_MODEL_SEED=${SEED} (fast-check path ${result.counterexamplePath})`,
      );
    }
  });
});
