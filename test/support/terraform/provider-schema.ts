/**
 * The hashicorp/google schema the stand-in provider serves: loaded from the vendored
 * `terraform providers schema -json` document, converted to the plugin protocol's
 * `Schema` messages, and turned into cty types (the shape of every value Terraform sends).
 */
import { readFileSync } from 'node:fs';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import {
  Schema_NestedBlock_NestingMode as NestingMode,
  type Schema,
  SchemaSchema,
} from '../../../proto/gen/tfplugin6/tfplugin6_pb.ts';

export const GOOGLE_PROVIDER_VERSION = '6.50.0';
export const GOOGLE_PROVIDER_ADDRESS = 'registry.terraform.io/hashicorp/google';

/** A cty type in its JSON form, as in the schema document and on the wire. */
export type CtyType =
  | 'string'
  | 'number'
  | 'bool'
  | 'dynamic'
  | readonly ['list' | 'set' | 'map', CtyType]
  | readonly ['object', Readonly<Record<string, CtyType>>]
  | readonly ['tuple', readonly CtyType[]];

export interface AttributeJson {
  readonly type: CtyType;
  readonly required?: boolean;
  readonly optional?: boolean;
  readonly computed?: boolean;
  readonly sensitive?: boolean;
  readonly deprecated?: boolean;
  readonly write_only?: boolean;
}

export interface NestedBlockJson {
  readonly nesting_mode: 'single' | 'group' | 'list' | 'set' | 'map';
  readonly block: BlockJson;
  readonly min_items?: number;
  readonly max_items?: number;
}

export interface BlockJson {
  readonly attributes?: Readonly<Record<string, AttributeJson>>;
  readonly block_types?: Readonly<Record<string, NestedBlockJson>>;
  readonly deprecated?: boolean;
}

export interface SchemaJson {
  readonly version: number;
  readonly block: BlockJson;
}

export interface ProviderSchemaJson {
  readonly provider: SchemaJson;
  readonly resource_schemas: Readonly<Record<string, SchemaJson>>;
  readonly data_source_schemas: Readonly<Record<string, SchemaJson>>;
}

/** Where the vendored schema lives (see vendor-schema.ts for where it comes from). */
export const SCHEMA_FILE = new URL(`./google-${GOOGLE_PROVIDER_VERSION}-schema.json`, import.meta.url);

export function loadProviderSchema(file: URL | string = SCHEMA_FILE): ProviderSchemaJson {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(
      `cannot read the provider schema ${String(file)} (${(err as Error).message}); it is committed beside this file: regenerate it with test/support/terraform/vendor-schema.ts`,
    );
  }
  const doc = JSON.parse(text) as { provider_schemas: Record<string, ProviderSchemaJson> };
  const schema = doc.provider_schemas[GOOGLE_PROVIDER_ADDRESS];
  if (!schema) throw new Error(`${String(file)} holds no schema for ${GOOGLE_PROVIDER_ADDRESS}`);
  return schema;
}

const NESTING: Record<NestedBlockJson['nesting_mode'], NestingMode> = {
  single: NestingMode.SINGLE,
  group: NestingMode.GROUP,
  list: NestingMode.LIST,
  set: NestingMode.SET,
  map: NestingMode.MAP,
};

function blockToProto(block: BlockJson, version: number): MessageInitShape<typeof SchemaSchema>['block'] {
  return {
    version: BigInt(version),
    deprecated: block.deprecated ?? false,
    attributes: Object.entries(block.attributes ?? {}).map(([name, a]) => ({
      name,
      // The protocol carries attribute types as JSON-encoded cty types.
      type: new TextEncoder().encode(JSON.stringify(a.type)),
      required: a.required ?? false,
      optional: a.optional ?? false,
      computed: a.computed ?? false,
      sensitive: a.sensitive ?? false,
      deprecated: a.deprecated ?? false,
      writeOnly: a.write_only ?? false,
    })),
    blockTypes: Object.entries(block.block_types ?? {}).map(([typeName, nb]) => ({
      typeName,
      nesting: NESTING[nb.nesting_mode],
      minItems: BigInt(nb.min_items ?? 0),
      maxItems: BigInt(nb.max_items ?? 0),
      block: blockToProto(nb.block, 0),
    })),
  };
}

/** One resource's (or the provider's) schema as the protocol's `Schema` message. */
export function schemaToProto(schema: SchemaJson): Schema {
  return create(SchemaSchema, {
    version: BigInt(schema.version),
    block: blockToProto(schema.block, schema.version),
  });
}

/**
 * The object type a block's values have: attributes by their type, nested blocks as
 * list/set/map of objects, or an object for single/group blocks.
 */
export function impliedType(block: BlockJson): CtyType {
  const attrs: Record<string, CtyType> = {};
  for (const [name, a] of Object.entries(block.attributes ?? {})) attrs[name] = a.type;
  for (const [name, nb] of Object.entries(block.block_types ?? {})) {
    const inner = impliedType(nb.block);
    attrs[name] =
      nb.nesting_mode === 'single' || nb.nesting_mode === 'group' ? inner : [nb.nesting_mode, inner];
  }
  return ['object', attrs];
}
