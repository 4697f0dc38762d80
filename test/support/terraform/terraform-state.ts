/**
 * Reading `terraform show -json` output: the applied resources with their attribute values
 * as Terraform rendered them (references resolved, templates rendered).
 */

export interface StateResource {
  readonly address: string;
  readonly type: string;
  readonly name: string;
  readonly values: Record<string, unknown>;
}

interface StateModule {
  readonly resources?: readonly StateResource[];
  readonly child_modules?: readonly StateModule[];
}

function* resourcesOf(module: StateModule | undefined): Generator<StateResource> {
  if (!module) return;
  yield* module.resources ?? [];
  for (const child of module.child_modules ?? []) yield* resourcesOf(child);
}

/** Every applied resource of `type` in a `terraform show -json` document, as its values. */
export function appliedResources(show: Record<string, unknown>, type: string): Record<string, unknown>[] {
  const root = (show.values as { root_module?: StateModule } | undefined)?.root_module;
  return [...resourcesOf(root)].filter((r) => r.type === type).map((r) => r.values);
}

/** How many managed resources a `terraform show -json` of a state or plan holds. */
export function resourceCount(show: Record<string, unknown>): number {
  const values = (show.planned_values ?? show.values) as { root_module?: StateModule } | undefined;
  return [...resourcesOf(values?.root_module)].length;
}
