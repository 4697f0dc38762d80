/**
 * The flagship's stable prediction URL: a small reverse proxy Work in front of whichever
 * model server is live. The flow sets `state.target` (a serve work's URL) when a newly
 * trained model is ready; requests from then on go there, while the previous server is
 * stopped. Clients (the Gradio demo, the Streamlit page, your scripts) keep one URL for the
 * whole app, across retrains.
 *
 * A request whose connection to the target fails before any answer (the old server just
 * stopped, the switch not yet seen here) is retried against the then-current target for a
 * few seconds, so a switch loses no request. That is safe because the model server's routes
 * are idempotent (POST /predict computes and changes nothing).
 */
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Construct } from 'constructs';
import { Work, type WorkContext } from 'lightning-local';

export interface ModelEndpointState {
  /** URL of the model server requests go to (set by the flow); null until a model is live. */
  target: string | null;
  /** This endpoint's own URL, once it listens (reported by the work). */
  url: string | null;
  /** Requests retried because the target went away mid-switch (for the curious and the tests). */
  retried: number;
}

/** Largest request body forwarded; the model server refuses more than 1 MiB anyway. */
const MAX_BODY_BYTES = 1 << 20;
/** How long a request waits for a reachable target (server restarting, switch under way). */
const RETRY_FOR_MS = 10_000;
const RETRY_EVERY_MS = 100;

/** Headers that describe one hop (RFC 9110 §7.6.1): not forwarded. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'te', 'trailer']);

/**
 * A reverse proxy on a port of its own that never restarts while the app runs, so its URL
 * is stable. It also reports its URL in `state.url`, built from the address other machines
 * reach it at (`LIGHTNING_ADVERTISE_HOST`: the VM's internal IP in the cloud), never from the
 * bind address (`LIGHTNING_HOST`, 0.0.0.0 on a work VM).
 */
export class ModelEndpoint extends Work<ModelEndpointState, Record<string, never>> {
  constructor(scope: Construct, id: string) {
    super(scope, id, { state: { target: null, url: null, retried: 0 }, parallel: true });
  }

  override get servesPort(): 'auto' {
    return 'auto';
  }

  override async execute(_args: Record<string, never>, ctx: WorkContext): Promise<void> {
    const host = ctx.env.LIGHTNING_HOST ?? '127.0.0.1';
    const server = createServer((req, res) => {
      this.forward(req, res, ctx).catch((err: unknown) => {
        if (!res.headersSent) sendJson(res, 502, { error: `model endpoint: ${(err as Error).message}` });
        else res.destroy();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(ctx.port ?? 0, host, resolve);
    });
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : ctx.port;
    this.state.url = `http://${ctx.env.LIGHTNING_ADVERTISE_HOST ?? host}:${port}`;
    ctx.log(`model endpoint listening on ${this.state.url} (POST /predict goes to the live model server)`);
    // Serve until the flow stops this call or the app ends.
    await new Promise<void>((resolve) => {
      if (ctx.signal.aborted) resolve();
      ctx.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async forward(req: IncomingMessage, res: ServerResponse, ctx: WorkContext): Promise<void> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        sendJson(res, 413, { error: `body over ${MAX_BODY_BYTES} bytes` });
        return;
      }
      chunks.push(chunk);
    }
    const body = Buffer.concat(chunks);
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (v !== undefined && !HOP_BY_HOP.has(k) && k !== 'host') headers[k] = v;
    }
    headers['content-length'] = String(body.length);
    const deadline = Date.now() + RETRY_FOR_MS;
    for (let attempt = 0; ; attempt++) {
      // Read on every attempt: the flow may have switched the target meanwhile.
      const target = this.state.target;
      if (target === null) {
        sendJson(res, 503, {
          error: 'no model is live yet: the first training is still running; try again shortly',
        });
        return;
      }
      try {
        const upstream = await send(new URL(req.url ?? '/', target), req.method ?? 'GET', headers, body);
        const out: Record<string, string | string[]> = {};
        for (const [k, v] of Object.entries(upstream.headers)) {
          if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
        }
        res.writeHead(upstream.statusCode ?? 502, out);
        upstream.pipe(res);
        return;
      } catch (err) {
        if (Date.now() >= deadline || ctx.signal.aborted) {
          sendJson(res, 502, {
            error: `the model server at ${target} does not answer (${(err as Error).message}); see the serve works' logs`,
          });
          return;
        }
        if (attempt === 0) this.state.retried++;
        await new Promise((resolve) => setTimeout(resolve, RETRY_EVERY_MS));
      }
    }
  }
}

/** One upstream request; rejects if the connection fails before a response starts. */
function send(
  url: URL,
  method: string,
  headers: Record<string, string | string[]>,
  body: Buffer,
): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, headers, timeout: 30_000 }, resolve);
    req.once('timeout', () => req.destroy(new Error('timed out after 30 s')));
    req.once('error', reject);
    req.end(body);
  });
}

function sendJson(res: ServerResponse, status: number, payload: unknown): void {
  const data = JSON.stringify(payload);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) });
  res.end(data);
}
