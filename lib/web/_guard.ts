/**
 * The web console's gate: every request passes {@linkcode Guard.check} before
 * anything is served. It enforces the Host allow-list (no DNS rebinding), the
 * Origin of cross-origin attempts, the login token (query parameter once, then
 * an HttpOnly SameSite=Strict cookie) and, for state-changing requests, a
 * same-origin Origin plus a CSRF header. It also owns the response headers
 * every answer carries (CSP and friends).
 *
 * @module
 */

import { createHash } from "node:crypto";
import { constantTimeEqual } from "../protocol/auth.ts";

/** The Content-Security-Policy of every response: own scripts and styles only. */
export const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

/** Headers on every response. */
export function securityHeaders(extra: HeadersInit = {}): Headers {
  const h = new Headers(extra);
  h.set("content-security-policy", CSP);
  h.set("x-content-type-options", "nosniff");
  h.set("x-frame-options", "DENY");
  h.set("referrer-policy", "no-referrer");
  h.set("cross-origin-opener-policy", "same-origin");
  h.set("cross-origin-resource-policy", "same-origin");
  if (!h.has("cache-control")) h.set("cache-control", "no-store");
  return h;
}

/** A plain-text answer with the security headers. */
export function textResponse(status: number, text: string, headers: HeadersInit = {}): Response {
  const h = securityHeaders(headers);
  h.set("content-type", "text/plain; charset=utf-8");
  return new Response(text + "\n", { status, headers: h });
}

const LOGIN_HELP = `This is the agent-ipc web console. It needs its login token.

Run "agent-ipc web" on this machine: it prints the address with the token
and opens it in your browser.`;

/** The outcome of a check: a response to send at once, or leave to go on. */
export type Verdict = { response: Response } | { ok: true };

/** Checks requests against one console's token and address. */
export class Guard {
  readonly #token: string;
  readonly #csrf: string;
  readonly #hosts: Set<string>;
  readonly #origins: Set<string>;
  /** The cookie's name: per port, because browsers share cookies across ports. */
  readonly cookieName: string;

  /**
   * @param token the login token
   * @param port the console's port
   * @param extraHost a non-loopback host the console was configured to bind
   */
  constructor(token: string, port: number, extraHost?: string) {
    this.#token = token;
    this.#csrf = createHash("sha256").update(`csrf:${token}`).digest("base64url");
    const hosts = [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`];
    if (extraHost) {
      hosts.push(extraHost.includes(":") ? `[${extraHost}]:${port}` : `${extraHost}:${port}`);
    }
    this.#hosts = new Set(hosts);
    this.#origins = new Set(hosts.map((h) => `http://${h}`));
    this.cookieName = `agent_ipc_console_${port}`;
  }

  /** The CSRF value the page must echo in `x-csrf-token` on state changes. */
  get csrf(): string {
    return this.#csrf;
  }

  /** Checks one request; answers it when it must not go further. */
  check(req: Request, url: URL): Verdict {
    const host = req.headers.get("host")?.toLowerCase() ?? "";
    if (!this.#hosts.has(host)) {
      // DNS rebinding: a foreign name that resolves to loopback.
      return { response: textResponse(421, `Host "${host.slice(0, 100)}" is not served here`) };
    }
    const origin = req.headers.get("origin");
    const safe = req.method === "GET" || req.method === "HEAD";
    if (origin !== null && !this.#origins.has(origin)) {
      return { response: textResponse(403, "Cross-origin requests are refused") };
    }
    const query = url.searchParams.get("token");
    if (query !== null) {
      if (!safe || !constantTimeEqual(query, this.#token)) {
        return { response: textResponse(401, `Wrong login token.\n\n${LOGIN_HELP}`) };
      }
      // Trade the token for a cookie, and drop it from the address bar and history.
      // Always to "/": a path from the request ("//elsewhere") could redirect off-site.
      const headers = securityHeaders({
        location: "/",
        "set-cookie":
          `${this.cookieName}=${this.#token}; HttpOnly; SameSite=Strict; Path=/; Max-Age=31536000`,
      });
      return { response: new Response(null, { status: 303, headers }) };
    }
    const cookie = readCookie(req.headers.get("cookie"), this.cookieName);
    if (cookie === undefined || !constantTimeEqual(cookie, this.#token)) {
      return { response: textResponse(401, LOGIN_HELP) };
    }
    if (!safe) {
      if (origin === null) {
        return { response: textResponse(403, "State-changing requests need an Origin header") };
      }
      const site = req.headers.get("sec-fetch-site");
      if (site !== null && site !== "same-origin") {
        return { response: textResponse(403, "Cross-site requests are refused") };
      }
      const csrf = req.headers.get("x-csrf-token") ?? "";
      if (!constantTimeEqual(csrf, this.#csrf)) {
        return { response: textResponse(403, 'Missing or wrong "x-csrf-token" header') };
      }
    }
    return { ok: true };
  }
}

/** The value of cookie `name` in a Cookie header. */
export function readCookie(header: string | null, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
