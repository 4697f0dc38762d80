/**
 * Who may use the UI: requests for the bound address or a loopback name only (DNS-rebinding
 * defence), carrying the per-run UI token as a cookie or a Bearer header.
 *
 * Two secrets per run, neither of them the app (daemon) token:
 * - the UI token: what the cookie and `Authorization: Bearer` carry; written (mode 600) to
 *   `.lightning/ui-token` for API clients, never printed;
 * - a login code: printed in the URL at start (`/?token=<code>`), good for one visit, which
 *   trades it for the cookie. A link left in terminal scroll-back or browser history is dead.
 *   Visiting `/?token=<UI token>` also logs in (a fresh browser, a second machine).
 * Comparisons are constant-time (tokenMatches hashes first, so lengths do not leak either).
 *
 * Work pages get their own origin (ADR 0016): `http://<slug>--<key>.w.localhost:<UI port>/`,
 * where `key` is an HMAC of the work's name under the UI token. The host name is the
 * capability: no cookie is needed there (cookies in a cross-site iframe are unreliable), the
 * UI's cookie is never sent there (host-only, SameSite=Strict, another site), and a page on
 * that origin cannot read or call the UI's API. Browsers resolve `*.localhost` to loopback
 * themselves, so it works through one forwarded port (SSH `-L`, IAP) as the UI does.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { tokenMatches } from '../protocol/flow-service.ts';

export const COOKIE_NAME = 'lightning_ui';

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

export class UiAuth {
  readonly token: string;
  private loginCode: string | null;

  constructor(token?: string) {
    this.token = token ?? randomBytes(32).toString('base64url');
    this.loginCode = randomBytes(24).toString('base64url');
  }

  /** A fresh one-time login code (replacing any unused one), for the printed URL. */
  newLoginCode(): string {
    this.loginCode = randomBytes(24).toString('base64url');
    return this.loginCode;
  }

  /** Checks a `?token=` value: the UI token, or the login code (then spent). */
  redeem(given: string): boolean {
    if (tokenMatches(this.token, given)) return true;
    if (this.loginCode !== null && tokenMatches(this.loginCode, given)) {
      this.loginCode = null;
      return true;
    }
    return false;
  }

  /** True when the request carries the UI token (cookie or Bearer). */
  authorized(req: IncomingMessage): boolean {
    const auth = req.headers.authorization;
    if (typeof auth === 'string' && /^Bearer /i.test(auth))
      return tokenMatches(this.token, auth.slice(7).trim());
    return tokenMatches(this.token, cookieValue(req.headers.cookie, COOKIE_NAME));
  }

  setCookieHeader(): string {
    return `${COOKIE_NAME}=${this.token}; HttpOnly; SameSite=Strict; Path=/`;
  }

  /** The host label of a work's own origin: `<slug>--<key>`, at most 62 characters. */
  workLabel(work: string): string {
    const slug = work
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 28)
      .replace(/-+$/, '');
    return `${slug || 'work'}--${this.workKey(work)}`;
  }

  /** Which of `works` a host label names (constant-time on the key), or undefined. */
  workForLabel(label: string, works: readonly string[]): string | undefined {
    const key = label.slice(label.lastIndexOf('--') + 2);
    let found: string | undefined;
    for (const w of works) if (tokenMatches(this.workKey(w), key)) found = w;
    return found;
  }

  private workKey(work: string): string {
    return createHmac('sha256', this.token).update(`work-origin\0${work}`).digest('hex').slice(0, 32);
  }
}

/** The DNS suffix of work origins: `*.w.localhost` resolves to loopback in browsers. */
export const WORK_HOST_SUFFIX = '.w.localhost';

/** The work label in a Host header of a work origin (`<label>.w.localhost[:port]`), or null. */
export function workLabelFromHost(hostHeader: string | undefined): string | null {
  const m = /^([a-z0-9-]{1,63})\.w\.localhost\.?(?::\d+)?$/i.exec(hostHeader ?? '');
  return m ? m[1]!.toLowerCase() : null;
}

export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}

/**
 * True when the Host header names the bound address or a loopback name (any port: an SSH
 * or IAP tunnel may map the UI to another local port). A page on evil.example that rebinds
 * its name to 127.0.0.1 still sends `Host: evil.example` and is refused.
 */
export function hostAllowed(hostHeader: string | undefined, boundHost: string): boolean {
  if (!hostHeader) return false;
  const name = hostHeader.startsWith('[')
    ? hostHeader.slice(0, hostHeader.indexOf(']') + 1)
    : hostHeader.replace(/:\d+$/, '');
  const lower = name.toLowerCase();
  if (LOOPBACK_NAMES.has(lower)) return true;
  const bound = boundHost.includes(':') && !boundHost.startsWith('[') ? `[${boundHost}]` : boundHost;
  return bound !== '0.0.0.0' && bound !== '[::]' && lower === bound.toLowerCase();
}
