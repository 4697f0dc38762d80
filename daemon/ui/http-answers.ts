/**
 * How the UI's HTTP API answers and reads requests: the error it answers with (in the error
 * tree), JSON replies, body and content-type checks, and small request classifiers.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { GrpcCode, LightningError } from '../../constructs/errors.ts';
import { readCappedBody } from '../protocol/http-body.ts';
import type { PatchOperation } from '../state/json-patch.ts';

/**
 * An error the HTTP API answers with: `{ error: { code, message, fix } }` and `status`. In the
 * error tree as `HTTP_<apiCode>`; `apiCode` is the code clients see (gRPC-style names).
 */
export class HttpError extends LightningError {
  constructor(
    readonly status: number,
    readonly apiCode: string,
    message: string,
    fix?: string,
  ) {
    super(`HTTP_${apiCode}`, message, fix === undefined ? {} : { fix });
  }
}

/**
 * A browser loading a page or frame (Fetch Metadata, sent by Chromium, Firefox and Safari):
 * such a request for a work is sent to the work's own origin.
 */
export function isBrowserNavigation(req: IncomingMessage): boolean {
  const dest = req.headers['sec-fetch-dest'];
  return (
    dest === 'document' || dest === 'iframe' || dest === 'frame' || dest === 'embed' || dest === 'object'
  );
}

export function requireJson(req: IncomingMessage): void {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json-patch+json' && type !== 'application/json') {
    throw new HttpError(
      415,
      'UNSUPPORTED_MEDIA_TYPE',
      `content-type "${type || '(none)'}" is not JSON.`,
      'Send the body as application/json-patch+json (or application/json).',
    );
  }
}

/** `epochs=5 lr=0.01 -old`: a patch as one short terminal line (long values clipped). */
export function describeOps(ops: readonly PatchOperation[]): string {
  const name = (path: string) => path.slice(1).replaceAll('/', '.') || '(all)';
  return ops
    .map((op) => {
      if (op.op === 'remove') return `-${name(op.path)}`;
      if (op.op === 'move' || op.op === 'copy') return `${name(op.path)}<-${name(op.from ?? '')}`;
      if (op.op === 'test') return `${name(op.path)}?`;
      const value = JSON.stringify(op.value) ?? '';
      return `${name(op.path)}=${value.length > 80 ? `${value.slice(0, 80)}…` : value}`;
    })
    .join(' ');
}

export async function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const text = await readCappedBody(req, limit);
  if (text !== null) return text;
  throw new HttpError(
    413,
    'RESOURCE_EXHAUSTED',
    `the body is larger than ${limit} bytes.`,
    'Move large data to the Drive and put a Path in state. Nothing was applied.',
  );
}

export function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
  res.end(text);
}

export function codeName(code: number): string {
  return Object.entries(GrpcCode).find(([, v]) => v === code)?.[0] ?? 'UNKNOWN';
}

export function refererWork(referer: string | undefined): string | undefined {
  if (!referer) return undefined;
  try {
    const m = /^\/w\/([^/]+)\//.exec(new URL(referer).pathname);
    return m ? decodeURIComponent(m[1]!) : undefined;
  } catch {
    return undefined;
  }
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
