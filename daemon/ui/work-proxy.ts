/**
 * Reverse proxy from the UI to a Work's server: `http://<label>.w.localhost:<port>/<rest>` →
 * `<work url>/<rest>`, HTTP and WebSocket upgrades (Streamlit and TensorBoard need them).
 * Each work is served on its own origin (ADR 0016), never the UI's, so its pages' scripts
 * cannot use the UI's API; a prefix (`/w/<work>`) is still supported for other mounts.
 *
 * Why a proxy: in the cloud a work's `url` is VM-internal and the user reaches only the UI
 * port (an IAP tunnel), so the UI's tabs must go through the flow; locally the same path is
 * used so both behave alike.
 *
 * The prefix is stripped, so a server that uses relative links works unchanged. Redirects
 * to the work's own origin or to an absolute path are rewritten under the prefix. The UI's
 * credentials (its cookie, a Bearer UI token) are removed before forwarding: a work's server
 * never sees them. Host and a same-origin Origin are rewritten to the work's, so servers
 * that check Origin on WebSockets (Tornado: Streamlit, ...) accept the proxied connection.
 */
import {
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Duplex } from 'node:stream';

/** Headers that describe one hop and must not be forwarded (RFC 9110 §7.6.1). */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

export interface ProxyTarget {
  /** The work's construct path, for messages. */
  readonly work: string;
  /** The work's server URL (its `status.url`). */
  readonly url: URL;
  /** Where the work is mounted, e.g. `/w/root.serve`; '' at the root of its own origin. */
  readonly prefix: string;
  /** The origin the browser sees the work on (`http://<label>.w.localhost:7501`), from the Host header. */
  readonly uiOrigin: string;
  /** Name of the UI's auth cookie, removed before forwarding. */
  readonly cookieName: string;
  /**
   * Answers carry `Content-Security-Policy: sandbox`, so a document rendered from them gets
   * an opaque origin (for the path form on the UI's origin). @default false
   */
  readonly sandbox?: boolean;
}

function upstreamPath(target: ProxyTarget, rest: string): string {
  const base = target.url.pathname.replace(/\/+$/, '');
  return `${base}${rest.startsWith('/') ? rest : `/${rest}`}`;
}

function forwardHeaders(req: IncomingMessage, target: ProxyTarget, upgrade: boolean): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (v === undefined || HOP_BY_HOP.has(k)) continue;
    out[k] = v;
  }
  out.host = target.url.host;
  if (typeof out.origin === 'string' && out.origin === target.uiOrigin) out.origin = target.url.origin;
  if (typeof out.authorization === 'string' && /^Bearer /i.test(out.authorization)) delete out.authorization;
  if (typeof out.cookie === 'string') {
    const kept = out.cookie
      .split(';')
      .map((c) => c.trim())
      .filter((c) => c && !c.startsWith(`${target.cookieName}=`));
    if (kept.length) out.cookie = kept.join('; ');
    else delete out.cookie;
  }
  if (target.prefix) out['x-forwarded-prefix'] = target.prefix;
  out['x-forwarded-host'] = req.headers.host ?? '';
  out['x-forwarded-proto'] = 'http';
  if (upgrade) {
    out.connection = 'Upgrade';
    out.upgrade = req.headers.upgrade ?? 'websocket';
  }
  return out;
}

/** Redirects that point at the work's origin or at an absolute path stay under the prefix. */
function rewriteLocation(location: string, target: ProxyTarget): string {
  if (location.startsWith(target.url.origin)) {
    return `${target.prefix}${location.slice(target.url.origin.length) || '/'}`;
  }
  if (location.startsWith('/') && !location.startsWith('//') && !location.startsWith(`${target.prefix}/`)) {
    return `${target.prefix}${location}`;
  }
  return location;
}

function send(target: ProxyTarget) {
  return target.url.protocol === 'https:' ? httpsRequest : httpRequest;
}

function unreachable(target: ProxyTarget, err: Error): string {
  return (
    `The server of work ${target.work} at ${target.url.href} did not answer (${(err as NodeJS.ErrnoException).code ?? err.message}). ` +
    'It may have just stopped or be restarting; check its status and logs in the UI.'
  );
}

/** Forwards one HTTP request; `rest` is the path and query after the prefix. */
export function proxyHttp(
  req: IncomingMessage,
  res: ServerResponse,
  target: ProxyTarget,
  rest: string,
): void {
  const upstream = send(target)(
    {
      protocol: target.url.protocol,
      hostname: target.url.hostname,
      port: target.url.port,
      method: req.method,
      path: upstreamPath(target, rest),
      headers: forwardHeaders(req, target, false),
    },
    (up) => {
      const headers: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(up.headers)) {
        // The UI embeds the work's pages from another origin: a SAMEORIGIN frame rule of the
        // work's server would blank the tab.
        if (v === undefined || HOP_BY_HOP.has(k) || k === 'x-frame-options') continue;
        headers[k] = k === 'location' && typeof v === 'string' ? rewriteLocation(v, target) : v;
      }
      // The work's origin is its capability: never tell third parties (CDNs) it in a Referer.
      headers['referrer-policy'] = 'no-referrer';
      if (target.sandbox) {
        const own = headers['content-security-policy'];
        headers['content-security-policy'] = [...(own === undefined ? [] : [own].flat()), 'sandbox'];
      }
      res.writeHead(up.statusCode ?? 502, up.statusMessage, headers);
      up.pipe(res);
      up.on('error', () => res.destroy());
    },
  );
  upstream.on('error', (err) => {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.writeHead(502, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(unreachable(target, err));
  });
  res.on('close', () => {
    if (!res.writableFinished) upstream.destroy();
  });
  req.pipe(upstream);
}

/** Forwards a WebSocket (or any) upgrade and then splices the two sockets together. */
export function proxyUpgrade(
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  target: ProxyTarget,
  rest: string,
): void {
  const upstream = send(target)({
    protocol: target.url.protocol,
    hostname: target.url.hostname,
    port: target.url.port,
    method: req.method,
    path: upstreamPath(target, rest),
    headers: forwardHeaders(req, target, true),
  });
  socket.on('error', () => upstream.destroy());
  upstream.on('upgrade', (up, upSocket, upHead) => {
    let text = `HTTP/1.1 ${up.statusCode ?? 101} ${up.statusMessage ?? 'Switching Protocols'}\r\n`;
    for (let i = 0; i < up.rawHeaders.length; i += 2)
      text += `${up.rawHeaders[i]}: ${up.rawHeaders[i + 1]}\r\n`;
    socket.write(`${text}\r\n`);
    if (upHead.length) socket.write(upHead);
    if (head.length) upSocket.write(head);
    upSocket.on('error', () => socket.destroy());
    socket.on('close', () => upSocket.destroy());
    upSocket.on('close', () => socket.destroy());
    upSocket.pipe(socket);
    socket.pipe(upSocket);
  });
  upstream.on('response', (up) => {
    // The server refused the upgrade: pass its answer on and close.
    let text = `HTTP/1.1 ${up.statusCode ?? 502} ${up.statusMessage ?? ''}\r\n`;
    for (let i = 0; i < up.rawHeaders.length; i += 2) {
      const name = up.rawHeaders[i]!;
      if (!HOP_BY_HOP.has(name.toLowerCase())) text += `${name}: ${up.rawHeaders[i + 1]}\r\n`;
    }
    socket.write(`${text}connection: close\r\n\r\n`);
    up.pipe(socket);
  });
  upstream.on('error', (err) => {
    if (socket.writable) {
      const body = unreachable(target, err);
      socket.end(
        `HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
    }
  });
  upstream.end();
}
