/**
 * The stand-in provider's vendored schema (test/support/terraform/google-6.50.0-schema.json)
 * must be the provider's real schema minus documentation strings: every resource, attribute
 * and nested block of the reference copy in ../shared/reference/terraform. A vendoring step
 * that drops a real attribute (one *named* `description`, say) would make the stand-in refuse
 * valid Terraform, and hide it from every later check.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const REFERENCE = fileURLToPath(
  new URL('../../../shared/reference/terraform/google-6.50.0-schema.json', import.meta.url),
);
const VENDORED = fileURLToPath(new URL('../support/terraform/google-6.50.0-schema.json', import.meta.url));

interface Block {
  attributes?: Record<string, { type?: unknown; required?: boolean; optional?: boolean; computed?: boolean }>;
  block_types?: Record<
    string,
    { nesting_mode: string; block: Block; min_items?: number; max_items?: number }
  >;
}
type Schemas = Record<string, { block: Block }>;

function load(path: string): { resources: Schemas; dataSources: Schemas } {
  const doc = JSON.parse(readFileSync(path, 'utf8'));
  const provider = Object.values(doc.provider_schemas)[0] as Record<string, Schemas>;
  return { resources: provider.resource_schemas!, dataSources: provider.data_source_schemas! };
}

/** Every attribute and block path with what Terraform checks about it (no docs). */
function shape(block: Block, prefix = ''): string[] {
  const out: string[] = [];
  for (const [name, a] of Object.entries(block.attributes ?? {}))
    out.push(`${prefix}${name}:${JSON.stringify([a.type, !!a.required, !!a.optional, !!a.computed])}`);
  for (const [name, b] of Object.entries(block.block_types ?? {})) {
    out.push(`${prefix}${name}{${b.nesting_mode},${b.min_items ?? 0},${b.max_items ?? 0}}`);
    out.push(...shape(b.block, `${prefix}${name}.`));
  }
  return out.sort();
}

describe('the stand-in provider schema', () => {
  it('has the reference copy beside the checkout', () => {
    expect(existsSync(REFERENCE), `missing ${REFERENCE}: CI lays shared/ beside the clone`).toBe(true);
  });

  it('keeps every resource, attribute and block of hashicorp/google 6.50.0', () => {
    const ref = load(REFERENCE);
    const ours = load(VENDORED);
    for (const kind of ['resources', 'dataSources'] as const) {
      expect(Object.keys(ours[kind]).sort()).toEqual(Object.keys(ref[kind]).sort());
      for (const [type, schema] of Object.entries(ref[kind]))
        expect(shape(ours[kind][type]!.block), type).toEqual(shape(schema.block));
    }
    // The attribute that an earlier vendoring step dropped, named here so a reader sees why.
    expect(ours.resources.google_compute_firewall!.block.attributes).toHaveProperty('description');
  });
});
