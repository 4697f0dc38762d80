/**
 * Watches a GCE VM's `instance/preempted` metadata key, as a Spot VM learns it is about to be
 * reclaimed: the key turns `TRUE` about 30 s before the VM is stopped. A plain read first
 * (its ETag), then long polls (`wait_for_change=true&last_etag=…`): the server answers at once
 * when the value has moved past that ETag, so a change between two polls is not missed, and
 * otherwise holds the request until the value changes or `timeout_sec` passes. No polling
 * interval: the notice arrives as soon as the metadata server has it.
 *
 * Runs in the work daemon on a cloud VM (cli/daemon-command.ts starts it when LIGHTNING_CLOUD=1).
 */
import { setTimeout as delay } from 'node:timers/promises';
import { LightningError } from '../../constructs/errors.ts';

export interface PreemptionWatcherOptions {
  /** host[:port] of the metadata server. @default $GCE_METADATA_HOST, else metadata.google.internal */
  readonly metadataHost?: string;
  /** Called once, when the key reads TRUE. */
  readonly onNotice: () => void;
  /** A poll failed (logged by the caller; the watcher retries with backoff). @default ignore */
  readonly onError?: (message: string) => void;
  /** Seconds the metadata server may hold one long poll. @default 300 */
  readonly timeoutSec?: number;
}

/** A running watch; `close()` ends it (an in-flight long poll is aborted). */
export interface PreemptionWatch {
  close(): void;
}

/** Starts watching; the notice fires at most once. */
export function watchPreemption(opts: PreemptionWatcherOptions): PreemptionWatch {
  const host = opts.metadataHost ?? process.env.GCE_METADATA_HOST ?? 'metadata.google.internal';
  const url = `http://${host}/computeMetadata/v1/instance/preempted`;
  const timeoutSec = opts.timeoutSec ?? 300;
  const abort = new AbortController();
  const loop = async () => {
    let etag: string | undefined;
    for (let backoffMs = 1000; !abort.signal.aborted; ) {
      try {
        const query = etag
          ? `?wait_for_change=true&timeout_sec=${timeoutSec}&last_etag=${encodeURIComponent(etag)}`
          : '';
        const res = await fetch(`${url}${query}`, {
          headers: { 'Metadata-Flavor': 'Google' },
          signal: abort.signal,
        });
        if (!res.ok) {
          throw new LightningError(
            'CLOUD_API',
            `the metadata server answered HTTP ${res.status} ${(await res.text()).slice(0, 200)}`,
          );
        }
        const value = (await res.text()).trim().toUpperCase();
        if (value === 'TRUE') {
          opts.onNotice();
          return;
        }
        etag = res.headers.get('etag') ?? undefined;
        // A server without ETags cannot long-poll: read again later instead of spinning.
        if (!etag) await delay(5000, undefined, { signal: abort.signal });
        backoffMs = 1000;
      } catch (err) {
        if (abort.signal.aborted) return;
        opts.onError?.(
          `watching instance/preempted failed (${(err as Error).message}); again in ${backoffMs} ms`,
        );
        await delay(backoffMs, undefined, { signal: abort.signal }).catch(() => {});
        backoffMs = Math.min(backoffMs * 2, 30_000);
      }
    }
  };
  void loop().catch(() => {});
  return { close: () => abort.abort() };
}
