import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { CLI, REPO } from '../support/app-fixture.ts';

const run = promisify(execFile);

describe('examples/hello through the CLI', () => {
  it('produces a file in one work, moves it as a Path to the other, and ends with the summary', async () => {
    // A copy, so the test never shares .lightning/ with a developer's run of the example.
    const dir = await mkdtemp(join(tmpdir(), 'hello-'));
    await cp(join(REPO, 'examples', 'hello'), dir, {
      recursive: true,
      filter: (src) => !src.includes('.lightning'),
    });
    await cp(join(REPO, 'package.json'), join(dir, 'package.json')); // "type": "module" + the lightning-local self-reference target
    // Import the API by absolute path (the copy is outside the package).
    const appFile = join(dir, 'app.ts');
    const source = (await readFile(appFile, 'utf8')).replace(
      "from 'lightning-local'",
      `from ${JSON.stringify(join(REPO, 'constructs/index.ts'))}`,
    );
    await import('node:fs/promises').then((fs) => fs.writeFile(appFile, source));

    const { stdout } = await run(process.execPath, [CLI, 'run', appFile, '--set', 'count=2000'], {
      timeout: 120_000,
    });
    const summary = /summary: count=(\d+) sum=(\d+) mean=([\d.]+)/.exec(stdout);
    expect(summary, stdout).not.toBeNull();
    expect(Number(summary![1])).toBe(2000);

    // The producer's output went to the Drive and was placed in the consumer's directory...
    const produced = await readFile(
      join(dir, '.lightning/drive/default/works/root.produce/numbers.csv'),
      'utf8',
    );
    const consumed = join(dir, '.lightning/works/root.summarize/numbers.csv');
    expect(await readFile(consumed, 'utf8')).toBe(produced);
    // ...as a hard link locally, not a copy.
    expect((await stat(consumed)).ino).toBe(
      (await stat(join(dir, '.lightning/drive/default/works/root.produce/numbers.csv'))).ino,
    );
    // The sum the shell script reported through the state URL matches the file.
    const sum = produced
      .trim()
      .split('\n')
      .reduce((s, n) => s + Number(n), 0);
    expect(Number(summary![2])).toBe(sum);
    // The flow saw live progress from produce.py before it finished.
    expect(stdout).toContain('flow: produce is halfway');
    // Per-work log files.
    expect(await readFile(join(dir, '.lightning/logs/latest/root.produce.log'), 'utf8')).toContain(
      'wrote 2000 numbers',
    );
  });
});
