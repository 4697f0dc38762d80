/**
 * The model test's random command sequences (test/support/state-commands.ts), driven through
 * the tool users run: `lightning-local run` (a real flow process) and the work's real daemon
 * process, which owns the work's state (ADR 0013). The in-process variant
 * (state-never-diverges-under-random-commands.test.ts) adds reconnects, restarts and
 * conflicting writes and shrinks failures; this one checks that the same commands give the
 * same state when the two sides really run at once, in separate processes, over the network.
 *
 * fast-check generates RUNS runs from SEED; the app executes them one after another in one
 * app process (a process start per run would cost minutes). Each run has its own keys in the
 * work's document: the work writes its keys in `execute()` (ticks in between), the flow
 * writes its keys into `this.w.state` inside a pass and from a promise chain outside passes.
 * Both sides interleave as the processes schedule them; their keys are disjoint, so the model
 * (a plain object running the same commands) does not depend on that order. Then a second
 * call dumps the work's copy (the flow's requests reach the daemon before the call does), and
 * the flow dumps its own. Before about one run in sixteen the flow kills the work's daemon
 * (SIGKILL, by pid): the call sent to it fails and its retry goes to the new daemon, which
 * gets the state from the flow. Checked per run: work copy == flow copy == model. At the
 * end: the UI's /api/state == the journal replay == every run's model together.
 * Seed: STATE_MODEL_SEED; runs: STATE_MODEL_PROCESS_RUNS (default 300).
 */
import { spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Journal } from '../../daemon/flow/journal.ts';
import { stableStringify } from '../../daemon/state/stable-hash.ts';
import { CLI, REPO, writeApp } from '../support/app-fixture.ts';
import { assignCopy, type Cmd, cmdArb, runCmd, showCmd } from '../support/state-commands.ts';

const RUNS = Number(process.env.STATE_MODEL_PROCESS_RUNS ?? 300);
const SEED = Number(process.env.STATE_MODEL_SEED ?? Date.now() % 2 ** 31);
const WORK_KEYS = ['wa', 'wb', 'wl', 'wo'];
const FLOW_KEYS = ['fa', 'fb', 'fl', 'fo'];
/** Large values are capped here: every run's keys stay in one document until the end. */
const MAX_LARGE = 2000;

type Doc = Record<string, unknown>;
/** A command and whether its side yields a tick after it. */
type Action = readonly [Cmd, boolean];

interface Run {
  readonly keys: readonly string[];
  /** Kill the work's daemon (SIGKILL) just before this run's call: a new one takes over. */
  readonly restartBefore: boolean;
  readonly work: readonly Action[];
  readonly pass: readonly Cmd[];
  readonly flow: readonly Action[];
}

const actions = (keys: readonly string[], max: number) =>
  fc.array(fc.tuple(cmdArb(keys), fc.boolean()), { maxLength: max });
const runArb = fc.record({
  work: actions(WORK_KEYS, 6),
  pass: fc.array(cmdArb(FLOW_KEYS), { maxLength: 3 }),
  flow: actions(FLOW_KEYS, 4),
  restartBefore: fc.integer({ min: 0, max: 15 }).map((n) => n === 0),
});

/** Gives run `i` its own keys (`r12_wa`) and caps large values. */
function own(i: number, cmd: Cmd): Cmd {
  const c = { ...cmd, key: `r${i}_${cmd.key}` } as Cmd;
  return c.t === 'large' ? { ...c, n: Math.min(c.n, MAX_LARGE) } : c;
}

function plan(): Run[] {
  return fc.sample(runArb, { seed: SEED, numRuns: RUNS }).map((r, i) => ({
    keys: [...WORK_KEYS, ...FLOW_KEYS].map((k) => `r${i}_${k}`),
    restartBefore: r.restartBefore,
    work: r.work.map(([c, y]) => [own(i, c), y] as const),
    pass: r.pass.map((c) => own(i, c)),
    flow: r.flow.map(([c, y]) => [own(i, c), y] as const),
  }));
}

function model(run: Run): Doc {
  const doc: Doc = {};
  for (const [c] of run.work) runCmd(doc, c, assignCopy);
  for (const c of run.pass) runCmd(doc, c, assignCopy);
  for (const [c] of run.flow) runCmd(doc, c, assignCopy);
  return doc;
}

const appSource = (planFile: string, dumps: string) => `
import { readFileSync, writeFileSync } from 'node:fs';
import { Flow, LightningApp, Work } from '@api';
import { assignDirect, runCmd } from ${JSON.stringify(join(REPO, 'test/support/state-commands.ts'))};
import { flushPendingArrays } from ${JSON.stringify(join(REPO, 'daemon/state/state-recorder.ts'))};

type Doc = Record<string, unknown>;
const runs = JSON.parse(readFileSync(${JSON.stringify(planFile)}, 'utf8'));
const tick = () => new Promise((r) => setImmediate(r));
// Where a tick may pass inside a command: record pending array changes, as the microtask would.
const settle = () => flushPendingArrays();
const pick = (doc: Doc, keys: string[]) =>
  JSON.stringify(Object.fromEntries(keys.filter((k) => doc[k] !== undefined).map((k) => [k, doc[k]])));

class ModelWork extends Work<Doc> {
  override async execute(args: { run: number; dump?: boolean }): Promise<void> {
    const run = runs[args.run];
    // The flow kills this process by its pid to restart the daemon (see restartBefore).
    if (this.state.pid !== process.pid) this.state.pid = process.pid;
    if (args.dump) {
      writeFileSync(${JSON.stringify(dumps)} + '/work-' + args.run + '.json', pick(this.state, run.keys));
      return;
    }
    for (const [cmd, yieldAfter] of run.work) {
      runCmd(this.state, cmd, assignDirect, settle);
      if (yieldAfter) await tick();
    }
  }
}

class Root extends Flow<{ run: number; beat: number; finished: boolean; restarts: number }> {
  // A call sent to a daemon that was just killed fails (daemon_exit); its retry goes to the new one.
  readonly w = new ModelWork(this, 'w', { parallel: true, state: {}, maxRetries: 3, retryBackoffSeconds: 0.05 });
  private killed = -1;
  private stage: 'commands' | 'dump' = 'commands';
  private started = -1;
  private flowDone = -1;
  constructor(app: LightningApp) {
    super(app, 'root', { state: { run: 0, beat: 0, finished: false, restarts: 0 } });
  }
  override run(): void {
    const r = this.state.run;
    if (r >= runs.length) {
      if (!this.state.finished) this.state.finished = true;
      return;
    }
    const run = runs[r];
    if (this.stage === 'commands') {
      const pid = (this.w.state as Doc).pid;
      if (run.restartBefore && this.killed !== r && typeof pid === 'number') {
        this.killed = r;
        process.kill(pid, 'SIGKILL');
        this.state.restarts++;
      }
      this.w.run({ run: r });
      if (this.started !== r) {
        this.started = r;
        for (const cmd of run.pass) runCmd(this.w.state as Doc, cmd, assignDirect, settle);
        void (async () => {
          // Outside any pass, as a timer or promise in run() would write.
          for (const [cmd, yieldAfter] of run.flow) {
            runCmd(this.w.state as Doc, cmd, assignDirect, settle);
            if (yieldAfter) await tick();
          }
          this.flowDone = r;
          this.state.beat++; // a write, so a pass sees flowDone
        })();
      }
      if (!this.w.hasSucceeded || this.flowDone !== r) return;
      this.stage = 'dump';
    }
    this.w.run({ run: r, dump: true });
    if (!this.w.hasSucceeded) return;
    writeFileSync(${JSON.stringify(dumps)} + '/flow-' + r + '.json', pick(this.w.state as Doc, run.keys));
    this.stage = 'commands';
    this.state.run = r + 1;
  }
}

const app = new LightningApp({ name: 'model-processes' });
new Root(app);
export default app;
`;

async function getJson(url: string, token: string): Promise<unknown> {
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status} ${await res.text()}`);
  return res.json();
}

describe('state never diverges (model-based, real processes)', () => {
  it(`holds for ${RUNS} random runs through lightning-local run (seed ${SEED})`, {
    timeout: 600_000,
  }, async () => {
    const runs = plan();
    const dir = await writeApp({});
    const dumps = join(dir, 'dumps');
    await mkdir(dumps);
    await writeFile(join(dir, 'plan.json'), JSON.stringify(runs));
    await writeFile(
      join(dir, 'app.ts'),
      appSource(join(dir, 'plan.json'), dumps).replaceAll(
        "'@api'",
        JSON.stringify(join(REPO, 'constructs/index.ts')),
      ),
    );
    const t0 = Date.now();
    const child = spawn(process.execPath, [CLI, 'run', join(dir, 'app.ts'), '--ui-port', '0'], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' },
    });
    let output = '';
    child.stdout!.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.stderr!.on('data', (d: Buffer) => {
      output += d.toString();
    });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    let ui: Doc | undefined;
    let restarts = 0;
    try {
      // The API takes the token the flow writes to .lightning/ui-token (readable by this user).
      let base: string | undefined;
      while (!base && child.exitCode === null) {
        base = /(http:\/\/127\.0\.0\.1:\d+\/)\?token=/.exec(output)?.[1];
        await new Promise((r) => setTimeout(r, 100));
      }
      if (!base) throw new Error(`the app exited before printing its UI link:\n${output}`);
      const token = (await readFile(join(dir, '.lightning', 'ui-token'), 'utf8')).trim();
      for (;;) {
        if (child.exitCode !== null) throw new Error(`the app exited early:\n${output.slice(-4000)}`);
        const state = (await getJson(`${base}api/state`, token)) as Record<string, { vars: Doc }>;
        if (state.root?.vars.finished === true) {
          ui = state['root.w']?.vars;
          restarts = state.root.vars.restarts as number;
          break;
        }
        await new Promise((r) => setTimeout(r, 250));
      }
    } finally {
      if (child.exitCode === null) child.kill('SIGINT');
      await exited;
    }
    const seconds = ((Date.now() - t0) / 1000).toFixed(1);

    const divergences: string[] = [];
    const all: Doc = {};
    for (const [i, run] of runs.entries()) {
      const expected = stableStringify(model(run));
      Object.assign(all, model(run));
      const work = stableStringify(JSON.parse(await readFile(join(dumps, `work-${i}.json`), 'utf8')));
      const flow = stableStringify(JSON.parse(await readFile(join(dumps, `flow-${i}.json`), 'utf8')));
      if (work !== expected || flow !== expected) {
        divergences.push(
          `run ${i}: work [${run.work.map(([c]) => showCmd(c)).join('; ')}] pass [${run.pass.map(showCmd).join('; ')}] flow [${run.flow.map(([c]) => showCmd(c)).join('; ')}]\n model ${expected}\n work  ${work}\n flow  ${flow}`,
        );
      }
    }
    const commands = runs.reduce((n, r) => n + r.work.length + r.pass.length + r.flow.length, 0);
    console.log(
      `state model (processes): seed ${SEED}, ${runs.length} runs, ${commands} commands, ${divergences.length} divergences, ${restarts} daemon restarts, ${seconds} s`,
    );
    expect(divergences, `replay: STATE_MODEL_SEED=${SEED}\n${divergences.slice(0, 3).join('\n')}`).toEqual(
      [],
    );
    // `pid` is the test's own bookkeeping (the daemon to kill), not a model key.
    const withoutPid = (doc: unknown) => stableStringify({ ...(doc as Doc), pid: undefined });
    expect(withoutPid(ui), 'UI /api/state vs the models').toBe(stableStringify(all));
    const replay = await Journal.load(join(dir, '.lightning', 'journal'));
    expect(withoutPid(replay?.['root.w']?.vars), 'journal replay vs the models').toBe(stableStringify(all));
    if (runs.filter((r) => r.restartBefore).length > 1) expect(restarts).toBeGreaterThan(0);
  });
});
