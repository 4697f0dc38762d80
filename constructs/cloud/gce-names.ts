/**
 * GCE/GCS naming rules and the names we derive from the app and construct paths
 * (reference §7 bucket names, §9 VM and label rules). Pure functions, no cdktf imports.
 */
import { createHash } from 'node:crypto';

/** GCE resource names (VMs, networks, firewalls, routers): RFC 1035, at most 63. */
export const GCE_NAME = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** Service account ids: 6-30 characters. */
export const SA_ID = /^[a-z]([-a-z0-9]{4,28}[a-z0-9])$/;
export const LABEL_VALUE = /^[a-z0-9_-]{0,63}$/;

/** True for a cdktf token placeholder (a value known only at deploy time): never validated. */
export function isToken(s: string): boolean {
  return s.includes('${TfToken[') || s.includes('${');
}

export function shortHash(s: string, n = 6): string {
  return createHash('sha256').update(s).digest('hex').slice(0, n);
}

/** `root.train_A` → `train-a`: a work's path without the root flow, as a DNS label. */
export function slug(componentName: string): string {
  const parts = componentName.split('.');
  const rest = parts.length > 1 ? parts.slice(1) : parts;
  return rest
    .join('-')
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-|-$/g, '');
}

/** `${prefix}-${suffix}` cut to `max` characters with a hash of the full name when cut. */
export function fitName(prefix: string, suffix: string, max = 63): string {
  const full = `${prefix}-${suffix}`;
  if (full.length <= max) return full;
  const h = shortHash(full);
  return `${full.slice(0, max - h.length - 1).replace(/-+$/, '')}-${h}`;
}

/** Why `name` is not a valid GCS bucket name, or undefined (GC:storage/docs/naming-buckets). */
export function bucketNameProblem(name: string): string | undefined {
  if (name.length < 3 || name.length > 222) return 'a bucket name has 3-63 characters (up to 222 with dots)';
  if (!/^[a-z0-9][a-z0-9._-]*[a-z0-9]$/.test(name)) {
    return 'a bucket name uses lowercase letters, digits, "-", "_" and "." and starts and ends with a letter or digit';
  }
  if (!name.includes('.') && name.length > 63) return 'a bucket name without dots has at most 63 characters';
  if (name.split('.').some((p) => p.length > 63 || p.length === 0))
    return 'each dot-separated part has 1-63 characters';
  if (/^\d+\.\d+\.\d+\.\d+$/.test(name)) return 'a bucket name cannot be an IP address';
  if (name.startsWith('goog')) return 'a bucket name cannot start with "goog"';
  if (/google|g00gle/.test(name)) return 'a bucket name cannot contain "google"';
  return undefined;
}

/** A label value from free text: lowercase, invalid characters to "-", at most 63. */
export function labelValue(s: string): string {
  return s
    .toLowerCase()
    .replace(/[^a-z0-9_-]/g, '-')
    .slice(0, 63);
}
