/**
 * Constructs and runtime roles meet only through constructs/runtime-binding.ts (the typed
 * `BINDING` slot of a Flow, Work or WorkMap). A process-wide `globalThis` hook or an untyped
 * symbol property written onto a construct is a side channel beside it: a ScriptWork runner on
 * `globalThis` made two daemons in one process share one runner (see
 * test/runtime/in-process-daemons-run-their-own-scripts.test.ts). What a launcher knows
 * (cli/bin.js: the app's fresh bundle, ADR 0022) is an argument of the CLI's `main()` too.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('../..', import.meta.url).pathname;

function sources(): string[] {
  return ['cli', 'constructs', 'daemon']
    .flatMap((dir) => readdirSync(join(ROOT, dir), { withFileTypes: true, recursive: true }))
    .filter((e) => e.isFile() && /\.(ts|mjs|js)$/.test(e.name) && !e.parentPath.includes('/static'))
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
 * The registered symbols (`Symbol.for`) the code may define: the typed binding slot and the
 * brands that let `instanceof`-style checks work across two copies of the constructs (the
 * bundled runtime and the app's own import). Anything else keyed by a process-wide symbol is a
 * side channel, like the `lightning-local.bundledRun` hook bin.js once set on globalThis.
 */
const ALLOWED_SYMBOLS = [
  'lightning-local.Flow',
  'lightning-local.LightningApp',
  'lightning-local.Work',
  'lightning-local.WorkMap',
  'lightning-local.binding',
];

function registeredSymbols(text: string): string[] {
  return [...text.matchAll(/Symbol\.for\(\s*['"`]([^'"`]+)['"`]\s*\)/g)].map((m) => m[1]!);
}

describe('constructs and runtime roles', () => {
  it('meet only through the typed binding', () => {
    const found = sources().flatMap((f) =>
      sideChannels(readFileSync(join(ROOT, f), 'utf8')).map((l) => `${f}: ${l}`),
    );
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

  it('define no registered symbols beyond the binding and the brands', () => {
    const found = sources().flatMap((f) =>
      registeredSymbols(readFileSync(join(ROOT, f), 'utf8'))
        .filter((name) => !ALLOWED_SYMBOLS.includes(name))
        .map((name) => `${f}: Symbol.for('${name}')`),
    );
    expect(found).toEqual([]);
    // Control: the list is not stale, and the removed hook would be caught.
    const all = new Set(sources().flatMap((f) => registeredSymbols(readFileSync(join(ROOT, f), 'utf8'))));
    expect([...all].sort()).toEqual(ALLOWED_SYMBOLS);
    expect(registeredSymbols("export const BUNDLED_RUN = Symbol.for('lightning-local.bundledRun');")).toEqual(
      ['lightning-local.bundledRun'],
    );
  });
});
