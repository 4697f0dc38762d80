/**
 * Who may do what in the Compute API stand-in: the IAM members Terraform applied, resolved
 * through the custom roles' permissions. Three kinds of grant are modelled:
 * - per instance (`google_compute_instance_iam_member`): the flow's start/stop/get of the
 *   work VMs Terraform created;
 * - per project (`google_project_iam_member`), optionally with an IAM condition: the flow's
 *   create/delete of run-time VMs, limited by a condition on the resource name;
 * - per service account (`google_service_account_iam_member`): `iam.serviceAccounts.actAs`
 *   (roles/iam.serviceAccountUser), which creating a VM that runs as that account needs.
 *
 * Conditions: only the forms the synthesis writes are understood (`resource.name.startsWith`
 * and `resource.type != ...` joined by `||` / `&&`); any other expression is refused with an
 * error naming it, so a synthesis change cannot pass here by being misread as "allowed".
 */

export interface ProjectGrant {
  readonly project: string;
  readonly role: string;
  readonly member: string;
  readonly condition?: { readonly expression: string; readonly title?: string } | null;
}

/** IAM resource type of a Compute resource name (`projects/p/zones/z/instances/n` → Instance). */
export function resourceTypeOf(name: string): string {
  const m = /\/(instances|disks|instanceTemplates|subnetworks|regions|operations)\/[^/]+$/.exec(name);
  const kind = m?.[1];
  const types: Record<string, string> = {
    instances: 'compute.googleapis.com/Instance',
    disks: 'compute.googleapis.com/Disk',
    instanceTemplates: 'compute.googleapis.com/InstanceTemplate',
    subnetworks: 'compute.googleapis.com/Subnetwork',
    regions: 'compute.googleapis.com/Region',
    operations: 'compute.googleapis.com/Operation',
  };
  return kind ? types[kind]! : 'cloudresourcemanager.googleapis.com/Project';
}

/** Evaluates one condition expression of the shapes the synthesis writes for `resourceName`. */
export function conditionAllows(expression: string, resourceName: string): boolean {
  const type = resourceTypeOf(resourceName);
  return expression.split(/\s*\|\|\s*/).some((term) => {
    const t = term.trim();
    const starts = /^resource\.name\.startsWith\("([^"]+)"\)$/.exec(t);
    if (starts) return resourceName.startsWith(starts[1]!);
    const notTypes = t.split(/\s*&&\s*/).map((p) => /^resource\.type != "([^"]+)"$/.exec(p));
    if (notTypes.every((m) => m !== null)) return notTypes.every((m) => m![1] !== type);
    throw new Error(`the simulated IAM does not understand the condition term ${JSON.stringify(t)}`);
  });
}

export class ComputeIam {
  /** Custom role name (`projects/P/roles/R`) → permissions. */
  readonly roles = new Map<string, readonly string[]>();
  /** "instance|role|member" from google_compute_instance_iam_member. */
  readonly instanceGrants = new Set<string>();
  readonly projectGrants: ProjectGrant[] = [];
  /** "serviceAccountEmail|role|member" from google_service_account_iam_member. */
  readonly serviceAccountGrants = new Set<string>();

  /** Whether `email` holds `permission` on the Compute resource `resourceName` of `project`. */
  allowed(email: string, project: string, resourceName: string, permission: string): boolean {
    const member = `serviceAccount:${email}`;
    const instance = /\/instances\/([^/]+)$/.exec(resourceName)?.[1];
    for (const g of this.instanceGrants) {
      const [inst, role, m] = g.split('|');
      if (inst === instance && m === member && this.roles.get(role!)?.includes(permission)) return true;
    }
    return this.projectGrants.some(
      (g) =>
        g.project === project &&
        g.member === member &&
        this.roles.get(g.role)?.includes(permission) &&
        (!g.condition || conditionAllows(g.condition.expression, resourceName)),
    );
  }

  /** Whether `email` may act as `serviceAccount` (attach it to a VM it creates). */
  mayActAs(email: string, serviceAccount: string): boolean {
    return this.serviceAccountGrants.has(
      `${serviceAccount}|roles/iam.serviceAccountUser|serviceAccount:${email}`,
    );
  }
}
