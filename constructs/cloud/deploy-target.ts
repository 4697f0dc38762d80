/**
 * Where a deployment goes (GCP project and region) when the app file does not say, so a user
 * deploys the same app.ts they run locally. Pure data: callers hand in the environment,
 * the flags and the cdktf context they have; nothing here reads process state.
 *
 * Order (first set wins), per field:
 *   1. the app's `cloud` settings (`cloud: { project, region }`)
 *   2. the environment: GOOGLE_CLOUD_PROJECT / GOOGLE_CLOUD_REGION
 *   3. the flag: `lightning-local synth|cost --project … --region …`
 *   4. the cdktf context: `"context": { "lightningProject": …, "lightningRegion": … }` in cdktf.json
 *   (region only) 5. 'us-central1'
 *
 * The app wins because it is the one checked-in statement of intent; the others are for
 * apps that leave it out (the examples, an app shared between teams).
 */
import { CLOUD_DEFAULTS, type GcpCloudProps } from './cloud-props.ts';

/** The places a project or region can come from besides the app file. */
export interface DeployTargetSources {
  /** Environment to read `GOOGLE_CLOUD_PROJECT` / `GOOGLE_CLOUD_REGION` from. @default none */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** `--project` of `lightning-local synth` / `cost`. @default none */
  readonly project?: string;
  /** `--region` of `lightning-local synth` / `cost`. @default none */
  readonly region?: string;
  /** cdktf context values (`lightningProject`, `lightningRegion`). @default none */
  readonly context?: Readonly<Record<string, unknown>>;
}

/** Where a value came from, for messages ("project acme (from GOOGLE_CLOUD_PROJECT)"). */
export type TargetSource =
  | 'app'
  | 'GOOGLE_CLOUD_PROJECT'
  | 'GOOGLE_CLOUD_REGION'
  | '--project'
  | '--region'
  | 'cdktf context lightningProject'
  | 'cdktf context lightningRegion'
  | 'default';

export interface ResolvedTarget {
  readonly project: { readonly value: string; readonly from: TargetSource } | undefined;
  readonly region: { readonly value: string; readonly from: TargetSource };
}

/** Context keys read from cdktf.json's `context`. */
export const CONTEXT_KEYS = { project: 'lightningProject', region: 'lightningRegion' } as const;

/** The fix text naming every way to set a project. */
export function howToSetProject(appName: string): string {
  return (
    `set it in one of these ways (first wins): cloud: { project: 'my-project' } in new LightningApp({ name: '${appName}', ... }); ` +
    `GOOGLE_CLOUD_PROJECT=my-project in the environment; --project my-project (lightning-local synth/cost); ` +
    `"context": { "${CONTEXT_KEYS.project}": "my-project" } in cdktf.json (cdktf synth/deploy)`
  );
}

function nonEmpty(v: unknown): string | undefined {
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined;
}

/** Resolves project and region in the documented order (see the module comment). */
export function resolveDeployTarget(
  cloud: Partial<GcpCloudProps> | undefined,
  sources: DeployTargetSources = {},
): ResolvedTarget {
  const pick = <T extends TargetSource>(candidates: readonly [unknown, T][]) => {
    for (const [v, from] of candidates) {
      const value = nonEmpty(v);
      if (value !== undefined) return { value, from };
    }
    return undefined;
  };
  const project = pick([
    [cloud?.project, 'app'],
    [sources.env?.GOOGLE_CLOUD_PROJECT, 'GOOGLE_CLOUD_PROJECT'],
    [sources.project, '--project'],
    [sources.context?.[CONTEXT_KEYS.project], 'cdktf context lightningProject'],
  ]);
  const region = pick([
    [cloud?.region, 'app'],
    [sources.env?.GOOGLE_CLOUD_REGION, 'GOOGLE_CLOUD_REGION'],
    [sources.region, '--region'],
    [sources.context?.[CONTEXT_KEYS.region], 'cdktf context lightningRegion'],
  ]) ?? { value: CLOUD_DEFAULTS.region, from: 'default' as const };
  return { project, region };
}
