import { appendFile, mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Journal } from '../../daemon/flow/journal.ts';

const plain = (v: unknown) => JSON.parse(JSON.stringify(v));

async function appendAll(journal: Journal, lines: [string, unknown][][], state: () => object) {
  for (const changes of lines) {
    await new Promise<void>((resolve) => journal.append(changes as never, resolve, state as never));
  }
}

describe('the flow journal', () => {
  it('replays appended changes in order and ignores a torn last line', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'journal-'));
    const j = await Journal.open(dir, true);
    await appendAll(
      j,
      [
        [['root', [{ op: 'add', path: '/vars', value: { n: 0 } }]]],
        [
          ['root', [{ op: 'replace', path: '/vars/n', value: 1 }]],
          ['root.w', [{ op: 'add', path: '/vars', value: {} }]],
        ],
        [['root', [{ op: 'replace', path: '/vars/n', value: 2 }]]],
      ],
      () => ({}),
    );
    await j.close();
    await appendFile(
      join(dir, 'journal.jsonl'),
      '{"n":4,"c":[["root",[{"op":"replace","path":"/vars/n","val',
    );
    expect(plain(await Journal.load(dir))).toEqual({ root: { vars: { n: 2 } }, 'root.w': { vars: {} } });
  });

  it('compacts into a snapshot and keeps replaying after it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'journal-'));
    const j = await Journal.open(dir, true, { compactEvery: 2 });
    let n = 0;
    const state = () => ({ root: { vars: { n } } });
    for (n = 1; n <= 5; n++) {
      await appendAll(
        j,
        [
          [
            [
              'root',
              [
                {
                  op: n === 1 ? 'add' : 'replace',
                  path: n === 1 ? '/vars' : '/vars/n',
                  value: n === 1 ? { n } : n,
                },
              ],
            ],
          ],
        ],
        state,
      );
    }
    await j.close();
    // The snapshot carries the journal position it covers (line 4): replay skips up to there.
    expect(JSON.parse(await readFile(join(dir, 'snapshot.json'), 'utf8'))).toEqual({
      journalSnapshot: 2,
      upTo: 4,
      docs: { root: { vars: { n: 4 } } },
    });
    expect((await readFile(join(dir, 'journal.jsonl'), 'utf8')).trim().split('\n')).toHaveLength(1);
    expect(plain(await Journal.load(dir))).toEqual({ root: { vars: { n: 5 } } });
  });

  it('has nothing to load when no run left a journal', async () => {
    expect(await Journal.load(await mkdtemp(join(tmpdir(), 'journal-')))).toBeNull();
  });
});
