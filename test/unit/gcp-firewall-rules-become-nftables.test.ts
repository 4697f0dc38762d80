/**
 * GCP VPC firewall semantics as the simulated GCP renders them into each VM's nftables
 * (test/support/gcp-sim/firewall.ts): which rules apply to a VM, who they admit, and what
 * they ignore. The enforcement itself is proven end to end in
 * test/cloud/work-servers-reach-each-other-in-simulated-gcp.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { type FirewallRule, type FirewallVm, vmRuleset } from '../support/gcp-sim/firewall.ts';

const flow: FirewallVm = { ip: '10.0.0.2', serviceAccountEmail: 'flow@p.iam.gserviceaccount.com', tags: [] };
const work: FirewallVm = {
  ip: '10.0.0.3',
  serviceAccountEmail: 'work@p.iam.gserviceaccount.com',
  tags: ['gpu'],
};
const other: FirewallVm = { ip: '10.0.0.4', serviceAccountEmail: 'work@p.iam.gserviceaccount.com', tags: [] };
const all = [flow, work, other];
const accepts = (vm: FirewallVm, rules: FirewallRule[]) =>
  vmRuleset(vm, rules, all, '10.0.0.1:8080')
    .split('\n')
    .filter((l) => l.includes(' accept comment '))
    .map((l) => l.trim());

describe('GCP firewall rules as nftables', () => {
  it('admits a source service account as the IPs of every VM running as it, on the listed ports', () => {
    const rule = {
      name: 'grpc',
      allow: [{ protocol: 'tcp', ports: ['7500'] }],
      source_service_accounts: [work.serviceAccountEmail],
      target_service_accounts: [flow.serviceAccountEmail],
    };
    expect(accepts(flow, [rule])).toEqual([
      'ip saddr { 10.0.0.3, 10.0.0.4 } tcp dport { 7500 } accept comment "grpc"',
    ]);
    expect(accepts(work, [rule])).toEqual([]); // not a target
  });

  it('takes ranges, tags, port ranges and protocol all; no source at all means 0.0.0.0/0', () => {
    expect(
      accepts(work, [
        { name: 'ssh', allow: [{ protocol: 'tcp', ports: ['22'] }], source_ranges: ['35.235.240.0/20'] },
        { name: 'by-tag', allow: [{ protocol: 'all' }], source_tags: ['gpu'], target_tags: ['gpu'] },
        { name: 'open', allow: [{ protocol: 'tcp', ports: ['1024-65535'] }] },
      ]),
    ).toEqual([
      'ip saddr { 35.235.240.0/20 } tcp dport { 22 } accept comment "ssh"',
      'ip saddr { 10.0.0.3 } accept comment "by-tag"',
      'ip saddr { 0.0.0.0/0 } tcp dport { 1024-65535 } accept comment "open"',
    ]);
  });

  it('ignores disabled and EGRESS rules, and a source account no VM runs as; ingress defaults to drop', () => {
    const text = vmRuleset(
      flow,
      [
        { name: 'off', disabled: true, allow: [{ protocol: 'all' }] },
        { name: 'out', direction: 'EGRESS', allow: [{ protocol: 'all' }] },
        {
          name: 'nobody',
          allow: [{ protocol: 'all' }],
          source_service_accounts: ['ghost@p.iam.gserviceaccount.com'],
        },
      ],
      all,
      '10.0.0.1:8080',
    );
    expect(text).not.toContain(' accept comment ');
    expect(text).toContain('policy drop;');
    expect(text).toContain('ct state established,related accept');
    expect(text).toContain('ip daddr 169.254.169.254 tcp dport 80 dnat to 10.0.0.1:8080');
  });

  it('refuses a port that is not N or N-M instead of writing it into nftables', () => {
    expect(() =>
      vmRuleset(flow, [{ name: 'bad', allow: [{ protocol: 'tcp', ports: ['22; drop'] }] }], all, 'h:1'),
    ).toThrow(/firewall port "22; drop" is not N or N-M/);
  });
});
