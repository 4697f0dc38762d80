/**
 * The bundle a VM downloads: built with esbuild from the app and the runtime, reproducible,
 * free of synthesis code, and runnable on its own (no node_modules on the VM).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { type AppBundle, buildAppBundle } from '../../constructs/cloud/app-bundle.ts';

const FIXTURE = new URL('./fixtures/cpu-app/app.ts', import.meta.url).pathname;
let dir: string;
let bundle: AppBundle;
let extracted: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'lightning-bundle-test-'));
  bundle = await buildAppBundle({ appFile: FIXTURE, outFile: join(dir, 'a.tar.gz') });
  extracted = join(dir, 'x');
  execFileSync('mkdir', ['-p', extracted]);
  execFileSync('tar', ['-xzf', bundle.path, '-C', extracted]);
});

describe('app bundle', () => {
  it('holds the bundled app, the runtime and the app directory', () => {
    expect(bundle.files).toEqual(
      expect.arrayContaining([
        'app.mjs',
        'app.ts',
        'hello.sh',
        'lightning-runtime/cli/main.mjs',
        'lightning-runtime/package.json',
        'lightning-runtime/python/lightning_state.py',
      ]),
    );
    expect(bundle.files.some((f) => f.startsWith('lightning-runtime/chunks/'))).toBe(true);
    // Scripts keep their executable bit.
    const mode = execFileSync('stat', ['-c', '%a', join(extracted, 'hello.sh')], { encoding: 'utf8' }).trim();
    expect(mode).toBe('755');
  });

  it('is reproducible: the same sources give the same bytes', async () => {
    const again = await buildAppBundle({ appFile: FIXTURE, outFile: join(dir, 'b.tar.gz') });
    expect(again.sha256).toBe(bundle.sha256);
    expect(readFileSync(again.path).equals(readFileSync(bundle.path))).toBe(true);
  });

  it('contains no synthesis code (cdktf, the Google bindings, esbuild)', () => {
    const code = bundle.files
      .filter((f) => f.endsWith('.mjs'))
      .map((f) => readFileSync(join(extracted, f), 'utf8'));
    expect(code.length).toBeGreaterThan(2);
    for (const c of code) {
      expect(c).not.toMatch(/from\s*["'](cdktf|@cdktf\/[^"']+|esbuild)["']/);
      expect(c).not.toMatch(/TerraformStack|GoogleProvider/);
    }
  });

  it('runs the runtime from the extracted bundle alone', () => {
    const help = execFileSync(
      process.execPath,
      [join(extracted, 'lightning-runtime/cli/main.mjs'), 'daemon', '--help'],
      {
        cwd: extracted,
        encoding: 'utf8',
        env: { PATH: process.env.PATH ?? '', NODE_PATH: '' },
      },
    );
    expect(help).toMatch(/--work <name>/);
    expect(readdirSync(extracted)).not.toContain('node_modules');
  });

  it('leaves out excluded paths', async () => {
    const b = await buildAppBundle({
      appFile: FIXTURE,
      outFile: join(dir, 'c.tar.gz'),
      exclude: ['hello.sh'],
    });
    expect(b.files).not.toContain('hello.sh');
    expect(b.files).toContain('app.mjs');
  });

  it('names the import that cannot be bundled', async () => {
    const bad = join(dir, 'bad-app.ts');
    execFileSync('cp', [FIXTURE, bad]);
    execFileSync('sh', ['-c', `echo "import 'no-such-package-xyz';" >> ${bad}`]);
    await expect(buildAppBundle({ appFile: bad, outFile: join(dir, 'd.tar.gz') })).rejects.toThrow(
      /Could not bundle bad-app\.ts[\s\S]*no-such-package-xyz[\s\S]*must bundle with esbuild/,
    );
  });
});
