/**
 * GCP VPC firewall semantics → an nftables ruleset per VM namespace. Modelled: INGRESS
 * `allow` rules; targets by service account or tag (none = every VM); sources by CIDR
 * (`source_ranges`), by service account or tag (the internal IPs of the VMs that run as it or
 * carry it, recomputed whenever a VM or rule changes), none at all = 0.0.0.0/0; tcp/udp
 * ports and `all`. Implied rules: ingress denied unless allowed, replies to the VM's own
 * connections allowed, loopback allowed. Not modelled: `deny` rules, priorities, EGRESS
 * rules (egress is open, as GCP's implied rule), logging, network tags on instances other
 * than `tags`.
 */
import { METADATA_IP } from './sim-network.ts';

/** A google_compute_firewall as applied (schema attribute names). */
export interface FirewallRule {
  readonly name: string;
  readonly direction?: string | null;
  readonly disabled?: boolean | null;
  readonly allow?: readonly { protocol: string; ports?: readonly string[] | null }[] | null;
  readonly deny?: readonly unknown[] | null;
  readonly source_ranges?: readonly string[] | null;
  readonly source_service_accounts?: readonly string[] | null;
  readonly source_tags?: readonly string[] | null;
  readonly target_service_accounts?: readonly string[] | null;
  readonly target_tags?: readonly string[] | null;
}

export interface FirewallVm {
  readonly ip: string;
  readonly serviceAccountEmail: string;
  readonly tags: readonly string[];
}

const nonEmpty = <T>(x: readonly T[] | null | undefined): x is readonly T[] => !!x && x.length > 0;

function applies(rule: FirewallRule, vm: FirewallVm): boolean {
  if (rule.disabled || (rule.direction ?? 'INGRESS') !== 'INGRESS') return false;
  if (nonEmpty(rule.target_service_accounts))
    return rule.target_service_accounts.includes(vm.serviceAccountEmail);
  if (nonEmpty(rule.target_tags)) return rule.target_tags.some((t) => vm.tags.includes(t));
  return true;
}

function sources(rule: FirewallRule, vms: readonly FirewallVm[]): string[] {
  const out = new Set<string>(rule.source_ranges ?? []);
  if (nonEmpty(rule.source_service_accounts))
    for (const v of vms) if (rule.source_service_accounts.includes(v.serviceAccountEmail)) out.add(v.ip);
  if (nonEmpty(rule.source_tags))
    for (const v of vms) if (rule.source_tags.some((t) => v.tags.includes(t))) out.add(v.ip);
  const anySource =
    nonEmpty(rule.source_ranges) || nonEmpty(rule.source_service_accounts) || nonEmpty(rule.source_tags);
  return anySource ? [...out] : ['0.0.0.0/0'];
}

/** nft port syntax: "7500", "1024-65535". */
function port(p: string): string {
  if (!/^\d+(-\d+)?$/.test(p)) throw new Error(`firewall port "${p}" is not N or N-M`);
  return p;
}

/**
 * The full ruleset of one VM's namespace: its ingress filter and the metadata server DNAT.
 * `metadata` is the host-side stand-in (host:port).
 */
export function vmRuleset(
  vm: FirewallVm,
  rules: readonly FirewallRule[],
  all: readonly FirewallVm[],
  metadata: string,
): string {
  const lines: string[] = [];
  for (const rule of rules) {
    if (!applies(rule, vm)) continue;
    const from = sources(rule, all);
    if (from.length === 0) continue; // a source SA with no VMs yet admits nobody
    const saddr = `ip saddr { ${from.join(', ')} }`;
    for (const a of rule.allow ?? []) {
      const proto = a.protocol.toLowerCase();
      const comment = `comment "${rule.name.replace(/[^A-Za-z0-9_.-]/g, '_')}"`;
      if (proto === 'all') lines.push(`${saddr} accept ${comment}`);
      else if (proto === 'tcp' || proto === 'udp')
        lines.push(
          nonEmpty(a.ports)
            ? `${saddr} ${proto} dport { ${a.ports.map(port).join(', ')} } accept ${comment}`
            : `${saddr} meta l4proto ${proto} accept ${comment}`,
        );
      else if (proto === 'icmp') lines.push(`${saddr} meta l4proto icmp accept ${comment}`);
    }
  }
  return `table inet gcpsim
delete table inet gcpsim
table inet gcpsim {
  chain ingress {
    type filter hook input priority 0; policy drop;
    ct state established,related accept
    iifname "lo" accept
    ${lines.join('\n    ')}
  }
}
table ip gcpsim_meta
delete table ip gcpsim_meta
table ip gcpsim_meta {
  chain output {
    type nat hook output priority -100;
    ip daddr ${METADATA_IP} tcp dport 80 dnat to ${metadata}
  }
}
`;
}
