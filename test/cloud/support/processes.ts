/**
 * Real processes for the cloud lifecycle tests: a copy of a fixture app in a temp dir (so
 * journals and Drives stay out of the repository) and child processes whose output can be
 * awaited line by line.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { API } from '../../support/app-fixture.ts';

/** Copies test/cloud/fixtures/<name> to a temp dir; its app.ts imports the repository's constructs. */
export function copyFixture(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `lightning-${name}-`));
  cpSync(new URL(`../fixtures/${name}`, import.meta.url).pathname, dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), '{ "type": "module", "private": true }\n');
  const app = join(dir, 'app.ts');
  writeFileSync(
    app,
    readFileSync(app, 'utf8').replaceAll("'../../../../constructs/index.ts'", JSON.stringify(API)),
  );
  return dir;
}

export interface Proc {
  readonly child: ChildProcess;
  /** stdout and stderr, interleaved as they arrived. */
  output: string;
  readonly exit: Promise<number | null>;
  /** Resolves with the first match of `re` in the output; rejects after `ms` or when the process exits first. */
  waitFor(re: RegExp, ms?: number): Promise<RegExpMatchArray>;
  /** SIGTERM, then SIGKILL after `graceMs`, to the process group; resolves once it exited. */
  stop(graceMs?: number): Promise<void>;
}

export function start(cmd: string, args: string[], env: NodeJS.ProcessEnv, cwd?: string): Proc {
  const child = spawn(cmd, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let exited = false;
  const exit = new Promise<number | null>((resolve) =>
    child.on('exit', (code, signal) => {
      exited = true;
      resolve(code ?? (signal ? 128 : null));
    }),
  );
  const waiters = new Set<() => void>();
  const proc: Proc = {
    child,
    output: '',
    exit,
    waitFor(re, ms = 60_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = re.exec(proc.output);
          if (m) {
            done();
            resolve(m);
          } else if (exited) {
            done();
            reject(new Error(`process exited before printing ${re}:\n${proc.output}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`no ${re} within ${ms} ms:\n${proc.output}`));
        }, ms);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    async stop(graceMs = 5000) {
      if (exited) return;
      const signal = (s: NodeJS.Signals) => {
        try {
          process.kill(-child.pid!, s);
        } catch {
          // already gone
        }
      };
      signal('SIGTERM');
      const timer = setTimeout(() => signal('SIGKILL'), graceMs);
      await exit;
      clearTimeout(timer);
    },
  };
  const collect = (c: Buffer) => {
    proc.output += c.toString();
    for (const w of [...waiters]) w();
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  void exit.then(() => {
    for (const w of [...waiters]) w();
  });
  return proc;
}
