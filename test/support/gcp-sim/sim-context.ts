/**
 * What a resource handler of the simulated GCP works with: the simulation's parts (network,
 * GCS, secrets, the Compute API, the metadata server, the VMs) and the value helpers the
 * handlers share.
 */
import type { ComputeApi } from './compute-api.ts';
import type { FirewallRule } from './firewall.ts';
import type { GcsOps } from './gcs-ops.ts';
import type { MetadataServer } from './metadata-server.ts';
import type { SecretManager } from './secret-manager.ts';
import type { SimNetwork } from './sim-network.ts';
import type { SimVm } from './sim-vm.ts';

export type Obj = Record<string, unknown>;

export interface SimContext {
  readonly network: SimNetwork;
  readonly gcs: GcsOps;
  readonly secrets: SecretManager;
  readonly compute: ComputeApi;
  readonly metadata: MetadataServer;
  readonly vms: Map<string, SimVm>;
  readonly firewalls: Map<string, FirewallRule>;
  /** Re-renders every VM's nftables ruleset (a VM or rule changed). */
  refreshFirewalls(): void;
  /** Directory that relative `source` paths resolve against (Terraform's working dir). */
  readonly sourceRoot: string;
  readonly defaultProject: string;
  readonly rootDir: string;
  readonly guestEnv: Readonly<Record<string, string>>;
  /** Timeline of what the sim did (for boot timelines in tests). */
  mark(event: string): void;
  /** VMs created and deleted, by whom (the per-run summary). */
  readonly vmEvents: VmEvent[];
}

export interface VmEvent {
  readonly event: 'created' | 'deleted';
  readonly by: 'terraform' | 'compute-api';
  readonly name: string;
  readonly zone: string;
}

export interface Handler {
  /**
   * `planned` has the provider's placeholders in computed attributes; `config` says what the
   * configuration set (null where GCP is to choose, e.g. an address).
   */
  apply(ctx: SimContext, prior: Obj | null, planned: Obj | null, config: Obj | null): Promise<Obj | null>;
  /** Refresh: the current state, or null when it is gone. @default the tracked state */
  read?(ctx: SimContext, state: Obj): Obj | null;
}

export const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
export const first = (v: unknown): Obj | undefined =>
  Array.isArray(v) ? (v[0] as Obj | undefined) : (v as Obj | undefined);
export const project = (ctx: SimContext, o: Obj) => str(o.project) ?? ctx.defaultProject;
export const lastSegment = (s: string) => s.split('/').at(-1)!;

/** A stable number for an id (GCE's numeric ids, self_link_unique). */
export function hash(s: string): number {
  let h = 0;
  for (const c of s) h = (h * 31 + c.charCodeAt(0)) | 0;
  return h;
}
