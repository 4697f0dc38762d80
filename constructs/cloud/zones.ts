/**
 * Which zones exist per region, and the app's zone when the app does not name one. Every
 * VM of an app lives in one zone, so the default is the first zone of the region that offers
 * every GPU the app uses. `${region}-a` is no default: us-east1 and europe-west1 have no
 * zone "a".
 *
 * Source: the zones of SKYCAT (skypilot-org/skypilot-catalog catalogs/v7/gcp/vms.csv @017e2502)
 * rows for n1-highcpu-8, which is offered in every zone of the regions below, plus the GPU
 * rows (catalog.ts GPUS). Regions marked partial appear only in GPU rows: their list may
 * miss zones, so a zone named there is not rejected. No cdktf imports.
 */
import { GPUS, type GpuTypeId } from './catalog.ts';

const abc = ['a', 'b', 'c'] as const;
const COMPLETE: Readonly<Record<string, readonly string[]>> = {
  'asia-east1': abc,
  'asia-east2': abc,
  'asia-northeast1': abc,
  'asia-northeast2': abc,
  'asia-northeast3': abc,
  'asia-south1': abc,
  'asia-south2': abc,
  'asia-southeast1': abc,
  'asia-southeast2': abc,
  'australia-southeast1': abc,
  'australia-southeast2': abc,
  'europe-central2': abc,
  'europe-north1': abc,
  'europe-west1': ['b', 'c', 'd'],
  'europe-west2': abc,
  'europe-west3': abc,
  'europe-west4': abc,
  'europe-west6': abc,
  'me-west1': abc,
  'northamerica-northeast1': abc,
  'northamerica-northeast2': abc,
  'southamerica-east1': abc,
  'us-central1': ['a', 'b', 'c', 'f'],
  'us-east1': ['b', 'c', 'd'],
  'us-east4': abc,
  'us-west1': abc,
  'us-west2': abc,
  'us-west3': abc,
  'us-west4': abc,
};
const PARTIAL: Readonly<Record<string, readonly string[]>> = {
  'us-east5': ['a', 'b'],
  'europe-west8': ['c'],
  'europe-west9': ['c'],
};

/** Zones known in `region`, and whether that list is complete; undefined for a region not in the table. */
export function zonesOf(
  region: string,
): { readonly zones: readonly string[]; readonly complete: boolean } | undefined {
  const complete = COMPLETE[region];
  if (complete) return { zones: complete.map((z) => `${region}-${z}`), complete: true };
  const partial = PARTIAL[region];
  return partial ? { zones: partial.map((z) => `${region}-${z}`), complete: false } : undefined;
}

/** Why `zone` cannot be used in `region`, or undefined when it can (or we cannot tell). */
export function zoneProblem(region: string, zone: string): { message: string; fix: string } | undefined {
  const known = zonesOf(region);
  if (!zone.startsWith(`${region}-`) || !/^[a-z]+-[a-z]+\d+-[a-z]$/.test(zone)) {
    return {
      message: `zone ${JSON.stringify(zone)} is not a zone of region ${region}`,
      fix: `use ${known ? known.zones.join(' or ') : `a zone of ${region}`}, or leave zone unset (one is chosen)`,
    };
  }
  if (known?.complete && !known.zones.includes(zone)) {
    return {
      message: `zone ${zone} does not exist; the zones of ${region} are ${known.zones.join(', ')}`,
      fix: `use one of them in cloud.zone, or leave zone unset`,
    };
  }
  return undefined;
}

/**
 * The default zone: the first zone of `region` where every GPU in `gpus` is offered, or a
 * problem saying why there is none.
 */
export function chooseZone(
  region: string,
  gpus: readonly GpuTypeId[],
): { readonly zone: string } | { readonly message: string; readonly fix: string } {
  const known = zonesOf(region);
  if (!known) {
    return {
      message: `no zone is set and region ${region} is not in the zone table (constructs/cloud/zones.ts)`,
      fix: `set cloud.zone to a zone of ${region} (gcloud compute zones list --filter=region:${region})`,
    };
  }
  const needed = [...new Set(gpus)];
  const zone = known.zones.find((z) => needed.every((g) => GPUS[g].zones.includes(z)));
  if (zone) return { zone };
  const offered = needed.map((g) => {
    const inRegion = GPUS[g].zones.filter((z) => z.startsWith(`${region}-`));
    return `${GPUS[g].short}: ${inRegion.length ? inRegion.join(', ') : 'none'}`;
  });
  const regions = [
    ...new Set(
      Object.keys(COMPLETE).filter((r) =>
        COMPLETE[r]!.some((z) => needed.every((g) => GPUS[g].zones.includes(`${r}-${z}`))),
      ),
    ),
  ];
  return {
    message: `no zone of ${region} offers every GPU the app uses (${offered.join('; ')}); all VMs of an app share one zone`,
    fix: regions.length
      ? `use a region that has them all, e.g. ${regions.slice(0, 3).join(', ')}`
      : 'use GPU models that share a zone, or split the app',
  };
}
