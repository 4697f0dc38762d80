/**
 * The simulated VPC: one Linux bridge on the host with a random 10.x.y.0/24, one network
 * namespace per "VM" joined to it by a veth pair, and per-namespace nftables rulesets that
 * play GCP's VPC firewall (default deny ingress) and route the metadata server address
 * (169.254.169.254:80, `metadata.google.internal`) to the host-side stand-in.
 *
 * The host keeps `.1` (the stand-ins for Google APIs listen there) and IAP's source address
 * (35.235.240.1, inside IAP's TCP-forwarding range), so a simulated `gcloud compute ssh
 * --tunnel-through-iap` arrives from where Google's would and the SSH rule is enforced.
 *
 * Needs root, iproute2 and nftables (scripts/setup.sh installs them).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';

/** An address inside IAP's TCP-forwarding range (35.235.240.0/20) that the host owns. */
export const IAP_SOURCE_IP = '35.235.240.1';
export const METADATA_IP = '169.254.169.254';

export function sh(cmd: string, args: readonly string[], input?: string): string {
  try {
    return execFileSync(cmd, args, {
      encoding: 'utf8',
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      ...(input === undefined ? {} : { input }),
    });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${e.stderr?.trim() || e.message}`);
  }
}

/** PIDs of processes in any of these network namespaces (by inode; works after `ip netns del`). */
export function processesInNamespaces(inodes: readonly number[]): number[] {
  const wanted = new Set(inodes.map((i) => `net:[${i}]`));
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (wanted.has(readlinkSync(`/proc/${entry}/ns/net`))) out.push(Number(entry));
    } catch {
      // exited meanwhile, or a kernel thread
    }
  }
  return out;
}

export interface Namespace {
  readonly name: string;
  readonly ip: string;
  /** Inode of the namespace (to find processes still inside it, even after it is unmounted). */
  readonly inode: number;
}

/** The bridge, its subnet, and the namespaces on it. */
export class SimNetwork {
  readonly prefix: string;
  readonly subnet: string;
  readonly hostIp: string;
  private readonly bridge: string;
  private nextHost = 2;
  private readonly namespaces = new Map<string, Namespace & { hostVeth: string }>();
  private readonly ips = new Set<string>();

  /** Creates the bridge; throws with a fix if the machine cannot (not root, no iproute2/nft). */
  static create(): SimNetwork {
    for (const tool of ['ip', 'nft']) {
      try {
        execFileSync('which', [tool], { stdio: 'ignore' });
      } catch {
        throw new Error(
          `The simulated GCP needs \`${tool}\` (iproute2, nftables) and root. Run scripts/setup.sh as root, as CI does.`,
        );
      }
    }
    return new SimNetwork();
  }

  private constructor() {
    const r = randomBytes(3);
    this.prefix = `ll${r.toString('hex')}`;
    // 10.200-249.x: away from the 10.231.x range of the older netns test.
    const net = `10.${200 + (r[0]! % 50)}.${1 + (r[1]! % 250)}`;
    this.subnet = `${net}.0/24`;
    this.hostIp = `${net}.1`;
    this.bridge = `${this.prefix}br`;
    sh('ip', ['link', 'add', this.bridge, 'type', 'bridge']);
    sh('ip', ['addr', 'add', `${this.hostIp}/24`, 'dev', this.bridge]);
    sh('ip', ['addr', 'add', `${IAP_SOURCE_IP}/32`, 'dev', this.bridge]);
    sh('ip', ['link', 'set', this.bridge, 'up']);
  }

  /** The next free address in the subnet (an internal `google_compute_address`). */
  allocateIp(): string {
    for (; this.nextHost < 255; this.nextHost++) {
      const ip = this.subnet.replace(/\.0\/24$/, `.${this.nextHost}`);
      if (!this.ips.has(ip)) {
        this.ips.add(ip);
        return ip;
      }
    }
    throw new Error(`the simulated subnet ${this.subnet} is full`);
  }

  /** Marks an address used (a VM with an explicit network_ip); refuses one outside the subnet. */
  claimIp(ip: string): void {
    const base = this.subnet.replace(/\.0\/24$/, '.');
    if (!ip.startsWith(base)) throw new Error(`${ip} is not in the simulated subnet ${this.subnet}`);
    this.ips.add(ip);
  }

  releaseIp(ip: string): void {
    this.ips.delete(ip);
  }

  /** A namespace with `ip` on the bridge, loopback up, default route via the host. */
  addNamespace(vmName: string, ip: string): Namespace {
    const i = this.namespaces.size + Math.floor(Math.random() * 1000);
    const name = `${this.prefix}-${vmName}`.slice(0, 60);
    const hostVeth = `${this.prefix}h${i}`.slice(0, 15);
    const guestVeth = `${this.prefix}g${i}`.slice(0, 15);
    sh('ip', ['netns', 'add', name]);
    sh('ip', ['link', 'add', hostVeth, 'type', 'veth', 'peer', 'name', guestVeth]);
    sh('ip', ['link', 'set', hostVeth, 'master', this.bridge, 'up']);
    sh('ip', ['link', 'set', guestVeth, 'netns', name]);
    const inNs = (...args: string[]) => sh('ip', ['netns', 'exec', name, ...args]);
    inNs('ip', 'addr', 'add', `${ip}/24`, 'dev', guestVeth);
    inNs('ip', 'link', 'set', guestVeth, 'up');
    inNs('ip', 'link', 'set', 'lo', 'up');
    // No default route: the sim has no Cloud NAT and no internet, and a VM that tries the
    // internet (Streamlit looks up its external IP) fails at once (ENETUNREACH) instead of
    // waiting for timeouts. Routed via the host: IAP's range (the host plays IAP) and the
    // metadata server's address (a route must exist before the DNAT rewrites it).
    inNs('ip', 'route', 'add', '35.235.240.0/20', 'via', this.hostIp);
    inNs('ip', 'route', 'add', `${METADATA_IP}/32`, 'via', this.hostIp);
    // `ip netns exec` bind-mounts /etc/netns/<name>/* over /etc: the VM resolves the metadata
    // server's name as a GCE VM does.
    mkdirSync(`/etc/netns/${name}`, { recursive: true });
    writeFileSync(
      `/etc/netns/${name}/hosts`,
      `${readFileSync('/etc/hosts', 'utf8')}\n${METADATA_IP} metadata.google.internal metadata\n`,
    );
    const ns = { name, ip, hostVeth, inode: statSync(`/run/netns/${name}`).ino };
    this.namespaces.set(name, ns);
    return ns;
  }

  /** Replaces the namespace's nftables ruleset (atomic: `nft -f` applies all or nothing). */
  applyRules(ns: string, ruleset: string): void {
    sh('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], ruleset);
  }

  /** PIDs of every process in the namespace (a VM's whole process tree, whatever its groups). */
  pids(ns: Namespace): number[] {
    return processesInNamespaces([ns.inode]);
  }

  /** SIGKILLs every process in the namespace until none is left ("power off"). */
  async killAll(ns: Namespace): Promise<void> {
    for (let i = 0; i < 100; i++) {
      const pids = this.pids(ns);
      if (pids.length === 0) return;
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`processes ${this.pids(ns).join(' ')} in ${ns.name} survive SIGKILL`);
  }

  /** Kills everything inside, then deletes the namespace, its veth and its /etc/netns files. */
  async removeNamespace(name: string): Promise<void> {
    const ns = this.namespaces.get(name);
    if (!ns) return;
    await this.killAll(ns);
    this.namespaces.delete(name);
    const attempts = [
      () => sh('ip', ['link', 'del', ns.hostVeth]),
      () => sh('ip', ['netns', 'del', name]),
      () => rmSync(`/etc/netns/${name}`, { recursive: true, force: true }),
    ];
    for (const a of attempts) {
      try {
        a();
      } catch {
        // best effort: the veth goes with the namespace anyway
      }
    }
  }

  /** Namespaces still present (for tests asserting a clean destroy). */
  list(): string[] {
    return sh('ip', ['netns', 'list'])
      .split('\n')
      .map((l) => l.split(' ')[0]!)
      .filter((n) => n.startsWith(this.prefix));
  }

  /** Removes every namespace and the bridge. Safe to call twice. */
  async close(): Promise<void> {
    for (const name of [...this.namespaces.keys()]) await this.removeNamespace(name);
    try {
      sh('ip', ['link', 'del', this.bridge]);
    } catch {
      // already gone
    }
  }
}
