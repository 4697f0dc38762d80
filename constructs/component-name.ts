import type { IConstruct } from 'constructs';
import { ValidationError } from './errors.ts';

export const APP_BRAND = Symbol.for('lightning-local.LightningApp');

/**
 * True when `x` carries `brand`: the type guards of LightningApp, Flow, Work and WorkMap,
 * which also hold across two copies of this package (a symbol from Symbol.for, not instanceof).
 */
export function hasBrand(x: unknown, brand: symbol): boolean {
  return typeof x === 'object' && x !== null && (x as Record<symbol, unknown>)[brand] === true;
}

/**
 * The dotted construct path of a component relative to its LightningApp (`root.train`):
 * its name in state, logs, Terraform ids and the daemon's identity. Works also when the
 * app sits inside a larger CDKTF stack (the scopes above the app are left out).
 */
export function componentName(c: IConstruct): string {
  const scopes = c.node.scopes;
  let start = 0;
  for (let i = 0; i < scopes.length; i++) {
    if (hasBrand(scopes[i], APP_BRAND)) start = i + 1;
  }
  return scopes
    .slice(start)
    .map((s) => s.node.id)
    .join('.');
}

/**
 * The id a Flow, Work or WorkMap constructor was given, checked before it reaches
 * `constructs` (whose own message, "Only root constructs may have an empty ID", names
 * neither the class nor the fix). Called in the `super()` argument list, so `new.target`
 * names the user's class.
 */
export function checkedId(
  scope: IConstruct | undefined,
  id: unknown,
  className: string,
  kind: string,
): string {
  if (typeof id === 'string' && id !== '') return id;
  const inApp = scope === undefined || hasBrand(scope, APP_BRAND);
  const where = inApp ? '' : ` in ${componentName(scope)}`;
  const example = inApp ? `new ${className}(app, 'root')` : `new ${className}(this, 'train')`;
  throw new ValidationError(
    [
      {
        path: inApp ? 'app' : componentName(scope),
        message: `${className} (a ${kind})${where} was created without an id: the id names it in state, logs, Terraform and its daemon (root.train)`,
        fix: `pass an id as the second argument, e.g. ${example}`,
      },
    ],
    'Invalid app',
  );
}
