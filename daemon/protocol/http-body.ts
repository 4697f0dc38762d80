/**
 * Reads a size-capped HTTP request body: the one reader of the flow's HTTP API
 * (daemon/ui/ui-server.ts) and a work's state endpoint (daemon/work/state-endpoint.ts).
 */
import type { IncomingMessage } from 'node:http';

/**
 * The body as UTF-8 text, or null when it is larger than `limit` bytes. A body declared too
 * large (Content-Length) is refused at once; one that grows too large is drained to its end
 * without being kept, so the answer reaches a client that is still sending.
 */
export function readCappedBody(req: IncomingMessage, limit: number): Promise<string | null> {
  if (Number(req.headers['content-length'] ?? 0) > limit) {
    req.resume();
    return Promise.resolve(null);
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
      else chunks.length = 0;
    });
    req.on('end', () => resolve(size > limit ? null : Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
