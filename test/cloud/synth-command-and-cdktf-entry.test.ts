/**
 * `lightning-local synth app.ts` and the cdktf.json app command produce the stack (with the
 * real bundle as its asset) without the cdktf CLI; a bad app fails with the problems listed.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { registerSynthCommand } from '../../cli/synth-command.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const FIXTURE = join(ROOT, 'test/cloud/fixtures/cpu-app/app.ts');

function bundleObjectOf(stackFile: string): { source: string; name: string; sha: string } {
  const tf = JSON.parse(readFileSync(stackFile, 'utf8'));
  const obj = Object.values(tf.resource.google_storage_bucket_object)[0] as { source: string; name: string };
  const flow = Object.values(tf.resource.google_compute_instance).find(
    (v) => (v as { name: string }).name === 'hello-cloud-flow',
  ) as {
    metadata: Record<string, string>;
  };
  return { source: obj.source, name: obj.name, sha: flow.metadata['lightning-bundle-sha256']! };
}

describe('synth entry points', () => {
  it('lightning-local synth writes the stack and the bundle whose sha256 the VMs verify', async () => {
    const out = mkdtempSync(join(tmpdir(), 'lightning-synth-cmd-'));
    const program = new Command().exitOverride();
    registerSynthCommand(program);
    const write = process.stdout.write.bind(process.stdout);
    let printed = '';
    process.stdout.write = ((c: string) => {
      printed += c;
      return true;
    }) as typeof process.stdout.write;
    try {
      await program.parseAsync(['node', 'lightning-local', 'synth', FIXTURE, '--out', out]);
    } finally {
      process.stdout.write = write;
    }
    const stackFile = join(out, 'stacks', 'hello-cloud', 'cdk.tf.json');
    expect(printed).toMatch(/synthesized hello-cloud/);
    const { source, name, sha } = bundleObjectOf(stackFile);
    const asset = join(dirname(stackFile), source);
    expect(existsSync(asset)).toBe(true);
    const actual = execFileSync('sha256sum', [asset], { encoding: 'utf8' }).split(' ')[0];
    expect(actual).toBe(sha);
    expect(name).toBe(`bundles/${sha.slice(0, 16)}.tar.gz`);
    const listing = execFileSync('tar', ['-tzf', asset], { encoding: 'utf8' });
    expect(listing).toMatch(/^lightning-runtime\/cli\/main\.mjs$/m);
    expect(listing).toMatch(/^hello\.sh$/m);
  });

  it("cdktf.json's app command synthesizes the app named by LIGHTNING_APP into CDKTF_OUTDIR", () => {
    const cdktfJson = JSON.parse(readFileSync(join(ROOT, 'cdktf.json'), 'utf8'));
    expect(cdktfJson.app).toBe('npx tsx constructs/cloud/cdktf-app.ts');
    const out = mkdtempSync(join(tmpdir(), 'lightning-cdktf-entry-'));
    const r = spawnSync('npx', ['tsx', 'constructs/cloud/cdktf-app.ts'], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, LIGHTNING_APP: FIXTURE, CDKTF_OUTDIR: out, CDKTF_CONTEXT_JSON: '{}' },
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(existsSync(join(out, 'stacks', 'hello-cloud', 'cdk.tf.json'))).toBe(true);
    expect(existsSync(join(out, 'manifest.json'))).toBe(true);
  });

  it('fails with every problem listed and writes nothing for an invalid app', () => {
    const out = mkdtempSync(join(tmpdir(), 'lightning-cdktf-bad-'));
    const bad = join(out, 'bad-app.ts');
    // An ES module project, as every app is (a CommonJS one gets its own clear error first).
    writeFileSync(join(out, 'package.json'), '{"type": "module"}\n');
    cpSync(dirname(FIXTURE), out, { recursive: true }); // its scripts: only the props are wrong
    execFileSync('sh', [
      '-c',
      `sed -e "s#'../../../../constructs/index.ts'#'${ROOT}constructs/index.ts'#" -e "s#CloudCompute.named('cpu')#CloudCompute.named('cpu', { diskSizeGb: 1, idleTimeoutSeconds: 1 })#" ${FIXTURE} > ${bad}`,
    ]);
    const r = spawnSync('npx', ['tsx', 'constructs/cloud/cdktf-app.ts'], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, LIGHTNING_APP: bad, CDKTF_OUTDIR: join(out, 'o'), CDKTF_CONTEXT_JSON: '{}' },
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/Cannot synthesize app hello-cloud for GCP \(2 problems\)/);
    expect(r.stderr).toMatch(/root\.hello: boot disk of 1 GB/);
    expect(r.stderr).toMatch(/root\.hello: idleTimeoutSeconds 1 is below 60/);
    expect(existsSync(join(out, 'o'))).toBe(false);
  });

  it('refuses an app whose script is missing before it synthesizes anything', () => {
    const out = mkdtempSync(join(tmpdir(), 'lightning-cdktf-noscript-'));
    const app = join(out, 'app.ts');
    writeFileSync(join(out, 'package.json'), '{"type": "module"}\n');
    execFileSync('sh', [
      '-c',
      `sed -e "s#'../../../../constructs/index.ts'#'${ROOT}constructs/index.ts'#" ${FIXTURE} > ${app}`,
    ]);
    const r = spawnSync('npx', ['tsx', 'constructs/cloud/cdktf-app.ts'], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, LIGHTNING_APP: app, CDKTF_OUTDIR: join(out, 'o'), CDKTF_CONTEXT_JSON: '{}' },
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/Cannot start the app \(1 problem\)/);
    expect(r.stderr).toMatch(/root\.hello: script "hello\.sh" does not exist/);
    expect(existsSync(join(out, 'o'))).toBe(false);
  });
});
