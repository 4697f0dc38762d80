/**
 * The part of the startup script the network-namespace test skips: on a VM it creates the
 * `lightning` user and installs and starts `lightning.service` (restarted on failure). Run for real
 * in a private mount namespace (a tmpfs over /etc/systemd/system) with `systemctl` and
 * `useradd` replaced by recorders, since this machine has no systemd to start services.
 * Needs root (as CI has).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { BOOT_FILES, bootProgram, renderStartupScript } from '../../constructs/cloud/startup-script.ts';

let dir: string;
let result: { status: number | null; stdout: string; stderr: string };
let calls: string[];
let unit: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'lightning-systemd-'));
  const script = join(dir, 'startup-script.sh');
  writeFileSync(script, renderStartupScript());
  const shims = join(dir, 'shims');
  mkdirSync(shims);
  const log = join(dir, 'calls.log');
  for (const cmd of ['systemctl', 'useradd', 'chown']) {
    writeFileSync(join(shims, cmd), `#!/bin/bash\necho "${cmd} $*" >> ${log}\n`);
    chmodSync(join(shims, cmd), 0o755);
  }
  // `id lightning` fails: a fresh VM has no such user yet.
  writeFileSync(join(shims, 'id'), `#!/bin/bash\necho "id $*" >> ${log}\nexit 1\n`);
  chmodSync(join(shims, 'id'), 0o755);
  const root = join(dir, 'opt-lightning');
  const inner = [
    'mount -t tmpfs tmpfs /etc/systemd/system',
    `env -i PATH=${shims}:${dirname(process.execPath)}:/usr/sbin:/usr/bin:/sbin:/bin LIGHTNING_NODE=${process.execPath} LIGHTNING_BOOT_ROOT=${root} bash ${script}`,
    'rc=$?',
    `cp /etc/systemd/system/lightning.service ${dir}/lightning.service 2>/dev/null`,
    'exit $rc',
  ].join('; ');
  const r = spawnSync('unshare', ['-m', 'bash', '-c', inner], { encoding: 'utf8' });
  result = { status: r.status, stdout: r.stdout, stderr: r.stderr };
  calls = existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : [];
  unit = existsSync(join(dir, 'lightning.service'))
    ? readFileSync(join(dir, 'lightning.service'), 'utf8')
    : '';
});

describe('startup script on a VM with systemd', () => {
  it('is valid bash', () => {
    const r = spawnSync('bash', ['-n', join(dir, 'startup-script.sh')], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('writes the boot program, creates the user and starts the service without blocking', () => {
    expect(result.status, result.stderr).toBe(0);
    for (const name of BOOT_FILES)
      expect(readFileSync(join(dir, 'opt-lightning', name), 'utf8'), name).toBe(bootProgram(name));
    expect(calls).toEqual([
      'id lightning',
      'useradd --system --create-home --home-dir /var/lib/lightning --shell /usr/sbin/nologin lightning',
      `chown -R lightning: ${join(dir, 'opt-lightning')}/bundles`,
      'systemctl daemon-reload',
      'systemctl enable lightning.service',
      'systemctl restart --no-block lightning.service',
    ]);
    expect(result.stdout).toMatch(/lightning\.service started/);
  });

  it('installs a unit that restarts a failed role as the unprivileged user, with a private runtime dir', () => {
    const lines = unit.split('\n');
    for (const l of [
      'After=network-online.target',
      'StartLimitIntervalSec=0',
      'User=lightning',
      `ExecStart=${process.execPath} ${join(dir, 'opt-lightning')}/vm-boot.mjs run`,
      'Restart=on-failure',
      'RuntimeDirectory=lightning',
      'RuntimeDirectoryMode=0700',
      'WantedBy=multi-user.target',
    ]) {
      expect(lines, l).toContain(l);
    }
    // systemd's own parser accepts it (unknown-user warnings aside: the user exists on the VM).
    const v = spawnSync('systemd-analyze', ['verify', join(dir, 'lightning.service')], { encoding: 'utf8' });
    const problems = (v.stderr + v.stdout)
      .split('\n')
      .filter(
        (l) =>
          l.trim() &&
          !/lightning'|user|Failed to resolve|No such file or directory|not found|Unit lightning\.service|dbus|Failed to prepare/i.test(
            l,
          ),
      );
    expect(problems).toEqual([]);
  });

  it('is idempotent: a reboot with the user present only reinstalls and restarts the service', () => {
    const log = join(dir, 'calls.log');
    writeFileSync(log, '');
    writeFileSync(join(dir, 'shims', 'id'), `#!/bin/bash\necho "id $*" >> ${log}\nexit 0\n`);
    const inner = `mount -t tmpfs tmpfs /etc/systemd/system; env -i PATH=${join(dir, 'shims')}:${dirname(process.execPath)}:/usr/sbin:/usr/bin:/sbin:/bin LIGHTNING_NODE=${process.execPath} LIGHTNING_BOOT_ROOT=${join(dir, 'opt-lightning')} bash ${join(dir, 'startup-script.sh')}`;
    const r = spawnSync('unshare', ['-m', 'bash', '-c', inner], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const again = readFileSync(log, 'utf8').trim().split('\n');
    expect(again.some((c) => c.startsWith('useradd'))).toBe(false);
    expect(again).toContain('systemctl restart --no-block lightning.service');
  });
});
