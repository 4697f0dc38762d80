import type { IConstruct } from 'constructs';

export const APP_BRAND = Symbol.for('lightning-local.LightningApp');

/**
 * The dotted construct path of a component relative to its LightningApp (`root.train`):
 * its name in state, logs, Terraform ids and the daemon's identity. Works also when the
 * app sits inside a larger CDKTF stack (the scopes above the app are left out).
 */
export function componentName(c: IConstruct): string {
  const scopes = c.node.scopes;
  let start = 0;
  for (let i = 0; i < scopes.length; i++) {
    if ((scopes[i] as unknown as Record<symbol, unknown>)[APP_BRAND] === true) start = i + 1;
  }
  return scopes
    .slice(start)
    .map((s) => s.node.id)
    .join('.');
}
