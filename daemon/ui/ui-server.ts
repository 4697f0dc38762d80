/**
 * The flow's HTTP API and web UI (DESIGN §6), served by the flow process:
 *
 *   GET   /?token=…                 trade the printed login code for a cookie, redirect to /
 *   GET   /                         the UI (static files from ./static, no build step)
 *   GET   /api/state                the app state tree (EventLoop.snapshot())
 *   PATCH /api/state/<component>    RFC 6902 ops on a flow's or work's vars, applied on the loop
 *   GET   /api/events               Server-Sent Events: hello, status, log, notice, state
 *   GET   /api/logs/<work>?tail=N   recent log lines of a work
 *   GET   /api/history              numeric state values over time (charts)
 *   GET   /api/runs                 every call of every work (run history)
 *   POST  /api/works/<work>/stop    stop a work's call; …/restart runs its ended call again
 *   *     /w/<work>/…               a browser page/frame load: redirect to the work's own origin
 *                                   (below); API clients: proxied here, the answer sandboxed
 *   *     http://<label>.w.localhost:<port>/…   reverse proxy to the work's url (HTTP and
 *                                   WebSocket); the label is the work's capability (ui-auth.ts)
 *
 * Work pages never run on the UI's origin (ADR 0016): a script in TensorBoard or a model demo
 * cannot read or change the app through the UI's API with the user's session. Every UI
 * request is checked for its Host header (ui-auth.ts) and, except the login, for the UI token;
 * a work-origin request for the capability in its host name. Errors are JSON `{error: {code, message, fix}}` for the API. Anything unexpected
 * becomes a generic 500; the server keeps serving.
 *
 * This file routes, logs in, serves the static files and sends work requests to the proxy;
 * the `/api/` routes are answered by ui-api.ts.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import type { Duplex } from 'node:stream';
import { DaemonError, GrpcCode } from '../../constructs/errors.ts';
import { resolveLayout } from '../../constructs/layout.ts';
import type { EventLoop } from '../flow/event-loop.ts';
import { StateLimits } from '../state/json-patch.ts';
import { EventStream } from './event-stream.ts';
import { escapeHtml, HttpError, isBrowserNavigation, json, refererWork } from './http-answers.ts';
import { STATIC_TYPES, staticDir, UI_HEADERS, vendorFile } from './static-files.ts';
import { UiApi, unknownWork } from './ui-api.ts';
import { COOKIE_NAME, hostAllowed, UiAuth, WORK_HOST_SUFFIX, workLabelFromHost } from './ui-auth.ts';
import { type ProxyTarget, proxyHttp, proxyUpgrade } from './work-proxy.ts';

export interface UiServerProps {
  readonly loop: EventLoop;
  /** Address to listen on. @default '127.0.0.1' (loopback only; the cloud reaches it through IAP) */
  readonly host?: string;
  /** Port; 0 picks a free one. @default 7501 */
  readonly port?: number;
  /** When the port is taken, listen on a free port instead of failing (local mode). @default false */
  readonly fallbackToFreePort?: boolean;
  /** Write the UI token here (mode 600) for API clients. @default not written */
  readonly tokenFile?: string;
  /** The UI token. @default a fresh random token per run */
  readonly token?: string;
  /** Largest PATCH body accepted. @default StateLimits.maxValueBytes + 64 KiB */
  readonly maxBodyBytes?: number;
  /** Log lines kept per work. @default 2000 */
  readonly logLinesPerWork?: number;
  /**
   * Where the server reports what users did through it (a state change, a stopped work), so
   * the terminal shows it: `state set from UI: root epochs=5`. @default a line on stdout
   */
  readonly log?: (line: string) => void;
  /** Each request proxied to a work's tab, before it is answered (the cloud's idle stop). @default none */
  readonly onWorkRequest?: (work: string) => void;
}

export interface UiAddress {
  readonly port: number;
  /** `http://127.0.0.1:7501/` */
  readonly url: string;
  /** True when the requested port was busy and another one was taken. */
  readonly fellBack: boolean;
}

export class UiServer {
  readonly auth: UiAuth;
  readonly events: EventStream;
  private readonly loop: EventLoop;
  private readonly host: string;
  private readonly port: number;
  private readonly fallback: boolean;
  private readonly tokenFile: string | undefined;
  private readonly api: UiApi;
  private readonly onWorkRequest: (work: string) => void;
  private readonly server: Server;
  private readonly staticRoot = staticDir();
  private readonly staticCache = new Map<string, Buffer>();
  private boundPort = 0;

  /** Registers with the loop at once (so no event is missed); call listen() to serve. */
  constructor(props: UiServerProps) {
    this.loop = props.loop;
    this.host = props.host ?? '127.0.0.1';
    this.port = props.port ?? 7501;
    this.fallback = props.fallbackToFreePort ?? false;
    this.tokenFile = props.tokenFile;
    this.auth = new UiAuth(props.token);
    this.onWorkRequest = props.onWorkRequest ?? (() => {});
    this.events = new EventStream({
      loop: this.loop,
      // Checked here, before the server listens: a wrong layout is a clear error at start.
      layout: resolveLayout(this.loop.app),
      ...(props.logLinesPerWork ? { logLinesPerWork: props.logLinesPerWork } : {}),
    });
    this.api = new UiApi({
      loop: this.loop,
      events: this.events,
      maxBodyBytes: props.maxBodyBytes ?? StateLimits.maxValueBytes + 64 * 1024,
      log: props.log ?? ((line) => process.stdout.write(`lightning ${line}\n`)),
    });
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => this.fail(res, err));
    });
    this.server.on('upgrade', (req, socket, head) => this.upgrade(req, socket, head));
    this.server.on('clientError', (_err, socket) => socket.destroy());
  }

  async listen(): Promise<UiAddress> {
    let fellBack = false;
    try {
      await this.listenOn(this.port);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || !this.fallback) {
        throw new DaemonError(
          GrpcCode.UNAVAILABLE,
          `cannot serve the UI on ${this.host}:${this.port}: ${(err as Error).message}. ` +
            'Choose another port (--ui-port / --ui host:port) or stop what uses it.',
        );
      }
      await this.listenOn(0);
      fellBack = true;
    }
    this.boundPort = (this.server.address() as AddressInfo).port;
    if (this.tokenFile) {
      await mkdir(dirname(this.tokenFile), { recursive: true });
      await writeFile(this.tokenFile, `${this.auth.token}\n`, { mode: 0o600 });
    }
    return { port: this.boundPort, url: this.baseUrl(), fellBack };
  }

  private listenOn(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.server.once('error', onError);
      this.server.listen(port, this.host, () => {
        this.server.off('error', onError);
        resolve();
      });
    });
  }

  baseUrl(): string {
    const h = this.host === '0.0.0.0' || this.host === '::' ? '127.0.0.1' : this.host;
    return `http://${h.includes(':') ? `[${h}]` : h}:${this.boundPort}/`;
  }

  /** The URL to print: base URL with a fresh one-time login code. */
  loginUrl(): string {
    return `${this.baseUrl()}?token=${this.auth.newLoginCode()}`;
  }

  async close(): Promise<void> {
    this.events.close();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  // ---- requests ----

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const label = workLabelFromHost(req.headers.host);
    if (label !== null) {
      proxyHttp(req, res, this.workOriginTarget(req, label), req.url ?? '/');
      return;
    }
    if (!hostAllowed(req.headers.host, this.host)) {
      throw new HttpError(
        403,
        'HOST_NOT_ALLOWED',
        `Host "${req.headers.host ?? ''}" is not this UI's address (a defence against DNS rebinding).`,
        `Open the UI as ${this.baseUrl()} or http://localhost:${this.boundPort}/.`,
      );
    }
    const url = new URL(req.url ?? '/', 'http://ui.invalid');
    const path = url.pathname;

    if (path === '/' && req.method === 'GET' && url.searchParams.has('token')) {
      return this.login(res, url.searchParams.get('token') ?? '');
    }
    if (path === '/style.css' || path === '/favicon.svg') return this.staticFile(res, path.slice(1));
    if (!this.auth.authorized(req)) {
      if (path.startsWith('/api/') || req.headers.accept?.includes('application/json')) {
        throw new HttpError(
          401,
          'UNAUTHENTICATED',
          'missing or wrong UI token.',
          `Send "Authorization: Bearer <token>" with the token in ${this.tokenFile ?? '.lightning/ui-token'}, or open the login link printed at start.`,
        );
      }
      return this.loginPage(res, 401, 'This UI needs a login.');
    }

    if (path.startsWith('/api/')) return this.api.handle(req, res, url);
    const work = /^\/w\/([^/]+)(\/.*)?$/.exec(path);
    if (work) return this.proxy(req, res, decodeURIComponent(work[1]!), work[2], url.search);

    // An app in a tab that links to absolute paths (`/static/x.js`) misses its prefix:
    // send it back under the prefix of the page that asked.
    const from = refererWork(req.headers.referer);
    if (from && !(path.slice(1) in STATIC_TYPES) && path !== '/') {
      res.writeHead(307, { location: `/w/${encodeURIComponent(from)}${path}${url.search}` });
      res.end();
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      throw new HttpError(405, 'METHOD_NOT_ALLOWED', `${req.method} ${path} is not supported.`);
    }
    return this.staticFile(res, path === '/' ? 'index.html' : path.slice(1));
  }

  private login(res: ServerResponse, given: string): void {
    if (!this.auth.redeem(given)) {
      this.loginPage(
        res,
        401,
        'This login link is wrong or was already used (each printed link works once).',
      );
      return;
    }
    res.writeHead(303, {
      'set-cookie': this.auth.setCookieHeader(),
      location: '/',
      'cache-control': 'no-store',
    });
    res.end();
  }

  private loginPage(res: ServerResponse, status: number, what: string): void {
    const tokenFile = this.tokenFile ?? '.lightning/ui-token';
    res.writeHead(status, {
      ...UI_HEADERS,
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
    });
    res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>lightning: login needed</title>
<link rel="stylesheet" href="/style.css"></head><body class="login"><main><h1>lightning-local</h1>
<p>${escapeHtml(what)}</p><p>Open the link that <code>lightning-local run</code> printed at start, or log in with the
UI token of this run: <code>${baseLoginHint(this.baseUrl())}&lt;token&gt;</code>, where the token is in
<code>${escapeHtml(tokenFile)}</code> (readable only by the user who started the app).</p></main></body></html>`);
  }

  private async staticFile(res: ServerResponse, name: string): Promise<void> {
    const type = STATIC_TYPES[name];
    if (!type) throw new HttpError(404, 'NOT_FOUND', `no page at /${name}.`, 'Open / for the UI.');
    let body = this.staticCache.get(name);
    if (!body) {
      body = await readFile(
        name.startsWith('vendor/') ? vendorFile(this.staticRoot, name) : join(this.staticRoot, name),
      );
      this.staticCache.set(name, body);
    }
    res.writeHead(200, { ...UI_HEADERS, 'content-type': type, 'cache-control': 'no-cache' });
    res.end(body);
  }

  private proxy(
    req: IncomingMessage,
    res: ServerResponse,
    work: string,
    rest: string | undefined,
    search: string,
  ) {
    const prefix = `/w/${encodeURIComponent(work)}`;
    const target = this.target(req, work, prefix); // 404 or 503 with the reason when there is nothing to show
    if (isBrowserNavigation(req)) {
      // The work's pages get their own origin, never the UI's: same port, a `*.localhost` name.
      const port = /:(\d+)$/.exec(req.headers.host ?? '')?.[1] ?? String(this.boundPort);
      const origin = `http://${this.auth.workLabel(work)}${WORK_HOST_SUFFIX}:${port}`;
      res.writeHead(307, { location: `${origin}${rest ?? '/'}${search}`, 'cache-control': 'no-store' });
      res.end();
      return;
    }
    if (rest === undefined) {
      res.writeHead(308, { location: `${prefix}/${search}` });
      res.end();
      return;
    }
    // API clients (curl, scripts, the tunnel tests) keep the path form; the answer is
    // sandboxed so that, should a browser ever render it here, it gets no UI origin.
    proxyHttp(req, res, { ...target, sandbox: true }, `${rest}${search}`);
  }

  /** The work a work-origin host names; a wrong or stale label is a plain 404. */
  private workOriginTarget(req: IncomingMessage, label: string): ProxyTarget {
    const work = this.auth.workForLabel(label, this.loop.workNames());
    if (!work) {
      throw new HttpError(
        404,
        'NOT_FOUND',
        'no work of this app at this address (a link from an earlier run?).',
        `Open the work's tab in the UI at ${this.baseUrl()}.`,
      );
    }
    return this.target(req, work, '');
  }

  private target(req: IncomingMessage, work: string, prefix: string): ProxyTarget {
    const status = this.loop.statusOf(work);
    if (status) this.onWorkRequest(work);
    if (!status) {
      throw unknownWork(this.loop, work);
    }
    if (!status.url) {
      throw new HttpError(
        503,
        'UNAVAILABLE',
        `work ${work} has no server url yet (phase ${status.phase}).`,
        'A work gets a url once its port answers; wait for it, or give the work a `port`.',
      );
    }
    return {
      work,
      url: new URL(status.url),
      prefix,
      uiOrigin: `http://${req.headers.host ?? ''}`,
      cookieName: COOKIE_NAME,
    };
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const refuse = (status: number, message: string) => {
      socket.end(
        `HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : status === 403 ? 'Forbidden' : 'Not Found'}\r\n` +
          `content-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(message)}\r\nconnection: close\r\n\r\n${message}`,
      );
    };
    const label = workLabelFromHost(req.headers.host);
    const path = /^\/w\/([^/]+)(\/.*)$/.exec(new URL(req.url ?? '/', 'http://ui.invalid').pathname);
    const bearer = /^Bearer /i.test(req.headers.authorization ?? '');
    if (
      label === null &&
      path &&
      bearer &&
      hostAllowed(req.headers.host, this.host) &&
      this.auth.authorized(req)
    ) {
      // A client with the UI token in a header (browsers cannot set one on a WebSocket).
      try {
        const work = decodeURIComponent(path[1]!);
        const rest = (req.url ?? '/').slice(`/w/${path[1]}`.length);
        proxyUpgrade(req, socket, head, this.target(req, work, `/w/${path[1]}`), rest);
      } catch (err) {
        refuse(404, err instanceof HttpError ? err.summary : 'cannot proxy');
      }
      return;
    }
    if (label === null) {
      refuse(
        hostAllowed(req.headers.host, this.host) ? 404 : 403,
        "upgrades are proxied on a work's own origin only (open the work's tab in the UI)",
      );
      return;
    }
    try {
      proxyUpgrade(req, socket, head, this.workOriginTarget(req, label), req.url ?? '/');
    } catch (err) {
      refuse(404, err instanceof HttpError ? err.summary : 'cannot proxy');
    }
  }

  private fail(res: ServerResponse, err: unknown): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (err instanceof HttpError) {
      json(res, err.status, {
        error: { code: err.apiCode, message: err.summary, ...(err.fix ? { fix: err.fix } : {}) },
      });
      return;
    }
    // Unexpected: say so without internals; the server keeps serving.
    process.stderr.write(`lightning ui: internal error: ${(err as Error)?.stack ?? String(err)}\n`);
    json(res, 500, {
      error: { code: 'INTERNAL', message: 'internal error in the UI server; see the flow output.' },
    });
  }
}

function baseLoginHint(base: string): string {
  return escapeHtml(`${base}?token=`);
}
