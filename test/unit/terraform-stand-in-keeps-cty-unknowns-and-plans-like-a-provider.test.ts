/**
 * The stand-in Terraform provider's value handling, below the wire tests that run real
 * Terraform: cty's unknown-value extension, fitting simulator JSON to the schema, and the
 * plan/apply/read rules that keep a second plan clean.
 */
import { describe, expect, it } from 'vitest';
import {
  conform,
  decodeValue,
  encodeValue,
  UNKNOWN,
  type Value,
} from '../support/terraform/dynamic-value.ts';
import { impliedType, loadProviderSchema } from '../support/terraform/provider-schema.ts';
import { asGcpReports, fillUnknowns, planChange } from '../support/terraform/resource-changes.ts';

const schema = loadProviderSchema();
const address = schema.resource_schemas.google_compute_address!;
const account = schema.resource_schemas.google_service_account!;

describe('dynamic values', () => {
  it('writes an unknown as cty does (fixext1, type 0) and reads refined unknowns (type 12) too', () => {
    expect([...encodeValue(UNKNOWN)]).toEqual([0xd4, 0x00, 0x00]);
    expect(decodeValue(Uint8Array.from([0xd4, 0x00, 0x00]))).toBe(UNKNOWN);
    expect(decodeValue(Uint8Array.from([0xc7, 0x01, 0x0c, 0x80]))).toBe(UNKNOWN);
    const value: Value = { a: [1, 'x', true, null], b: UNKNOWN };
    expect(decodeValue(encodeValue(value))).toEqual(value);
  });

  it('fits simulator JSON to the schema and rejects attributes the schema does not have', () => {
    const type = impliedType(address.block);
    const fitted = conform(type, { name: 'ip', address: '10.0.0.2' }, 'google_compute_address') as Record<
      string,
      Value
    >;
    expect(fitted.name).toBe('ip');
    expect(fitted.labels).toBeNull();
    // Every attribute and block of the schema is present (cty objects have no optional keys).
    expect(Object.keys(fitted).sort()).toEqual(
      [
        ...Object.keys(address.block.attributes ?? {}),
        ...Object.keys(address.block.block_types ?? {}),
      ].sort(),
    );
    expect(() => conform(type, { name: 'ip', adress: 'typo' }, 'google_compute_address')).toThrow(
      /google_compute_address: the schema has no attribute adress/,
    );
    expect(() => conform(type, { name: 'ip', labels: 'team=ml' }, 'google_compute_address')).toThrow(
      /google_compute_address.labels: expected a map/,
    );
  });
});

describe('plan, apply and read', () => {
  const type = impliedType(account.block);
  const proposed = conform(type, { account_id: 'flow', project: 'p' }, 'sa');

  it('marks computed nulls unknown on create, and only then', () => {
    const planned = planChange(account.block, null, proposed) as Record<string, Value>;
    expect(planned.email).toBe(UNKNOWN);
    expect(planned.account_id).toBe('flow');
    const prior = { ...(proposed as Record<string, Value>), email: 'flow@p.iam.gserviceaccount.com' };
    expect(planChange(account.block, prior, prior)).toEqual(prior);
    expect(planChange(account.block, prior, null)).toBeNull();
  });

  it('fills unknowns deterministically, with plausible values where other resources read them', () => {
    const planned = planChange(account.block, null, proposed);
    const a = fillUnknowns('google_service_account', type, planned, { project: 'p' }) as Record<
      string,
      Value
    >;
    const b = fillUnknowns('google_service_account', type, planned, { project: 'p' }) as Record<
      string,
      Value
    >;
    expect(a).toEqual(b);
    expect(a.email).toBe('flow@p.iam.gserviceaccount.com');
    expect(Object.values(a).includes(UNKNOWN)).toBe(false);
  });

  it('reports the local SSDs an A3 VM comes with unless the config declares them', () => {
    const vm = { machine_type: 'a3-highgpu-8g', scratch_disk: [] as Value[] };
    expect(
      (asGcpReports('google_compute_instance', vm) as { scratch_disk: Value[] }).scratch_disk,
    ).toHaveLength(16);
    const declared = {
      ...vm,
      scratch_disk: Array.from({ length: 16 }, () => ({ interface: 'NVME', size: 375 })),
    };
    expect(asGcpReports('google_compute_instance', declared)).toBe(declared);
    const small = { machine_type: 'e2-small', scratch_disk: [] };
    expect(asGcpReports('google_compute_instance', small)).toBe(small);
  });
});
