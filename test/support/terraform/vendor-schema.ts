/**
 * Regenerates `google-6.50.0-schema.json` (the stand-in provider's schema) from the reference copy of
 * `terraform providers schema -json` for hashicorp/google (../shared/reference/terraform, or
 * the path given as argument). Descriptions are dropped (Terraform's checks never read them:
 * 1.9 MB → 0.6 MB) and every resource schema sits on its own line, so a provider upgrade
 * shows as a readable diff.
 *
 *   npx tsx test/support/terraform/vendor-schema.ts [path/to/google-6.50.0-schema.json]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const GOOGLE_PROVIDER_VERSION = '6.50.0';

const DEFAULT_SOURCE = fileURLToPath(
  new URL(
    `../../../../shared/reference/terraform/google-${GOOGLE_PROVIDER_VERSION}-schema.json`,
    import.meta.url,
  ),
);
const OUT = fileURLToPath(new URL(`./google-${GOOGLE_PROVIDER_VERSION}-schema.json`, import.meta.url));

function stripDescriptions(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripDescriptions);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) {
    const v = (value as Record<string, unknown>)[key];
    // Documentation strings only: an attribute *named* description (its value is an
    // object under `attributes`, e.g. google_compute_firewall.description) is schema.
    if ((key === 'description' || key === 'description_kind') && typeof v === 'string') continue;
    // A cty type is data (an object type may have an attribute named description): copied whole.
    out[key] = key === 'type' ? v : stripDescriptions(v);
  }
  return out;
}

const source = process.argv[2] ?? DEFAULT_SOURCE;
const doc = JSON.parse(readFileSync(source, 'utf8')) as {
  provider_schemas: Record<string, Record<string, unknown>>;
};
const [address, schemas] = Object.entries(doc.provider_schemas)[0]!;
const section = (name: string) => {
  const entries = Object.entries((schemas[name] ?? {}) as Record<string, unknown>).sort(([a], [b]) =>
    a < b ? -1 : 1,
  );
  return `{\n${entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(stripDescriptions(v))}`).join(',\n')}\n}`;
};
const text = `{"format_version":"1.0","provider_schemas":{${JSON.stringify(address)}:{
"provider":${JSON.stringify(stripDescriptions(schemas.provider))},
"resource_schemas":${section('resource_schemas')},
"data_source_schemas":${section('data_source_schemas')}
}}}
`;
JSON.parse(text); // never write a broken file
writeFileSync(OUT, text);
console.log(`wrote ${OUT} (${(text.length / 1024).toFixed(0)} KiB) from ${source}`);
