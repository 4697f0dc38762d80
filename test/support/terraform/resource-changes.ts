/**
 * What the stand-in provider does to values, apart from the wire: plan (computed attributes
 * Terraform left null become unknown on create; an update keeps the prior computed values, so
 * a second plan of unchanged config is clean), apply (unknowns get deterministic placeholders,
 * plausible where other resources use them: a service account's email, an address), and read
 * (what GCP would report back, including its one modelled surprise: bundled local SSDs).
 */
import { createHash } from 'node:crypto';
import { isObject, toJson, transform, UNKNOWN, type Value } from './dynamic-value.ts';
import type { BlockJson, CtyType } from './provider-schema.ts';

/** The provider block's settings that fill `project`/`region`/`zone` when a resource omits them. */
export interface ProviderDefaults {
  readonly project?: string;
  readonly region?: string;
  readonly zone?: string;
}

/** The planned new state: `proposed` (Terraform's merge of config and prior state) with unknowns. */
export function planChange(block: BlockJson, prior: Value, proposed: Value): Value {
  if (proposed === null) return null; // destroy
  // Update: Terraform's proposal already carries the prior computed values; keeping them is
  // what makes a second plan of unchanged config show no changes.
  if (prior !== null) return proposed;
  return markComputedUnknown(block, proposed);
}

function markComputedUnknown(block: BlockJson, value: Value): Value {
  if (!isObject(value)) return value;
  const out = { ...value };
  for (const [name, a] of Object.entries(block.attributes ?? {})) {
    if (a.computed && out[name] === null) out[name] = UNKNOWN;
  }
  for (const [name, nb] of Object.entries(block.block_types ?? {})) {
    const v = out[name] ?? null;
    if (nb.nesting_mode === 'single' || nb.nesting_mode === 'group')
      out[name] = markComputedUnknown(nb.block, v);
    else if (Array.isArray(v)) out[name] = v.map((e) => markComputedUnknown(nb.block, e));
    else if (isObject(v))
      out[name] = Object.fromEntries(
        Object.entries(v).map(([k, e]) => [k, markComputedUnknown(nb.block, e)]),
      );
  }
  return out;
}

/** Computed values other resources read, made plausible so references resolve to something real-looking. */
const KNOWN_PLACEHOLDERS: Record<string, (r: Record<string, Value>, project: string, hash: string) => Value> =
  {
    'google_service_account.email': (r, project) => `${str(r.account_id)}@${project}.iam.gserviceaccount.com`,
    'google_service_account.member': (r, project) =>
      `serviceAccount:${str(r.account_id)}@${project}.iam.gserviceaccount.com`,
    'google_compute_address.address': (_r, _p, hash) =>
      `10.${parseInt(hash.slice(0, 2), 16) % 200}.${parseInt(hash.slice(2, 4), 16)}.${2 + (parseInt(hash.slice(4, 6), 16) % 250)}`,
    'google_project_iam_custom_role.name': (r, project) => `projects/${project}/roles/${str(r.role_id)}`,
    'google_compute_instance.scratch_disk.size': () => LOCAL_SSD_GB,
  };

const str = (v: Value | undefined): string => (typeof v === 'string' ? v : 'unknown');

/**
 * The new state after apply: `planned` with every unknown replaced by a deterministic
 * placeholder of the right type (the same config always gives the same values).
 */
export function fillUnknowns(
  typeName: string,
  type: CtyType,
  planned: Value,
  defaults: ProviderDefaults,
): Value {
  if (!isObject(planned)) return planned;
  const root = planned;
  const project = typeof root.project === 'string' ? root.project : (defaults.project ?? 'stand-in-project');
  const hash = createHash('sha256')
    .update(`${typeName}\n${JSON.stringify(toJson(root))}`)
    .digest('hex');
  return transform(type, planned, (t, v, path) => {
    if (v !== UNKNOWN) return undefined;
    const attr = path.at(-1) ?? '';
    const key = [typeName, ...path.filter((p) => !/^\d+$/.test(p))].join('.');
    const known = KNOWN_PLACEHOLDERS[key];
    if (known) return known(root, project, hash);
    if (path.length === 1 && (attr === 'project' || attr === 'region' || attr === 'zone')) {
      const d = attr === 'project' ? project : defaults[attr];
      if (d !== undefined) return d;
    }
    if (attr === 'id' && path.length === 1) {
      const name = root.name ?? root.account_id ?? root.secret_id ?? root.role_id ?? hash.slice(0, 12);
      return `projects/${project}/${typeName.replace(/^google_/, '')}/${str(name)}`;
    }
    return zeroOf(t, `${attr}-${hash.slice(0, 8)}`);
  });
}

function zeroOf(type: CtyType, text: string): Value {
  if (type === 'string' || type === 'dynamic') return text;
  if (type === 'number') return 0;
  if (type === 'bool') return false;
  const [kind, inner] = type;
  if (kind === 'map') return {};
  if (kind === 'object') return Object.fromEntries(Object.keys(inner).map((k) => [k, null]));
  return [];
}

/** Size of one local SSD partition (GB). */
export const LOCAL_SSD_GB = 375;

/**
 * Machine types that come with local SSDs whether or not the request asks for them
 * (GC:compute/docs/accelerator-optimized-machines, "attached Local SSD"; counts of 375 GB
 * disks). The real provider reads them back as `scratch_disk` blocks, and `scratch_disk`
 * forces replacement: a config that does not declare them plans to recreate the VM forever.
 * Kept apart from the project's catalog on purpose, so the test does not grade synthesis
 * with synthesis's own table.
 */
export const BUNDLED_LOCAL_SSDS: Readonly<Record<string, number>> = {
  'a2-ultragpu-1g': 1,
  'a2-ultragpu-2g': 2,
  'a2-ultragpu-4g': 4,
  'a2-ultragpu-8g': 8,
  'a3-highgpu-1g': 2,
  'a3-highgpu-2g': 4,
  'a3-highgpu-4g': 8,
  'a3-highgpu-8g': 16,
  'a3-megagpu-8g': 16,
  'a3-edgegpu-8g': 16,
  'a3-ultragpu-8g': 32,
};

/**
 * Attributes whose change replaces the resource (the real provider's ForceNew), for the one
 * GCE behaviour modelled here: a VM's local SSDs cannot change in place.
 */
export function replacedBy(typeName: string, prior: Value, planned: Value): string[] {
  if (typeName !== 'google_compute_instance' || !isObject(prior) || !isObject(planned)) return [];
  const disks = (v: Value | undefined) => JSON.stringify(toJson(v ?? null));
  return disks(prior.scratch_disk) === disks(planned.scratch_disk) ? [] : ['scratch_disk'];
}

/** The state as GCP would report it on refresh, given the state Terraform stored. */
export function asGcpReports(typeName: string, state: Value): Value {
  if (typeName !== 'google_compute_instance' || !isObject(state)) return state;
  const bundled = BUNDLED_LOCAL_SSDS[str(state.machine_type)] ?? 0;
  const declared = Array.isArray(state.scratch_disk) ? state.scratch_disk : [];
  if (declared.length >= bundled) return state;
  const reported = [...declared];
  for (let i = declared.length; i < bundled; i++) {
    reported.push({ device_name: `local-ssd-${i}`, interface: 'NVME', size: LOCAL_SSD_GB });
  }
  return { ...state, scratch_disk: reported };
}
