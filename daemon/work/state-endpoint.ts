/**
 * The loopback HTTP endpoint a wrapped script uses to report live state
 * (`LIGHTNING_STATE_URL`, DESIGN §3.5): `PATCH`/`POST` a JSON merge patch (RFC 7386) onto the
 * work's state, `GET` the current state. Bearer-token protected (`LIGHTNING_STATE_TOKEN`),
 * bound to 127.0.0.1, bodies capped.
 *
 *   curl -sf -X PATCH -H "Authorization: Bearer $LIGHTNING_STATE_TOKEN" \
 *        -H 'Content-Type: application/merge-patch+json' -d '{"loss": 0.25}' "$LIGHTNING_STATE_URL"
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DaemonError, GrpcCode } from '../../constructs/errors.ts';
import type { JsonValue } from '../../constructs/json.ts';
import { tokenMatches } from '../protocol/flow-service.ts';
import { readCappedBody } from '../protocol/http-body.ts';
import { parseStateJson } from '../state/json-patch.ts';

export const MAX_STATE_BODY_BYTES = 1024 * 1024;

export interface StateEndpointHandlers {
  read(): JsonValue;
  /** Applies a merge patch; throws with a message for the client on invalid input. */
  merge(patch: JsonValue): void;
}

export class StateEndpoint {
  private readonly server: Server;
  url = '';

  constructor(
    private readonly token: string,
    private readonly handlers: StateEndpointHandlers,
  ) {
    this.server = createServer((req, res) => this.handle(req, res));
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => resolve());
    });
    const { port } = this.server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}/state`;
    return this.url;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const reply = (code: number, body: unknown) => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const auth = req.headers.authorization;
    if (!tokenMatches(this.token, auth?.startsWith('Bearer ') ? auth.slice(7) : undefined)) {
      reply(401, { error: 'missing or wrong token: send "Authorization: Bearer $LIGHTNING_STATE_TOKEN"' });
      req.resume();
      return;
    }
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/state') {
      reply(404, { error: `no such endpoint ${path}; use $LIGHTNING_STATE_URL` });
      req.resume();
      return;
    }
    if (req.method === 'GET') {
      reply(200, this.handlers.read());
      req.resume();
      return;
    }
    if (req.method !== 'PATCH' && req.method !== 'POST') {
      reply(405, {
        error: `method ${req.method} not allowed; use PATCH (or POST) with a JSON merge patch, or GET`,
      });
      req.resume();
      return;
    }
    readCappedBody(req, MAX_STATE_BODY_BYTES).then(
      (text) => {
        if (text === null) {
          reply(413, {
            error: `body is over ${MAX_STATE_BODY_BYTES} bytes; keep state small and put large data in the Drive`,
          });
          return;
        }
        try {
          const patch = parseStateJson(text, 'the request body');
          if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) {
            reply(400, { error: 'the body must be a JSON object (a merge patch of the work state)' });
            return;
          }
          this.handlers.merge(patch);
          res.writeHead(204);
          res.end();
        } catch (err) {
          // Over the state document's size limit: 413, like a body over the request limit.
          const tooBig = err instanceof DaemonError && err.grpcCode === GrpcCode.RESOURCE_EXHAUSTED;
          reply(tooBig ? 413 : 400, { error: (err as Error).message });
        }
      },
      () => res.destroy(),
    );
  }
}
