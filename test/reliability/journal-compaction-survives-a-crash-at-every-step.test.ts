/**
 * Issue 10 item 7: the flow may die at any point of a journal compaction (SIGKILL of a real
 * process at each step), and `--resume` still loads exactly the state of every line written,
 * with nothing applied twice; a torn line left by the crash does not swallow later appends.
 */
import { spawn } from 'node:child_process';
import { appendFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Journal } from '../../daemon/flow/journal.ts';
import { REPO } from '../support/app-fixture.ts';
import { drainChanges, modelAfter } from './fixtures/journal-model.ts';

const WRITER = join(REPO, 'test', 'reliability', 'fixtures', 'journal-writer.ts');
const plain = (v: unknown) => JSON.parse(JSON.stringify(v));
const EVERY = 4;

function runWriter(dir: string, step: string, crashAt: number, fsync: boolean) {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', WRITER, dir, '20', String(EVERY), step, String(crashAt), fsync ? '1' : '0'],
    { cwd: REPO, stdio: ['ignore', 'inherit', 'inherit'] },
  );
  return new Promise<NodeJS.Signals | null>((resolve) =>
    child.on('exit', (_code, signal) => resolve(signal)),
  );
}

const cases = ['snapshot-written', 'snapshot-renamed', 'journal-truncated'].flatMap((step) =>
  [1, 2].map((crashAt) => ({ step, crashAt, fsync: crashAt === 2 })),
);

describe('journal compaction killed at every step', () => {
  it.each(cases)(
    'crash after $step of compaction $crashAt (fsync $fsync): resume loads every written line once',
    async ({ step, crashAt, fsync }) => {
      const dir = await mkdtemp(join(tmpdir(), 'journal-crash-'));
      expect(await runWriter(dir, step, crashAt, fsync)).toBe('SIGKILL');
      // Compaction k starts right after drain k*EVERY was written.
      const written = crashAt * EVERY;
      expect(plain(await Journal.load(dir))).toEqual(modelAfter(written));

      // The crash may also leave half a line behind; a resumed flow appends after it.
      await appendFile(join(dir, 'journal.jsonl'), '{"n":999,"c":[["root",[{"op":"repl');
      const resumed = await Journal.open(dir, false, { compactEvery: EVERY, fsync });
      const appendUpTo = async (last: number, from: number) => {
        for (let n = from; n <= last; n++) {
          await new Promise<void>((resolve) =>
            resumed.append(drainChanges(n), resolve, () => modelAfter(n) as never),
          );
        }
      };
      await appendUpTo(written + 3, written + 1); // fewer than EVERY: no compaction hides the tear
      expect(plain(await Journal.load(dir))).toEqual(modelAfter(written + 3));
      await appendUpTo(written + 9, written + 4); // and across the next compaction
      await resumed.close();
      expect(plain(await Journal.load(dir))).toEqual(modelAfter(written + 9));
    },
  );
});
