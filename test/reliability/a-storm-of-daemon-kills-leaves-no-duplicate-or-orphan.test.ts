/**
 * The fault suite's daemon kills (issue 10): 20 `kill -9`s of work daemons at seeded random
 * points (during start-up, before or after the script started) across four works. Every
 * script instance checks at its start that no earlier instance of its work is still alive;
 * after the app ends, no instance and no helper is left. Prints one line of figures.
 * LIGHTNING_FAULT_SEED picks another seed (the line names the one used).
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually, type RunningApp, startApp } from '../support/app-fixture.ts';
import { isAlive, jobOverlaps, jobRuns, jobScript, processesLeft } from './process-tree.ts';
import { prng } from './seeded-random.ts';

const WORKS = ['a', 'b', 'c', 'd'];
const KILLS_PER_WORK = 5;

let running: RunningApp | undefined;
afterEach(async () => {
  await running?.local.kill();
  running = undefined;
});

describe('a storm of daemon kills', () => {
  it('never runs a work script twice at once and leaves nothing behind', { timeout: 240_000 }, async () => {
    const seed = Number(process.env.LIGHTNING_FAULT_SEED ?? 20261127);
    const random = prng(seed);
    const marker = `helper-${randomBytes(6).toString('hex')}`;
    const works = WORKS.map(
      (w) =>
        `readonly ${w} = new ScriptWork(this, '${w}', { script: 'job.py', args: ['-${w}'], parallel: true, maxRetries: ${KILLS_PER_WORK + 1}, retryBackoffSeconds: 0.05 });`,
    ).join('\n');
    const app = await startApp(
      {
        'job.py': jobScript({ marker, helper: 'sleep' }),
        'app.ts': `
        import { Flow, LightningApp, ScriptWork } from '@api';
        class Root extends Flow {
          ${works}
          override run() { ${WORKS.map((w) => `this.${w}.run({});`).join(' ')} }
        }
        const app = new LightningApp({ name: 'storm' });
        new Root(app, 'root');
        export default app;`,
      },
      // Each kill hits one work's daemon: a process per work (ADR 0022). Killing a host that
      // serves several works is a-killed-daemon-host-retries-every-work-it-served.test.ts.
      { worksPerProcess: 1 },
    );
    running = app;
    const killed = new Map<string, Set<number>>(WORKS.map((w) => [w, new Set()]));
    const runsAtLastKill = new Map<string, number>(WORKS.map((w) => [w, 0]));
    let duringStartUp = 0;
    let afterScriptStart = 0;
    const plan = Array.from(
      { length: WORKS.length * KILLS_PER_WORK },
      (_, i) => WORKS[i % WORKS.length]!,
    ).sort(() => random() - 0.5);
    for (const w of plan) {
      // The work's current daemon, one we have not killed yet.
      const pid = await eventually(
        async () => app.local.daemons.pidOf(`root.${w}`),
        (p) => p !== undefined && !killed.get(w)!.has(p),
        60_000,
      );
      // Instances started before this daemon (at most one per earlier daemon of the work).
      const runsBefore = runsAtLastKill.get(w)!;
      // Half the kills hit a daemon still starting (loading the app, dialing, waiting for the
      // attempt lock), half one whose script runs (streaming logs and status).
      if (random() < 0.5) {
        await eventually(
          async () => (await jobRuns(app.dir, `-${w}`)).length,
          (n) => n > runsBefore,
          60_000,
        );
      }
      await new Promise((r) => setTimeout(r, Math.floor(random() * 800)));
      if ((await jobRuns(app.dir, `-${w}`)).length > runsBefore) afterScriptStart++;
      else duringStartUp++;
      runsAtLastKill.set(w, (await jobRuns(app.dir, `-${w}`)).length);
      process.kill(pid!, 'SIGKILL');
      killed.get(w)!.add(pid!);
    }
    // Every work runs once more after its last kill.
    for (const w of WORKS) {
      await app.until(
        () => app.local.loop.statusOf(`root.${w}`)?.phase === 'running',
        60_000,
        `${w} running`,
      );
      const last = runsAtLastKill.get(w)!;
      await eventually(
        async () => (await jobRuns(app.dir, `-${w}`)).length,
        (n) => n > last,
        60_000,
      );
    }
    let overlaps = 0;
    let instances = 0;
    for (const w of WORKS) {
      overlaps += (await jobOverlaps(app.dir, `-${w}`)).length;
      instances += (await jobRuns(app.dir, `-${w}`)).length;
    }
    await app.local.stop();
    const leftHelpers = await processesLeft(marker);
    let orphans = leftHelpers.length;
    for (const w of WORKS)
      for (const pid of await jobRuns(app.dir, `-${w}`)) if (await isAlive(pid)) orphans++;
    process.stdout.write(
      `reliability: daemon kills ${plan.length} (start-up ${duringStartUp}, script running ${afterScriptStart}), script instances ${instances}, overlaps ${overlaps}, orphans ${orphans}, seed ${seed}\n`,
    );
    expect(overlaps).toBe(0);
    expect(orphans).toBe(0);
  });
});
