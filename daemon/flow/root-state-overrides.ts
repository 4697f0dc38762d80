/**
 * `--set key=value` pairs of the flow role (`run --set`, `flow --set`), typed by the root
 * flow's declared state. Lives with the flow runtime, which applies them.
 */
import { ValidationError } from '../../constructs/errors.ts';
import type { JsonValue } from '../../constructs/json.ts';

/**
 * `--set key=value` pairs → root state overrides. A value takes the type of the key's
 * default in the flow's initial state: a string default keeps the text as is
 * (`--set tag=12` is "12"); number, boolean, array and object defaults need JSON of that
 * type (`--set epochs=5`, `--set demo=false`, `--set 'tags=["a"]'`); a null or absent
 * default takes JSON when it parses, else text. Dotted keys set nested fields
 * (`--set opt.lr=0.1`). Keys must exist in the flow's initial state, so a typo is an error
 * instead of a silently ignored setting. Every problem is reported at once.
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
    const key = pair.slice(0, i);
    const path = key.split('.');
    const raw = pair.slice(i + 1);
    const top = path[0]!;
    if (!Object.hasOwn(initial, top)) {
      problems.push({
        path: '--set',
        message: `the root flow's state has no key "${top}"`,
        fix: `use one of: ${Object.keys(initial).join(', ') || '(the root flow declares no state)'}`,
      });
      continue;
    }
    const typed = valueOfDefaultType(key, raw, defaultAt(initial, path));
    if ('problem' in typed) {
      problems.push(typed.problem);
      continue;
    }
    const value = typed.value;
    if (path.length === 1) {
      out[top] = value;
      continue;
    }
    const base = (out[top] ?? structuredClone(initial[top] ?? {})) as Record<string, JsonValue>;
    if (typeof base !== 'object' || base === null || Array.isArray(base)) {
      problems.push({
        path: '--set',
        message: `"${top}" is not an object, so "${pair.slice(0, i)}" cannot be set`,
        fix: `set the whole value: --set ${top}=<value>`,
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

/** The value at a dotted path of the initial state, or undefined where the path ends. */
function defaultAt(initial: Record<string, unknown>, path: readonly string[]): unknown {
  let cur: unknown = initial;
  for (const seg of path) {
    if (typeof cur !== 'object' || cur === null || Array.isArray(cur) || !Object.hasOwn(cur, seg))
      return undefined;
    cur = (cur as Record<string, unknown>)[seg];
  }
  return cur;
}

type Typed = { value: JsonValue } | { problem: { path: string; message: string; fix: string } };

/** `raw` as a value of the default's JSON type, or the problem saying which type it needs. */
function valueOfDefaultType(key: string, raw: string, def: unknown): Typed {
  if (typeof def === 'string') return { value: raw };
  let parsed: JsonValue | undefined;
  try {
    parsed = JSON.parse(raw) as JsonValue;
  } catch {
    parsed = undefined;
  }
  if (def === undefined || def === null) return { value: parsed === undefined ? raw : parsed };
  const kind = Array.isArray(def) ? 'array' : typeof def === 'object' ? 'object' : typeof def;
  const parsedKind =
    parsed === undefined
      ? 'text'
      : Array.isArray(parsed)
        ? 'array'
        : parsed === null
          ? 'null'
          : typeof parsed;
  if (parsedKind === kind) return { value: parsed as JsonValue };
  const shownDefault = JSON.stringify(def);
  const fix =
    kind === 'number'
      ? `a number, e.g. --set ${key}=${shownDefault}`
      : kind === 'boolean'
        ? `true or false, e.g. --set ${key}=${!def}`
        : kind === 'array'
          ? `a JSON array in quotes, e.g. --set '${key}=${shownDefault.length > 40 ? '["a","b"]' : shownDefault}'`
          : `a JSON object in quotes, or set one field: --set ${key}.<field>=<value>`;
  return {
    problem: {
      path: '--set',
      message: `"${key}" is ${kind === 'array' || kind === 'object' ? 'an' : 'a'} ${kind} (default ${shownDefault.length > 40 ? `${shownDefault.slice(0, 37)}...` : shownDefault}), "${raw}" is not`,
      fix: `write ${fix}`,
    },
  };
}
