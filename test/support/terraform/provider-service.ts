/**
 * The stand-in for hashicorp/google: the `tfplugin6.Provider` RPCs Terraform calls for
 * init/validate/plan/apply/destroy. It serves the real schema, so Terraform's own checks run
 * against it (types, required arguments, block nesting, references, string templates), and
 * it plans and applies like a provider whose API always agrees, except that GCP reports
 * bundled local SSDs (resource-changes.ts). With LIGHTNING_GCP_SIM_URL set, applies and reads
 * go to the simulated GCP (gcp-sim-client.ts, SIM-CONTRACT.md).
 *
 * It does not check what the real provider's validators, CustomizeDiff or GCP's API would
 * refuse (see docs/adr/0009-terraform-stand-in-provider.md).
 */
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import {
  type ApplyResourceChange_Request,
  ApplyResourceChange_ResponseSchema,
  type ConfigureProvider_Request,
  ConfigureProvider_ResponseSchema,
  Diagnostic_Severity,
  type DiagnosticSchema,
  GetMetadata_ResponseSchema,
  GetProviderSchema_ResponseSchema,
  type ImportResourceState_Request,
  ImportResourceState_ResponseSchema,
  type PlanResourceChange_Request,
  PlanResourceChange_ResponseSchema,
  type ReadDataSource_Request,
  ReadDataSource_ResponseSchema,
  type ReadResource_Request,
  ReadResource_ResponseSchema,
  StopProvider_ResponseSchema,
  type UpgradeResourceState_Request,
  UpgradeResourceState_ResponseSchema,
  ValidateDataResourceConfig_ResponseSchema,
  ValidateProviderConfig_ResponseSchema,
  ValidateResourceConfig_ResponseSchema,
} from '../../../proto/gen/tfplugin6/tfplugin6_pb.ts';
import { conform, decodeValue, encodeValue, isObject, toJson, type Value } from './dynamic-value.ts';
import type { GcpSimClient } from './gcp-sim-client.ts';
import {
  type CtyType,
  impliedType,
  type ProviderSchemaJson,
  type SchemaJson,
  schemaToProto,
} from './provider-schema.ts';
import {
  asGcpReports,
  fillUnknowns,
  type ProviderDefaults,
  planChange,
  replacedBy,
} from './resource-changes.ts';

type DiagnosticInit = MessageInitShape<typeof DiagnosticSchema>;

export function errorDiagnostic(summary: string, detail = ''): DiagnosticInit {
  return { severity: Diagnostic_Severity.ERROR, summary, detail };
}

const msgpack = (v: Value) => ({ msgpack: encodeValue(v) });

export class StandInProvider {
  private defaults: ProviderDefaults = {};
  private readonly types = new Map<string, CtyType>();

  constructor(
    private readonly schema: ProviderSchemaJson,
    private readonly sim: GcpSimClient | undefined,
  ) {}

  getMetadata() {
    return create(GetMetadata_ResponseSchema, {
      serverCapabilities: { getProviderSchemaOptional: true },
      resources: Object.keys(this.schema.resource_schemas).map((typeName) => ({ typeName })),
      dataSources: Object.keys(this.schema.data_source_schemas).map((typeName) => ({ typeName })),
    });
  }

  getProviderSchema() {
    const all = (schemas: Readonly<Record<string, SchemaJson>>) =>
      Object.fromEntries(Object.entries(schemas).map(([name, s]) => [name, schemaToProto(s)]));
    return create(GetProviderSchema_ResponseSchema, {
      provider: schemaToProto(this.schema.provider),
      resourceSchemas: all(this.schema.resource_schemas),
      dataSourceSchemas: all(this.schema.data_source_schemas),
      // Terraform may reuse one instance's schema for the others: fewer, faster starts.
      serverCapabilities: { getProviderSchemaOptional: true },
    });
  }

  validateProviderConfig() {
    return create(ValidateProviderConfig_ResponseSchema, {});
  }

  validateResourceConfig() {
    return create(ValidateResourceConfig_ResponseSchema, {});
  }

  validateDataResourceConfig() {
    return create(ValidateDataResourceConfig_ResponseSchema, {});
  }

  configureProvider(req: ConfigureProvider_Request) {
    const config = decodeValue(req.config?.msgpack ?? new Uint8Array());
    if (isObject(config)) {
      const pick = (k: string) => (typeof config[k] === 'string' ? { [k]: config[k] } : {});
      this.defaults = { ...pick('project'), ...pick('region'), ...pick('zone') };
    }
    return create(ConfigureProvider_ResponseSchema, {});
  }

  /** Stored state is already in the current schema's shape (this provider has one version). */
  upgradeResourceState(req: UpgradeResourceState_Request) {
    return create(UpgradeResourceState_ResponseSchema, {
      upgradedState: { json: req.rawState?.json ?? new Uint8Array() },
    });
  }

  async readResource(req: ReadResource_Request) {
    const state = decodeValue(req.currentState?.msgpack ?? new Uint8Array());
    let current = state;
    if (this.sim && state !== null) {
      const answer = await this.sim.read(req.typeName, toJson(state));
      if (answer !== 'untracked') current = conform(this.typeOf(req.typeName), answer.state, req.typeName);
    }
    return create(ReadResource_ResponseSchema, {
      newState: msgpack(asGcpReports(req.typeName, current)),
      private: req.private,
    });
  }

  planResourceChange(req: PlanResourceChange_Request) {
    const prior = decodeValue(req.priorState?.msgpack ?? new Uint8Array());
    const proposed = decodeValue(req.proposedNewState?.msgpack ?? new Uint8Array());
    const planned = planChange(this.resource(req.typeName).block, prior, proposed);
    return create(PlanResourceChange_ResponseSchema, {
      plannedState: msgpack(planned),
      plannedPrivate: req.priorPrivate,
      requiresReplace: replacedBy(req.typeName, prior, planned).map((name) => ({
        steps: [{ selector: { case: 'attributeName' as const, value: name } }],
      })),
    });
  }

  async applyResourceChange(req: ApplyResourceChange_Request) {
    const type = this.typeOf(req.typeName);
    const prior = decodeValue(req.priorState?.msgpack ?? new Uint8Array());
    const planned = decodeValue(req.plannedState?.msgpack ?? new Uint8Array());
    const config = decodeValue(req.config?.msgpack ?? new Uint8Array());
    let state = planned === null ? null : fillUnknowns(req.typeName, type, planned, this.defaults);
    if (this.sim) {
      const answer = await this.sim.apply({
        type: req.typeName,
        prior: toJson(prior),
        planned: toJson(state),
        config: toJson(config),
      });
      if ('refused' in answer) {
        return create(ApplyResourceChange_ResponseSchema, {
          newState: msgpack(prior),
          diagnostics: [errorDiagnostic(`simulated GCP refused ${req.typeName}: ${answer.refused}`)],
        });
      }
      state = conform(type, answer.state, req.typeName);
    }
    return create(ApplyResourceChange_ResponseSchema, {
      newState: msgpack(state),
      private: req.plannedPrivate,
    });
  }

  /** `terraform import` of `id`: a state with only the id, filled in by the refresh that follows. */
  importResourceState(req: ImportResourceState_Request) {
    const type = this.typeOf(req.typeName);
    const state = conform(type, { id: req.id }, req.typeName);
    return create(ImportResourceState_ResponseSchema, {
      importedResources: [{ typeName: req.typeName, state: msgpack(state) }],
    });
  }

  readDataSource(req: ReadDataSource_Request) {
    const schema = this.schema.data_source_schemas[req.typeName];
    if (!schema) throw new Error(`the provider schema has no data source ${req.typeName}`);
    const config = decodeValue(req.config?.msgpack ?? new Uint8Array());
    const state = fillUnknowns(req.typeName, impliedType(schema.block), config, this.defaults);
    return create(ReadDataSource_ResponseSchema, { state: msgpack(state) });
  }

  stopProvider() {
    return create(StopProvider_ResponseSchema, {});
  }

  private resource(typeName: string): SchemaJson {
    const schema = this.schema.resource_schemas[typeName];
    if (!schema) throw new Error(`the provider schema has no resource type ${typeName}`);
    return schema;
  }

  private typeOf(typeName: string): CtyType {
    let type = this.types.get(typeName);
    if (!type) {
      type = impliedType(this.resource(typeName).block);
      this.types.set(typeName, type);
    }
    return type;
  }
}
