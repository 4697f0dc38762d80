/**
 * The Compute Engine REST calls the flow makes to create and delete the VMs of works created
 * at run time (instances.insert from an instance template, get, start, delete, aggregated
 * list, the region's quotas), with the flow VM's own identity (a metadata-server token). Plain `fetch`,
 * no client library: these are seven calls, and the runtime bundle stays small.
 *
 * Errors keep GCE's code: an insert that GCE accepts but cannot fulfil ends in an operation
 * whose error says why (`ZONE_RESOURCE_POOL_EXHAUSTED`, `QUOTA_EXCEEDED`, ...);
 * {@link ComputeClient.insertFromTemplate} waits for that outcome and throws it as a
 * {@link ComputeApiError} with `code` set, so the caller can decide to try elsewhere.
 *
 * No cdktf imports: the flow role loads this.
 */
import { LightningError } from '../../constructs/errors.ts';

export interface ComputeClientOptions {
  readonly project: string;
  /** @default $GCE_METADATA_HOST, else metadata.google.internal */
  readonly metadataHost?: string;
  /** @default $LIGHTNING_COMPUTE_ENDPOINT, else https://compute.googleapis.com */
  readonly endpoint?: string;
  /** @default 1000 */
  readonly pollIntervalMs?: number;
  /** Give up waiting for an operation after this long. @default 600000 */
  readonly operationTimeoutMs?: number;
}

/** A Compute API call failed; `code` is GCE's (operation error code, or the HTTP error reason). */
export class ComputeApiError extends LightningError {
  constructor(
    message: string,
    /** GCE's code: the operation's error code or the HTTP error's reason. */
    readonly gceCode: string,
    readonly httpStatus?: number,
  ) {
    super('CLOUD_API', message);
  }
}

/** A VM the list call returned. */
export interface ListedInstance {
  readonly name: string;
  readonly zone: string;
  readonly status: string;
}

/** One regional quota: `limit` and current `usage` of a metric such as NVIDIA_L4_GPUS. */
export interface RegionQuota {
  readonly metric: string;
  readonly limit: number;
  readonly usage: number;
}

interface Operation {
  name: string;
  status: string;
  error?: { errors?: { code?: string; message?: string }[] };
}

export class ComputeClient {
  readonly project: string;
  private readonly metadataHost: string;
  private readonly endpoint: string;
  private readonly pollMs: number;
  private readonly operationTimeoutMs: number;

  constructor(options: ComputeClientOptions) {
    this.project = options.project;
    this.metadataHost = options.metadataHost ?? process.env.GCE_METADATA_HOST ?? 'metadata.google.internal';
    this.endpoint = (
      options.endpoint ??
      process.env.LIGHTNING_COMPUTE_ENDPOINT ??
      'https://compute.googleapis.com'
    ).replace(/\/+$/, '');
    this.pollMs = options.pollIntervalMs ?? 1000;
    this.operationTimeoutMs = options.operationTimeoutMs ?? 600_000;
  }

  /** The template's metadata items (an insert that sets metadata must carry them all). */
  async templateMetadata(template: string): Promise<Record<string, string>> {
    const t = (await this.call('GET', `global/instanceTemplates/${template}`)) as {
      properties?: { metadata?: { items?: { key: string; value: string }[] } };
    };
    return Object.fromEntries((t.properties?.metadata?.items ?? []).map((i) => [i.key, i.value]));
  }

  /**
   * Creates VM `name` in `zone` from `template`, with `metadata` (replacing the template's:
   * pass the template's items plus yours) and extra `labels`; resolves once GCE has created it,
   * throws a ComputeApiError with GCE's code when it could not (stockout, quota, ...).
   */
  async insertFromTemplate(
    zone: string,
    name: string,
    template: string,
    extra: { metadata: Readonly<Record<string, string>>; labels: Readonly<Record<string, string>> },
  ): Promise<void> {
    const op = (await this.call(
      'POST',
      `zones/${zone}/instances?sourceInstanceTemplate=${encodeURIComponent(`global/instanceTemplates/${template}`)}`,
      {
        name,
        metadata: { items: Object.entries(extra.metadata).map(([key, value]) => ({ key, value })) },
        labels: extra.labels,
      },
    )) as Operation;
    await this.wait(zone, op);
  }

  /** VM `name`'s status (`RUNNING`, `TERMINATED`, ...), or undefined when there is none. */
  async status(zone: string, name: string): Promise<string | undefined> {
    try {
      return (
        ((await this.call('GET', `zones/${zone}/instances/${name}`)) as { status?: string }).status ??
        'UNKNOWN'
      );
    } catch (err) {
      if (err instanceof ComputeApiError && err.httpStatus === 404) return undefined;
      throw err;
    }
  }

  /**
   * Starts stopped VM `name`; resolves once GCE has started it, throws a ComputeApiError with
   * GCE's code when it could not (`ZONE_RESOURCE_POOL_EXHAUSTED`: no capacity left in the zone).
   */
  async start(zone: string, name: string): Promise<void> {
    await this.wait(zone, (await this.call('POST', `zones/${zone}/instances/${name}/start`)) as Operation);
  }

  /** Deletes VM `name`; 'absent' when there is none (already deleted). */
  async delete(zone: string, name: string): Promise<'deleted' | 'absent'> {
    try {
      await this.wait(zone, (await this.call('DELETE', `zones/${zone}/instances/${name}`)) as Operation);
      return 'deleted';
    } catch (err) {
      if (err instanceof ComputeApiError && err.httpStatus === 404) return 'absent';
      throw err;
    }
  }

  /** Every VM of the project carrying label `key=value`, in any zone. */
  async listByLabel(key: string, value: string): Promise<ListedInstance[]> {
    const res = (await this.call(
      'GET',
      `aggregated/instances?filter=${encodeURIComponent(`labels.${key}=${value}`)}`,
    )) as { items?: Record<string, { instances?: { name: string; zone: string; status: string }[] }> };
    return Object.values(res.items ?? {}).flatMap((z) =>
      (z.instances ?? []).map((i) => ({ name: i.name, zone: i.zone.split('/').at(-1)!, status: i.status })),
    );
  }

  /** The quotas of `region` (limits and usage). */
  async regionQuotas(region: string): Promise<RegionQuota[]> {
    const res = (await this.call('GET', `regions/${region}`)) as { quotas?: RegionQuota[] };
    return res.quotas ?? [];
  }

  private async wait(zone: string, first: Operation): Promise<void> {
    let op = first;
    const deadline = Date.now() + this.operationTimeoutMs;
    while (op.status !== 'DONE') {
      if (Date.now() > deadline)
        throw new ComputeApiError(
          `operation ${op.name} in ${zone} is still ${op.status} after ${this.operationTimeoutMs / 1000} s`,
          'TIMEOUT',
        );
      await new Promise((r) => setTimeout(r, this.pollMs));
      op = (await this.call('GET', `zones/${zone}/operations/${op.name}`)) as Operation;
    }
    const e = op.error?.errors?.[0];
    if (e) throw new ComputeApiError(e.message ?? e.code ?? 'operation failed', e.code ?? 'UNKNOWN');
  }

  private async token(): Promise<string> {
    const res = await fetch(
      `http://${this.metadataHost}/computeMetadata/v1/instance/service-accounts/default/token`,
      { headers: { 'Metadata-Flavor': 'Google' } },
    );
    if (!res.ok) throw new ComputeApiError(`metadata token: HTTP ${res.status}`, 'METADATA', res.status);
    return ((await res.json()) as { access_token: string }).access_token;
  }

  private async call(method: 'GET' | 'POST' | 'DELETE', path: string, body?: object): Promise<unknown> {
    const url = `${this.endpoint}/compute/v1/projects/${this.project}/${path}`;
    const res = await fetch(url, {
      method,
      headers: {
        Authorization: `Bearer ${await this.token()}`,
        ...(body ? { 'Content-Type': 'application/json' } : {}),
      },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    if (!res.ok) {
      const text = await res.text();
      let reason = `HTTP_${res.status}`;
      let message = text.slice(0, 300);
      try {
        const e = (JSON.parse(text) as { error?: { message?: string; errors?: { reason?: string }[] } })
          .error;
        reason = e?.errors?.[0]?.reason ?? reason;
        message = e?.message ?? message;
      } catch {
        // not JSON: keep the text
      }
      throw new ComputeApiError(
        `${method} ${path.split('?')[0]}: HTTP ${res.status} ${message}`,
        reason,
        res.status,
      );
    }
    return res.json();
  }
}
