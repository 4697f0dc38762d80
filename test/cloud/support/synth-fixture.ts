/**
 * Synthesizes a fixture app into a temp dir with a small fixed bundle (so the snapshot does
 * not change whenever runtime code changes; the real bundle has its own test) and returns
 * the parsed Terraform JSON with helpers to find resources.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LightningApp } from '../../../constructs/app.ts';
import { synthesizeApp } from '../../../constructs/cloud/synth.ts';

export type Json = Record<string, unknown>;

export interface Synthesized {
  readonly dir: string;
  readonly stackFile: string;
  readonly text: string;
  readonly tf: {
    resource: Record<string, Record<string, Json>>;
    output: Record<string, Json>;
    provider: Json;
  };
  /** Resources of a type, by their `name` attribute when they have one, else by logical id. */
  byName(type: string): Record<string, Json>;
}

export const FIXED_BUNDLE_SHA = 'f'.repeat(64);

export async function synthFixture(app: LightningApp): Promise<Synthesized> {
  const dir = mkdtempSync(join(tmpdir(), 'lightning-cloud-test-'));
  const bundlePath = join(dir, 'app-bundle.tar.gz');
  writeFileSync(bundlePath, 'fixed test bundle');
  const result = await synthesizeApp(app, {
    appFile: 'unused.ts',
    outdir: join(dir, 'out'),
    bundle: { path: bundlePath, sha256: FIXED_BUNDLE_SHA },
  });
  const text = readFileSync(result.stackFile, 'utf8');
  const tf = JSON.parse(text) as Synthesized['tf'];
  return {
    dir,
    stackFile: result.stackFile,
    text,
    tf,
    byName(type) {
      const out: Record<string, Json> = {};
      for (const [id, r] of Object.entries(tf.resource[type] ?? {}))
        out[(r.name as string | undefined) ?? (r.account_id as string | undefined) ?? id] = r;
      return out;
    },
  };
}

/** `${google_service_account.lightning_flow-sa_XXXX.email}` for the resource whose account_id is `accountId`. */
export function saEmailRef(s: Synthesized, accountId: string): string {
  const entry = Object.entries(s.tf.resource.google_service_account ?? {}).find(
    ([, r]) => r.account_id === accountId,
  );
  if (!entry) throw new Error(`no service account ${accountId}`);
  return `\${google_service_account.${entry[0]}.email}`;
}

/** The Terraform reference `${type.<id>.attr}` of the one resource of `type`. */
export function refOf(s: Synthesized, type: string, attr: string): string {
  const ids = Object.keys(s.tf.resource[type] ?? {});
  if (ids.length !== 1) throw new Error(`expected one ${type}, found ${ids.length}`);
  return `\${${type}.${ids[0]}.${attr}}`;
}
