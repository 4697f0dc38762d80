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
        'lightning-runtime/ui-static/index.html',
        'lightning-runtime/ui-static/app.js',
        // the chart library the page loads (no node_modules on the VM)
        'lightning-runtime/ui-static/vendor/uPlot.iife.min.js',
        'lightning-runtime/ui-static/vendor/uPlot.min.css',
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

  it('serves the flow UI from the extracted bundle (the cloud flow VM runs exactly this)', async () => {
    const { spawn } = await import('node:child_process');
    const { createServer } = await import('node:net');
    const port = await new Promise<number>((resolve) => {
      const srv = createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => resolve(p));
      });
    });
    const flow = spawn(
      process.execPath,
      [
        join(extracted, 'lightning-runtime/cli/main.mjs'),
        'flow',
        join(extracted, 'app.mjs'),
        '--listen',
        '127.0.0.1:0',
        '--ui',
        `127.0.0.1:${port}`,
      ],
      {
        cwd: extracted,
        env: { PATH: process.env.PATH ?? '', LIGHTNING_TOKEN: 'bundle-test-token' },
        stdio: 'ignore',
      },
    );
    try {
      const tokenFile = join(extracted, '.lightning', 'ui-token');
      const deadline = Date.now() + 30_000;
      let page: Response | undefined;
      while (Date.now() < deadline) {
        try {
          const token = readFileSync(tokenFile, 'utf8').trim();
          page = await fetch(`http://127.0.0.1:${port}/`, { headers: { authorization: `Bearer ${token}` } });
          break;
        } catch {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      expect(page?.status).toBe(200);
      expect(await page!.text()).toMatch(/<html/i);
      // The chart library comes from the bundle's ui-static/vendor (there is no node_modules).
      const chartJs = await fetch(`http://127.0.0.1:${port}/vendor/uPlot.iife.min.js`, {
        headers: { authorization: `Bearer ${readFileSync(tokenFile, 'utf8').trim()}` },
      });
      expect(chartJs.status).toBe(200);
      expect(await chartJs.text()).toContain('uPlot');
    } finally {
      flow.kill('SIGKILL');
    }
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
