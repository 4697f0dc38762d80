/**
 * Every error lightning-local raises for a person to act on is a LightningError (a typed
 * `code`, and a `fix` where one exists): a plain `Error`, `TypeError` or a private error class
 * is allowed only for a bug in lightning-local itself (its message starts with `unreachable`
 * or `internal:`) or in a file listed below with the reason.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('../..', import.meta.url).pathname;

/** Files whose own error types are not (yet) in the tree, and why. */
const OUTSIDE_THE_TREE: Record<string, string> = {
  'constructs/errors.ts': 'the tree itself',
  'daemon/cloud/vm-boot.mjs':
    'a standalone program on the VM (embedded in the startup script): it cannot import the tree',
  'daemon/cloud/vm-boot-gcp.mjs': 'the GCP access of that standalone program, written beside it',
  'daemon/drive/local-drive.ts': 'an ENOENT-shaped signal caught a few lines below, never surfaced',
};

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && /\.(ts|mjs|js)$/.test(e.name) && !e.name.endsWith('.test.ts'))
    .map((e) => relative(ROOT, join(e.parentPath, e.name)))
    .filter((f) => !f.startsWith('proto/gen/') && !f.includes('/static/'));
}

/** Throw sites and error classes outside the tree, as `file:line: text`. */
function offenders(files: readonly string[], skip: Record<string, string> = OUTSIDE_THE_TREE): string[] {
  const found: string[] = [];
  for (const file of files) {
    if (skip[file]) continue;
    readFileSync(join(ROOT, file), 'utf8')
      .split('\n')
      .forEach((line, i) => {
        const plain = /new (?:Type|Range)?Error\(\s*(['`"]?)(.*)$/.exec(line);
        const isBug = plain && /^(unreachable|internal:)/.test(plain[2] ?? '');
        if ((plain && !isBug) || /class \w+ extends (?:Type)?Error\b/.test(line)) {
          found.push(`${file}:${i + 1}: ${line.trim()}`);
        }
      });
  }
  return found;
}

describe('throw sites', () => {
  it('use the error tree outside the listed files', () => {
    expect(offenders(['cli', 'constructs', 'daemon'].flatMap(sources))).toEqual([]);
  });

  it('finds plain Errors and private error classes in the listed files when not told to skip them (control)', () => {
    const found = offenders(['daemon/drive/local-drive.ts', 'daemon/cloud/vm-boot-gcp.mjs'], {});
    expect(found.some((f) => f.includes("new Error('not a file')"))).toBe(true);
    expect(found.some((f) => f.includes('class HttpError extends Error'))).toBe(true);
  });
});
