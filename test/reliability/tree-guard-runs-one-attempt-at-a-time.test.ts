/**
 * The process-tree guard (daemon/python/lightning_tree_guard.py) on its own, as the daemon
 * starts it: a second attempt of a work waits for the lock until the first attempt's whole
 * tree is gone, and a guard whose parent is already gone never starts the script.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { guardedCommand } from '../../daemon/work/tree-guard.ts';
import { eventually } from '../support/app-fixture.ts';

function startGuarded(lock: string, script: string) {
  const cmd = guardedCommand('/bin/sh', ['-c', script], lock);
  if (!cmd) throw new Error('the guard needs Linux and python3');
  const child = spawn(cmd.file, cmd.argv, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exit, output: () => out };
}

describe('the process-tree guard', () => {
  it('starts the next attempt only after every process of the previous one is gone', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'guard-'));
    const lock = join(dir, 'attempt.lock');
    const log = join(dir, 'log');
    // The first attempt's script leaves a setsid'd helper that keeps running after a stop
    // request (it ignores SIGTERM), so only the guard's SIGKILL ends it.
    const first = startGuarded(
      lock,
      `setsid sh -c 'trap "" TERM; sleep 1; echo helper-still-here >> ${log}; sleep 300' & echo first >> ${log}; wait`,
    );
    await eventually(
      () => readFile(log, 'utf8').catch(() => ''),
      (t) => t.includes('first'),
    );
    first.child.kill('SIGTERM'); // stop: SIGTERM to the tree; the helper ignores it
    const second = startGuarded(lock, `echo second >> ${log}`);
    await eventually(
      async () => second.output(),
      (o) => o.includes('waiting for the previous attempt'),
    );
    await eventually(
      () => readFile(log, 'utf8'),
      (t) => t.includes('helper-still-here'),
      5000,
    );
    expect(await readFile(log, 'utf8')).not.toContain('second');
    first.child.kill('SIGUSR1'); // the grace period is over: kill the tree
    expect(await second.exit).toBe(0);
    expect((await readFile(log, 'utf8')).trim().split('\n')).toEqual([
      'first',
      'helper-still-here',
      'second',
    ]);
    expect(await first.exit).toBe(137); // killed its tree on SIGUSR1
  });

  it('does not start the script when its daemon is already gone', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'guard-'));
    const cmd = guardedCommand('/bin/sh', ['-c', `touch ${join(dir, 'ran')}`], join(dir, 'lock'))!;
    // --parent names a process that is not our parent: as if the daemon died before the
    // guard could ask to be told.
    const argv = cmd.argv.map((a) => (a === String(process.pid) ? '1' : a));
    const child = spawn(cmd.file, argv, { stdio: 'ignore' });
    const code = await new Promise((resolve) => child.on('exit', (c) => resolve(c)));
    expect(code).toBe(137);
    await expect(readFile(join(dir, 'ran'))).rejects.toThrow(/ENOENT/);
  });
});
