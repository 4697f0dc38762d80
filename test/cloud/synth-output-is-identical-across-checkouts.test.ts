/**
 * The same app synthesized in two checkouts at different places gives byte-identical
 * Terraform JSON. Before, cdktf's default local backend wrote the absolute working directory
 * into the output, so a second checkout (or a moved one) saw a different stack and Terraform
 * a different state file. The state now lives beside the output directory, by a relative
 * path (`<outdir>/../terraform.<app>.tfstate`, where cdktf keeps it by default).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('../..', import.meta.url).pathname;

/**
 * A copy of the working tree's tracked and new files (what a clone has). node_modules is
 * hard-linked, not symlinked: a symlink would make esbuild name the modules by their real
 * path (outside the checkout) and so differ for a reason no real checkout has.
 */
function checkout(at: string): string {
  mkdirSync(at, { recursive: true });
  const files = execFileSync('git', ['ls-files', '-co', '--exclude-standard'], {
    cwd: ROOT,
    encoding: 'utf8',
  })
    .split('\n')
    .filter((f) => f !== '' && !f.includes('.venv') && !f.startsWith('.gcs-emulator'));
  for (const f of files) {
    try {
      mkdirSync(dirname(join(at, f)), { recursive: true });
      cpSync(join(ROOT, f), join(at, f));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err; // deleted but not staged
    }
  }
  execFileSync('cp', ['-al', join(ROOT, 'node_modules'), join(at, 'node_modules')]);
  return at;
}

function synthIn(repo: string): { text: string; backend: unknown } {
  const r = spawnSync('node', ['cli/bin.js', 'synth', 'examples/hello/app.ts', '--project', 'same-proj-1'], {
    cwd: repo,
    encoding: 'utf8',
    env: { ...process.env, GOOGLE_CLOUD_PROJECT: '' },
  });
  expect(r.stderr).toBe('');
  const text = readFileSync(join(repo, 'cdktf.out', 'stacks', 'hello', 'cdk.tf.json'), 'utf8');
  return { text, backend: JSON.parse(text).terraform.backend };
}

describe('synthesized Terraform does not depend on where the checkout is', { timeout: 240_000 }, () => {
  it('is byte-identical in two checkouts at different paths, with the state beside the output directory', () => {
    const base = mkdtempSync(join(tmpdir(), 'lightning-checkouts-'));
    try {
      const a = synthIn(checkout(join(base, 'a')));
      const b = synthIn(checkout(join(base, 'somewhere', 'else', 'b')));
      expect(a.backend).toEqual({ local: { path: '../../../terraform.hello.tfstate' } });
      expect(a.text).not.toContain(base);
      expect(b.text).toBe(a.text);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });
});
