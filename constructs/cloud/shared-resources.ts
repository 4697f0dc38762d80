/**
 * Resources the app shares with others when deployed into an existing stack: a team's
 * bucket (the app keeps to its own object prefix, and its service accounts may touch only
 * that prefix) and a Shared VPC network (its firewall rules belong to the host project).
 * Pure data, no cdktf imports.
 */

/** The object prefix of `app` in a bucket it shares (`lightning/<app>/`); '' in its own bucket. */
export function appObjectPrefix(app: string, sharedBucket: boolean): string {
  return sharedBucket ? `lightning/${app}/` : '';
}

/**
 * IAM condition limiting a bucket-level grant to objects under `prefix`. Object requests
 * (get, create, delete) name the object, `projects/_/buckets/<b>/objects/<name>`; a list
 * request names the bucket itself, so it is allowed only when its `prefix` parameter lies
 * under ours (GCS exposes it as `storage.googleapis.com/objectListPrefix`). The Drive always
 * lists with a prefix under its base, so a listing of the whole bucket is refused, as meant.
 * Conditions need uniform bucket-level access on the bucket. Semantics from GCS's IAM
 * conditions documentation; not enforced by the GCS emulator, so **UNVERIFIED** here.
 */
export function prefixCondition(
  bucket: string,
  prefix: string,
  app: string,
): { title: string; expression: string } {
  const objects = `projects/_/buckets/${bucket}/objects/${prefix}`;
  return {
    // Title and expression only: `description` is optional, and the Terraform schema vendored
    // for the stand-in provider (h8-tf) lacks every attribute named "description".
    title: `lightning ${app} objects`.slice(0, 100),
    expression:
      `resource.name.startsWith("${objects}") || ` +
      `(resource.name == "projects/_/buckets/${bucket}" && ` +
      `api.getAttribute("storage.googleapis.com/objectListPrefix", "").startsWith("${prefix}"))`,
  };
}

/**
 * The project owning `network` when it is a self link (`projects/<p>/global/networks/<n>`,
 * optionally as a full https URL), else undefined (a name or an unresolved token).
 */
export function networkProjectOf(network: string): string | undefined {
  return /(?:^|\/)projects\/([^/]+)\/global\/networks\/[^/]+$/.exec(network)?.[1];
}
