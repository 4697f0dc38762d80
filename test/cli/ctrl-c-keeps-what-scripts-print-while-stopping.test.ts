/**
 * Issue 10 item 4: on Ctrl-C the flow keeps listening until every daemon said goodbye
 * (bounded by the grace period), so what scripts print in their SIGTERM handlers reaches the
 * terminal and `.lightning/logs`, and every work's final `stopped` status is recorded (the
 * journal is what `--resume` and `lightning-local state` read). Before, the loop stopped
 * handling daemon messages the moment the app ended: 12 of 12 last words were lost.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Journal } from '../../daemon/flow/journal.ts';
import { CLI, eventually, writeApp } from '../support/app-fixture.ts';

/** A Python script that takes a moment to clean up on SIGTERM and says so. */
const CAREFUL = (name: string) => `
import signal, sys, time
def stop(*_):
    print("${name}: saving checkpoint", flush=True)
    time.sleep(0.5)
    print("${name}: checkpoint saved, bye", flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
print("${name} started", flush=True)
while True:
    time.sleep(1)
`;

describe('lightning-local run and Ctrl-C', () => {
  it('prints and logs what scripts say while stopping, and records every work stopped', async () => {
    const dir = await writeApp({
      'a.py': CAREFUL('a'),
      'b.py': CAREFUL('b'),
      'app.ts': `
        import { Flow, LightningApp, ScriptWork } from '@api';
        class Root extends Flow {
          readonly a = new ScriptWork(this, 'a', { script: 'a.py', parallel: true });
          readonly b = new ScriptWork(this, 'b', { script: 'b.py', parallel: true });
          override run() { this.a.run({}); this.b.run({}); }
        }
        const app = new LightningApp({ name: 'last-words' });
        new Root(app, 'root');
        export default app;`,
    });
    const cli = spawn(process.execPath, [CLI, 'run', join(dir, 'app.ts'), '--no-ui'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const collect = (c: Buffer) => {
      out += c.toString();
    };
    cli.stdout.on('data', collect);
    cli.stderr.on('data', collect);
    const exit = new Promise<number | null>((resolve) => cli.on('exit', (code) => resolve(code)));
    await eventually(
      async () => out,
      (o) => o.includes('a started') && o.includes('b started'),
      60_000,
    );
    cli.kill('SIGINT');
    expect(await exit).toBe(130);
    // On the terminal, before the runner's last line.
    const ended = out.indexOf('app ended after');
    expect(ended).toBeGreaterThan(0);
    for (const name of ['a', 'b']) {
      const bye = out.indexOf(`${name}: checkpoint saved, bye`);
      expect(bye, `${name}'s last words on the terminal:\n${out}`).toBeGreaterThan(0);
      expect(bye).toBeLessThan(ended);
      expect(out.indexOf(`${name}: saving checkpoint`)).toBeLessThan(bye);
    }
    expect(out).toMatch(/root\.a.*running → stopped/);
    expect(out).toMatch(/root\.b.*running → stopped/);
    // In the log files.
    for (const name of ['a', 'b']) {
      const log = await readFile(join(dir, '.lightning', 'logs', 'latest', `root.${name}.log`), 'utf8');
      expect(log).toContain(`${name}: saving checkpoint`);
      expect(log).toContain(`${name}: checkpoint saved, bye`);
      expect(log).toMatch(/status running -> stopped/);
    }
    // In the journal: the state the next --resume starts from.
    const docs = await Journal.load(join(dir, '.lightning', 'journal'));
    for (const name of ['a', 'b']) {
      expect((docs?.[`root.${name}`]?.status as { phase?: string } | undefined)?.phase).toBe('stopped');
    }
  });
});
