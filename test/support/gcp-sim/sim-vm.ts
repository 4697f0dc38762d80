/**
 * One simulated VM: a network namespace (its NIC, its firewall) plus a private "disk"
 * directory, running the instance's `startup-script` metadata exactly as Terraform rendered
 * it, as the guest agent would run it at every boot. The host filesystem is shared; the VM's
 * own state (/opt/lightning → LIGHTNING_BOOT_ROOT, its runtime dir and HOME) lives on its disk
 * and survives stop/start, as a persistent disk does.
 *
 * Differences from a GCE VM, by design: no systemd (LIGHTNING_BOOT_FOREGROUND runs the
 * service's command in the foreground), Node is already on PATH (the script skips its
 * download), and the Google APIs are the sim's stand-ins, named through the test seams of
 * vm-boot.mjs and the runtime (STORAGE_EMULATOR_HOST, LIGHTNING_SECRET_MANAGER_ENDPOINT,
 * LIGHTNING_COMPUTE_ENDPOINT). The metadata server needs no seam: it answers at
 * 169.254.169.254 / metadata.google.internal inside the namespace.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, rmSync, type WriteStream, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Namespace, SimNetwork } from './sim-network.ts';

export type VmStatus = 'PROVISIONING' | 'STAGING' | 'RUNNING' | 'STOPPING' | 'TERMINATED';

export interface SimVmOptions {
  readonly name: string;
  readonly project: string;
  readonly zone: string;
  readonly ip: string;
  readonly serviceAccountEmail: string;
  readonly metadata: Readonly<Record<string, string>>;
  readonly tags: readonly string[];
  /** GCE labels (the Compute API's list filters on them). @default {} */
  readonly labels?: Readonly<Record<string, string>>;
  /** Instance template properties, for a VM made by instances.insert (GPU quota usage). */
  readonly template?: Readonly<Record<string, unknown>>;
  /** The VM's disk (created here, deleted with the VM). */
  readonly diskDir: string;
  /** Environment of the guest agent (PATH, API endpoints); the VM adds its own dirs. */
  readonly guestEnv: Readonly<Record<string, string>>;
}

export class SimVm {
  status: VmStatus = 'PROVISIONING';
  /** Boot output of every boot, in order ("[boot N] line"). */
  readonly output: string[] = [];
  boots = 0;
  /** When each boot started (Date.now()), by boot number - 1. */
  readonly bootStartedAt: number[] = [];
  /** When each line of `output` arrived (Date.now()), index for index. */
  readonly outputAt: number[] = [];
  private log: WriteStream | undefined;
  /** The running boot's main process (the guest agent's startup script, then vm-boot.mjs). */
  private bootPid: number | undefined;
  private readonly listeners = new Set<() => void>();
  ns: Namespace | undefined;

  constructor(
    readonly opts: SimVmOptions,
    private readonly network: SimNetwork,
  ) {
    mkdirSync(opts.diskDir, { recursive: true });
  }

  get name(): string {
    return this.opts.name;
  }

  /** Creates the namespace (the NIC) once; the caller applies its firewall before boot. */
  attach(): Namespace {
    this.ns ??= this.network.addNamespace(this.opts.name, this.opts.ip);
    return this.ns;
  }

  /** Powers on: runs the startup script (a fresh boot; the disk keeps what earlier boots wrote). */
  boot(): void {
    if (!this.ns) throw new Error(`VM ${this.name} has no namespace`);
    const script = this.opts.metadata['startup-script'];
    this.boots++;
    const boot = this.boots;
    this.bootStartedAt.push(Date.now());
    this.status = 'RUNNING';
    this.changed();
    if (script === undefined) return; // a VM without a startup script just idles
    const disk = this.opts.diskDir;
    const scriptFile = join(disk, `startup-script-boot${boot}.sh`);
    writeFileSync(scriptFile, script, { mode: 0o700 });
    const env: Record<string, string> = {
      ...this.opts.guestEnv,
      HOME: join(disk, 'home'),
      LIGHTNING_BOOT_ROOT: join(disk, 'opt-lightning'),
      LIGHTNING_RUNTIME_DIR: join(disk, 'run-lightning'),
      LIGHTNING_BOOT_FOREGROUND: '1',
    };
    mkdirSync(env.HOME!, { recursive: true });
    this.log ??= createWriteStream(join(disk, 'serial-console.log'), { flags: 'a' });
    const child = spawn(
      'ip',
      [
        'netns',
        'exec',
        this.ns.name,
        'env',
        '-i',
        ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
        'bash',
        scriptFile,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], detached: true },
    );
    this.bootPid = child.pid;
    let partial = '';
    const collect = (chunk: Buffer) => {
      this.log?.write(chunk);
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) {
        this.output.push(`[boot ${boot}] ${l}`);
        this.outputAt.push(Date.now());
      }
      if (lines.length) this.changed();
    };
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    child.on('exit', (code, signal) => {
      if (this.bootPid === child.pid) this.bootPid = undefined;
      this.output.push(`[boot ${boot}] (startup script exited: ${signal ?? code})`);
      this.outputAt.push(Date.now());
      this.changed();
    });
  }

  /**
   * ACPI soft off, as GCE sends at a preemption notice: systemd stops lightning.service, whose
   * KillMode=mixed sends SIGTERM to its main process only (vm-boot.mjs; here the boot process).
   */
  softOff(): void {
    if (this.bootPid === undefined) return;
    try {
      process.kill(this.bootPid, 'SIGTERM');
    } catch {
      // already gone
    }
  }

  /** Powers off: every process in the namespace is killed, as a stop (ACPI off, then hard off) does. */
  async stop(): Promise<void> {
    if (!this.ns || this.status === 'TERMINATED') return;
    this.status = 'STOPPING';
    this.changed();
    const ns = this.ns;
    // SIGTERM first, so the flow's "stop works" path and the daemons' shutdown run as on a real stop.
    for (const pid of this.network.pids(ns)) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // gone
      }
    }
    for (let i = 0; i < 40 && this.network.pids(ns).length > 0; i++)
      await new Promise((r) => setTimeout(r, 50));
    await this.network.killAll(ns);
    this.status = 'TERMINATED';
    this.changed();
  }

  /** Deletes the VM: processes, namespace, disk. */
  async destroy(): Promise<void> {
    if (this.ns) await this.network.removeNamespace(this.ns.name);
    this.status = 'TERMINATED';
    this.log?.end();
    rmSync(this.opts.diskDir, { recursive: true, force: true });
    this.changed();
  }

  /**
   * Milliseconds from the start of boot `boot` (1-based) to its first output line matching
   * `line`; undefined when there is none. For boot-time measurements.
   */
  msToLine(boot: number, line: RegExp): number | undefined {
    const started = this.bootStartedAt[boot - 1];
    if (started === undefined) return undefined;
    const prefix = `[boot ${boot}] `;
    const i = this.output.findIndex((l) => l.startsWith(prefix) && line.test(l.slice(prefix.length)));
    return i < 0 ? undefined : this.outputAt[i]! - started;
  }

  /** Resolves when `predicate` holds (checked on every output line and status change). */
  until(predicate: (vm: SimVm) => boolean, ms: number, what: string): Promise<void> {
    if (predicate(this)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!predicate(this)) return;
        clearTimeout(timer);
        this.listeners.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.listeners.delete(check);
        reject(
          new Error(
            `VM ${this.name}: ${what} not within ${ms} ms. Its boot output:\n${this.output.slice(-60).join('\n')}`,
          ),
        );
      }, ms);
      this.listeners.add(check);
    });
  }

  private changed(): void {
    for (const l of [...this.listeners]) l();
  }
}
