/**
 * Constructs and runtime roles meet only through constructs/runtime-binding.ts (the typed
 * `BINDING` slot of a Flow, Work or WorkMap). A process-wide `globalThis` hook or an untyped
 * symbol property written onto a construct is a side channel beside it: a ScriptWork runner on
 * `globalThis` made two daemons in one process share one runner (see
 * test/runtime/in-process-daemons-run-their-own-scripts.test.ts).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('../..', import.meta.url).pathname;

function sources(): string[] {
  return ['cli', 'constructs', 'daemon']
    .flatMap((dir) => readdirSync(join(ROOT, dir), { withFileTypes: true, recursive: true }))
    .filter((e) => e.isFile() && /\.(ts|mjs)$/.test(e.name) && !e.parentPath.includes('/static'))
    .map((e) => relative(ROOT, join(e.parentPath, e.name)));
}

/** Lines that reach past the binding: `globalThis`, or a write through a symbol-keyed cast. */
function sideChannels(text: string): string[] {
  return text
    .split('\n')
    .filter((line) => /\bglobalThis\b/.test(line) || /Record<symbol, unknown>\)\[[^\]]+\]\s*=[^=]/.test(line))
    .map((line) => line.trim());
}

/**
 * Reads of a process-wide fact that is not a construct↔runtime channel, with why. Each names
 * one file; a new globalThis use anywhere else still fails.
 */
const LAUNCHER_FACTS: Record<string, string> = {
  'constructs/load-app.ts':
    "cli/bin.js started this process from the app's fresh bundle (ADR 0022) and says so before any module loads; the loader reads which file to import. To become an explicit argument of the bundled CLI's entry (issue 13).",
  'daemon/flow/local-app.ts': 'the same launcher fact: the flow started from the fresh bundle reuses it',
};

describe('constructs and runtime roles', () => {
  it('meet only through the typed binding', () => {
    const found = sources()
      .filter((f) => !LAUNCHER_FACTS[f])
      .flatMap((f) => sideChannels(readFileSync(join(ROOT, f), 'utf8')).map((l) => `${f}: ${l}`));
    expect(found).toEqual([]);
  });

  it('the check finds the hooks this replaced (control)', () => {
    expect(
      sideChannels(
        '(globalThis as Record<symbol, unknown>)[SCRIPT_RUNNER] = run;\n' +
          '(map as unknown as Record<symbol, unknown>)[WORK_CREATED] = (w) => bind(w);\n' +
          'return (x as Record<symbol, unknown>)[BRAND] === true;',
      ),
    ).toHaveLength(2);
  });

  it('the listed launcher facts are still there (remove an entry once its file stops reading one)', () => {
    for (const f of Object.keys(LAUNCHER_FACTS)) {
      expect(sideChannels(readFileSync(join(ROOT, f), 'utf8')), f).not.toEqual([]);
    }
  });
});
