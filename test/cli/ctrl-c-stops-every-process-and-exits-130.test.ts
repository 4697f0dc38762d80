import { spawn } from 'node:child_process';
import { readlink } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { CLI, eventually, processesWith, writeApp } from '../support/app-fixture.ts';

describe('lightning-local run and Ctrl-C', () => {
  it('stops every daemon, script and script child, and exits 130', async () => {
    const dir = await writeApp({
      // A script that ignores nothing special but has a child of its own.
      'long.sh': '#!/usr/bin/env bash\nsleep 300 &\necho started\nwait\n',
      'py_long.py': 'import time\nprint("py started", flush=True)\ntime.sleep(300)\n',
      'app.ts': `
        import { Flow, LightningApp, ScriptWork } from '@api';
        class Root extends Flow {
          readonly a = new ScriptWork(this, 'a', { script: 'long.sh', parallel: true });
          readonly b = new ScriptWork(this, 'b', { script: 'py_long.py', parallel: true });
          constructor(app: LightningApp) { super(app, 'root'); }
          override run() { this.a.run({}); this.b.run({}); }
        }
        const app = new LightningApp({ name: 'ctrlc' });
        new Root(app);
        export default app;`,
    });
    const cli = spawn(process.execPath, [CLI, 'run', `${dir}/app.ts`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    cli.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    cli.stderr.on('data', (c: Buffer) => {
      out += c.toString();
    });
    await eventually(
      async () => out,
      (o) => o.includes('started') && o.includes('py started'),
      30_000,
    );
    expect(out).toContain('py started');
    // Every process of the app has the temp dir on its command line (daemons: the app file;
    // scripts: their path), or is a child of one.
    const before = await processesWith(dir);
    expect(before.length).toBeGreaterThanOrEqual(4); // 2 daemons + 2 scripts
    const exit = new Promise<number | null>((resolve) => cli.on('exit', (code) => resolve(code)));
    cli.kill('SIGINT');
    expect(await exit).toBe(130);
    expect(out).toMatch(/SIGINT: stopping every work/);
    expect(out).toMatch(/app ended after .* \(exit 130\)/);
    expect(
      await eventually(
        () => processesWith(dir),
        (p) => p.length === 0,
      ),
    ).toEqual([]);
    // The script's own child (`sleep 300 &`, cwd in the work's directory) is gone too.
    const inOurDirs = async () => {
      const ours: number[] = [];
      for (const pid of await processesWith('sleep 300')) {
        if ((await readlink(`/proc/${pid}/cwd`).catch(() => '')).startsWith(dir)) ours.push(pid);
      }
      return ours;
    };
    expect(await eventually(inOurDirs, (p) => p.length === 0)).toEqual([]);
  });
});
