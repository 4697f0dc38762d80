/**
 * Drives the sim with a synthesized stack WITHOUT Terraform: orders the resources by their
 * references and `depends_on`, resolves `${type.id.attr}` references from the states the sim
 * returned, and POSTs the calls the stand-in provider would make (SIM-CONTRACT.md).
 *
 * It exists so the sim can be tested before (and independently of) the stand-in provider;
 * it is NOT a Terraform: no HCL functions, no unknowns, no plan. Startup scripts go through
 * one transformation Terraform also does to a JSON string: `$${` → `${` and `%%{` → `%{`
 * (template escapes), so the VM runs what Terraform would render. Tests that mean "what
 * users run" use real terraform through test/support/terraform/ instead.
 */
import { readFileSync } from 'node:fs';

type Obj = Record<string, unknown>;
const REF = /\$\{([a-z0-9_]+)\.([A-Za-z0-9_-]+)\.([a-z0-9_]+)\}/g;

export interface PostedStack {
  /** `type.id` → the state the sim returned, in apply order. */
  readonly states: Map<string, { type: string; state: Obj }>;
}

async function post(url: string, path: string, body: object): Promise<Obj> {
  const res = await fetch(`${url}${path}`, { method: 'POST', body: JSON.stringify(body) });
  const out = (await res.json()) as Obj;
  if (!res.ok) throw new Error(`simulated GCP refused ${(body as Obj).type}: ${out.error}`);
  return out;
}

function refsOf(value: unknown, out: Set<string>): void {
  if (typeof value === 'string') for (const m of value.matchAll(REF)) out.add(`${m[1]}.${m[2]}`);
  else if (Array.isArray(value)) for (const v of value) refsOf(v, out);
  else if (value && typeof value === 'object') for (const v of Object.values(value)) refsOf(v, out);
}

function attrOf(state: Obj, attr: string): unknown {
  return state[attr];
}

/** Replaces references (and template escapes) in every string of `value`. */
function resolve(value: unknown, states: PostedStack['states']): unknown {
  if (typeof value === 'string') {
    const whole = /^\$\{([a-z0-9_]+)\.([A-Za-z0-9_-]+)\.([a-z0-9_]+)\}$/.exec(value);
    if (whole) {
      const s = states.get(`${whole[1]}.${whole[2]}`);
      if (!s) throw new Error(`post-stack: ${value} is not applied yet`);
      return attrOf(s.state, whole[3]!);
    }
    return value
      .replace(REF, (ref, type: string, id: string, attr: string) => {
        const s = states.get(`${type}.${id}`);
        if (!s) throw new Error(`post-stack: ${ref} is not applied yet`);
        return String(attrOf(s.state, attr));
      })
      .replaceAll('$${', '${')
      .replaceAll('%%{', '%{');
  }
  if (Array.isArray(value)) return value.map((v) => resolve(v, states));
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolve(v, states)]));
  return value;
}

/** Applies every resource of the stack file, in dependency order. */
export async function postStack(simUrl: string, stackFile: string): Promise<PostedStack> {
  const tf = JSON.parse(readFileSync(stackFile, 'utf8')) as { resource: Record<string, Record<string, Obj>> };
  const pending = new Map<string, { type: string; config: Obj; deps: Set<string> }>();
  for (const [type, byId] of Object.entries(tf.resource)) {
    for (const [id, raw] of Object.entries(byId)) {
      const { depends_on, lifecycle, provider, '//': _meta, ...config } = raw;
      const deps = new Set<string>();
      refsOf(config, deps);
      for (const d of (depends_on as string[] | undefined) ?? []) deps.add(d);
      pending.set(`${type}.${id}`, { type, config, deps });
    }
  }
  const states: PostedStack['states'] = new Map();
  while (pending.size > 0) {
    const ready = [...pending].filter(([, r]) => [...r.deps].every((d) => states.has(d) || !pending.has(d)));
    if (ready.length === 0)
      throw new Error(`post-stack: a reference cycle among ${[...pending.keys()].join(', ')}`);
    for (const [key, r] of ready) {
      const planned = resolve(r.config, states) as Obj;
      planned.id ??= key;
      const { state } = await post(simUrl, '/v1/apply', {
        type: r.type,
        prior: null,
        planned,
        config: r.config,
      });
      states.set(key, { type: r.type, state: state as Obj });
      pending.delete(key);
    }
  }
  return { states };
}

/** Destroys what postStack applied, in reverse order. */
export async function destroyStack(simUrl: string, posted: PostedStack): Promise<void> {
  for (const [key, { type, state }] of [...posted.states].reverse()) {
    await post(simUrl, '/v1/apply', { type, prior: state, planned: null, config: null });
    posted.states.delete(key);
  }
}
