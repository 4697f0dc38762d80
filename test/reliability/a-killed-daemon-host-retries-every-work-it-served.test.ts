/**
 * ADR 0022: several works' daemons share one daemon host process. `kill -9` of the host must
 * take every script it served along, retry every one of those works exactly once more, never
 * start a retry while the killed attempt still runs, and leave works in other processes alone
 * (TypeScript works never share a host with ScriptWorks).
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually, type RunningApp, startApp } from '../support/app-fixture.ts';
import { isAlive, jobOverlaps, jobRuns, jobScript, processesLeft } from './process-tree.ts';

const SCRIPTS = ['a', 'b', 'c'];

let running: RunningApp | undefined;
afterEach(async () => {
  await running?.local.kill();
  running = undefined;
});

describe('a daemon host killed with SIGKILL', () => {
  it('retries every work it served once, after their scripts are gone, and spares the others', {
    timeout: 120_000,
  }, async () => {
    const marker = `helper-${randomBytes(6).toString('hex')}`;
    const works = SCRIPTS.map(
      (w) =>
        `readonly ${w} = new ScriptWork(this, '${w}', { script: 'job.py', args: ['-${w}'], parallel: true, maxRetries: 2, retryBackoffSeconds: 0.05 });`,
    ).join('\n');
    const app = await startApp(
      {
        'job.py': jobScript({ marker, helper: 'sleep' }),
        'app.ts': `
        import { Flow, LightningApp, ScriptWork, Work, type WorkContext } from '@api';
        class Waits extends Work {
          override async execute(_args: object, ctx: WorkContext) {
            await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
          }
        }
        class Root extends Flow {
          ${works}
          readonly t = new Waits(this, 't', { state: {}, parallel: true });
          override run() { ${SCRIPTS.map((w) => `this.${w}.run({});`).join(' ')} this.t.run({}); }
        }
        const app = new LightningApp({ name: 'hostkill' });
        new Root(app, 'root');
        export default app;`,
      },
      // One host per kind, whatever the machine's core count: the three ScriptWorks share it.
      { hostsPerGroup: 1 },
    );
    running = app;
    const phase = (w: string) => app.local.loop.statusOf(`root.${w}`)?.phase;
    await app.until(() => [...SCRIPTS, 't'].every((w) => phase(w) === 'running'), 60_000, 'all running');
    for (const w of SCRIPTS)
      await eventually(
        () => jobRuns(app.dir, `-${w}`),
        (r) => r.length === 1,
        30_000,
      );
    const host = app.local.daemons.pidOf('root.a')!;
    expect(SCRIPTS.map((w) => app.local.daemons.pidOf(`root.${w}`))).toEqual([host, host, host]);
    const tsDaemon = app.local.daemons.pidOf('root.t')!;
    expect(tsDaemon).not.toBe(host);
    const tsStatusesBefore = app.statuses.filter((s) => s.work === 'root.t').length;

    process.kill(host, 'SIGKILL');

    for (const w of SCRIPTS) {
      const runs = await eventually(
        () => jobRuns(app.dir, `-${w}`),
        (r) => r.length >= 2,
        60_000,
      );
      expect(runs).toHaveLength(2);
      expect(await isAlive(runs[0]!)).toBe(false);
      expect(await jobOverlaps(app.dir, `-${w}`)).toEqual([]);
    }
    await app.until(() => SCRIPTS.every((w) => phase(w) === 'running'), 60_000, 'retries running');
    const newHost = app.local.daemons.pidOf('root.a')!;
    expect(newHost).not.toBe(host);
    expect(SCRIPTS.map((w) => app.local.daemons.pidOf(`root.${w}`))).toEqual([newHost, newHost, newHost]);
    // The TypeScript work's process was not touched and its call never left `running`.
    expect(app.local.daemons.pidOf('root.t')).toBe(tsDaemon);
    expect(app.statuses.filter((s) => s.work === 'root.t').length).toBe(tsStatusesBefore);
    expect(phase('t')).toBe('running');
    // One retry each: nothing ran a third time.
    for (const w of SCRIPTS) expect(await jobRuns(app.dir, `-${w}`)).toHaveLength(2);

    await app.local.stop();
    expect(await processesLeft(marker)).toEqual([]);
    for (const w of SCRIPTS)
      for (const pid of await jobRuns(app.dir, `-${w}`)) expect(await isAlive(pid)).toBe(false);
  });
});
