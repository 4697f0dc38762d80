/**
 * The import rules of .dependency-cruiser.cjs (run by `npm run lint`, so by CI): the real tree
 * passes, and each layer violation the issue names fails when written into a scratch tree
 * (the control that proves the check can fail).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = new URL('../..', import.meta.url).pathname;
const CONFIG = join(ROOT, '.dependency-cruiser.cjs');
const DEPCRUISE = join(ROOT, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs');

/** Runs the project's rules in `cwd`; the names of the rules broken, or [] when clean. */
function brokenRules(cwd: string, folders: string[]): string[] {
  const out = execFileSync(
    process.execPath,
    [DEPCRUISE, ...folders, '--config', CONFIG, '--output-type', 'json', '--no-progress'],
    { cwd, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
  );
  const result = JSON.parse(out) as { summary: { violations: { rule: { name: string } }[] } };
  return [...new Set(result.summary.violations.map((v) => v.rule.name))].sort();
}

const scratch = mkdtempSync(join(tmpdir(), 'import-rules-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A scratch tree with the project's folder names; node_modules is the project's. */
function tree(name: string, files: Record<string, string>): string {
  const dir = join(scratch, name);
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    writeFileSync(join(dir, file), text);
  }
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}

describe('import rules', () => {
  it('hold for the project as it is', () => {
    expect(brokenRules(ROOT, ['cli', 'constructs', 'daemon', 'proto'])).toEqual([]);
  });

  it.each([
    ['daemon → cli', 'runtime-not-to-cli', { 'daemon/flow/x.ts': "import '../../cli/y.ts';" }],
    [
      'constructs → daemon',
      'constructs-not-to-daemon',
      { 'constructs/x.ts': "import '../daemon/work/y.ts';" },
    ],
    [
      'runtime → synthesis',
      'runtime-not-to-synthesis',
      { 'daemon/work/x.ts': "import '../../constructs/cloud/synth.ts';" },
    ],
    [
      'bundler → synthesis',
      'bundler-below-synthesis',
      { 'constructs/bundle/x.ts': "import '../cloud/synth.ts';" },
    ],
    [
      'authoring API → bundler',
      'constructs-core-not-to-synthesis',
      { 'constructs/x.ts': "import './bundle/app-bundler.ts';" },
    ],
    ['runtime → cdktf', 'no-cdktf-outside-synthesis', { 'daemon/flow/x.ts': "import 'cdktf';" }],
    ['constructs → cdktf', 'no-cdktf-outside-synthesis', { 'constructs/x.ts': "import 'cdktf';" }],
    ['work daemon → flow', 'work-daemon-not-to-flow', { 'daemon/work/x.ts': "import '../flow/y.ts';" }],
    ['state core → drive', 'state-is-a-pure-library', { 'daemon/state/x.ts': "import '../drive/y.ts';" }],
    [
      'an import cycle',
      'no-circular',
      { 'daemon/drive/a.ts': "import './b.ts';", 'daemon/drive/b.ts': "import './a.ts';" },
    ],
  ])('fail on %s', (name, rule, files) => {
    const targets = ['cli/y.ts', 'daemon/work/y.ts', 'daemon/flow/y.ts', 'daemon/drive/y.ts'];
    const dir = tree(name.replace(/\W+/g, '-'), {
      ...Object.fromEntries(targets.map((t) => [t, 'export {};'])),
      'constructs/cloud/synth.ts': 'export {};',
      'constructs/bundle/app-bundler.ts': 'export {};',
      ...files,
    });
    expect(brokenRules(dir, ['cli', 'constructs', 'daemon'])).toEqual([rule]);
  });
});
