import { ValidationError } from '../constructs/errors.ts';
import type { JsonValue } from '../constructs/json.ts';

/** Collects a repeatable option into an array (commander helper). */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** `--env K=V` pairs → an environment object. */
export function parseEnvPairs(pairs: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {};
  const problems = [];
  for (const pair of pairs) {
    const i = pair.indexOf('=');
    const key = i > 0 ? pair.slice(0, i) : '';
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) {
      problems.push({
        path: '--env',
        message: `"${pair}" is not KEY=VALUE with a valid variable name`,
        fix: 'write --env NAME=value',
      });
      continue;
    }
    env[key] = pair.slice(i + 1);
  }
  if (problems.length) throw new ValidationError(problems, 'Invalid --env');
  return env;
}

/**
 * `--set key=value` pairs → root state overrides. Values are JSON when they parse as JSON
 * (`--set epochs=5`, `--set demo=false`, `--set 'tags=["a"]'`), else strings. Dotted keys set
 * nested fields (`--set opt.lr=0.1`). Keys must exist in the flow's initial state, so a typo
 * is an error instead of a silently ignored setting.
 */
export function parseSetPairs(
  pairs: readonly string[],
  initial: Record<string, unknown>,
): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  const problems = [];
  for (const pair of pairs) {
    const i = pair.indexOf('=');
    if (i <= 0) {
      problems.push({ path: '--set', message: `"${pair}" is not key=value`, fix: 'write --set key=value' });
      continue;
    }
    const path = pair.slice(0, i).split('.');
    const raw = pair.slice(i + 1);
    let value: JsonValue;
    try {
      value = JSON.parse(raw) as JsonValue;
    } catch {
      value = raw;
    }
    const top = path[0]!;
    if (!Object.hasOwn(initial, top)) {
      problems.push({
        path: '--set',
        message: `the root flow's state has no key "${top}"`,
        fix: `use one of: ${Object.keys(initial).join(', ') || '(the root flow declares no state)'}`,
      });
      continue;
    }
    if (path.length === 1) {
      out[top] = value;
      continue;
    }
    const base = (out[top] ?? structuredClone(initial[top] ?? {})) as Record<string, JsonValue>;
    if (typeof base !== 'object' || base === null || Array.isArray(base)) {
      problems.push({
        path: '--set',
        message: `"${top}" is not an object, so "${pair.slice(0, i)}" cannot be set`,
      });
      continue;
    }
    let cur = base;
    for (const seg of path.slice(1, -1)) {
      const next = cur[seg];
      if (typeof next !== 'object' || next === null || Array.isArray(next)) cur[seg] = {};
      cur = cur[seg] as Record<string, JsonValue>;
    }
    cur[path[path.length - 1]!] = value;
    out[top] = base;
  }
  if (problems.length) throw new ValidationError(problems, 'Invalid --set');
  return out;
}
