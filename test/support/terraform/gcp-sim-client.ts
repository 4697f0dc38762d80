/**
 * The provider's side of SIM-CONTRACT (`LIGHTNING_GCP_SIM_URL`): with the variable set, every
 * apply and read goes to the simulated GCP as plain JSON, and its answer becomes the state.
 *
 *   POST {url}/v1/apply {type, prior, planned, config} → 200 {state} | other {error}
 *   POST {url}/v1/read  {type, state}                  → 200 {state} (null: gone) | 404 (not tracked)
 */

export const GCP_SIM_URL_ENV = 'LIGHTNING_GCP_SIM_URL';

export interface SimApply {
  readonly type: string;
  readonly prior: unknown;
  readonly planned: unknown;
  readonly config: unknown;
}

/** The simulator's verdict: the new state, or a refusal that becomes an error diagnostic. */
export type SimApplyResult = { readonly state: unknown } | { readonly refused: string };

/** The state the simulator reports, or `untracked` when it does not know the resource (404). */
export type SimReadResult = { readonly state: unknown } | 'untracked';

export class GcpSimClient {
  constructor(readonly baseUrl: string) {}

  /** The client for `LIGHTNING_GCP_SIM_URL`, or undefined when the provider is a pure pass-through. */
  static fromEnv(env: NodeJS.ProcessEnv = process.env): GcpSimClient | undefined {
    const url = env[GCP_SIM_URL_ENV];
    if (!url) return undefined;
    if (!/^https?:\/\//.test(url)) {
      throw new Error(`${GCP_SIM_URL_ENV}=${url} is not an http(s) URL; set it like http://127.0.0.1:41234`);
    }
    return new GcpSimClient(url.replace(/\/+$/, ''));
  }

  async apply(body: SimApply): Promise<SimApplyResult> {
    const { status, json } = await this.post('/v1/apply', body);
    if (status === 200) return { state: stateOf(json, 'apply', body.type) };
    const error = (json as { error?: unknown } | undefined)?.error;
    return { refused: typeof error === 'string' ? error : `HTTP ${status} without an error message` };
  }

  async read(type: string, state: unknown): Promise<SimReadResult> {
    const { status, json } = await this.post('/v1/read', { type, state });
    if (status === 404) return 'untracked';
    if (status !== 200) {
      throw new Error(`simulated GCP answered ${status} to a read of ${type}: ${JSON.stringify(json)}`);
    }
    return { state: stateOf(json, 'read', type) };
  }

  private async post(path: string, body: unknown): Promise<{ status: number; json: unknown }> {
    let res: Response;
    try {
      res = await fetch(`${this.baseUrl}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    } catch (err) {
      throw new Error(
        `cannot reach the simulated GCP at ${this.baseUrl} (${GCP_SIM_URL_ENV}): ${(err as Error).cause ?? (err as Error).message}`,
      );
    }
    const text = await res.text();
    try {
      return { status: res.status, json: text === '' ? undefined : JSON.parse(text) };
    } catch {
      return { status: res.status, json: { error: text.slice(0, 500) } };
    }
  }
}

function stateOf(json: unknown, what: string, type: string): unknown {
  if (typeof json !== 'object' || json === null || !('state' in json)) {
    throw new Error(
      `simulated GCP answered a ${what} of ${type} with 200 but no "state": ${JSON.stringify(json)}`,
    );
  }
  return (json as { state: unknown }).state;
}
