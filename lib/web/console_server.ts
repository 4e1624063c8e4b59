/**
 * The web console: an HTTP server next to the broker (default
 * `http://127.0.0.1:9877`) that serves the page (embedded, no files read at
 * run time), a JSON API over the broker's service (its API only, never the
 * store), and a live feed of broker events as server-sent events. Every
 * request first passes the guard (`_guard.ts`): Host allow-list, Origin,
 * login token, CSRF.
 *
 * Routes:
 * - `GET /`, `/app.js`, `/app.css`, `/favicon.svg`: the page
 * - `GET /api/session`: broker facts and the CSRF value for the page
 * - `GET /api/messages?q=&from=&to=&a=&b=&since=&until=&before=&limit=`
 * - `GET /api/messages/:id/content`: full text of a large message
 * - `GET /api/instances`
 * - `GET /api/claims`: live file claims (read-only)
 * - `GET /api/thread?id=&party=`: the conversation of a message, oldest first
 * - `GET /api/events`: server-sent events (`message`, `acked`, `delivered`, `instance`)
 * - `POST /api/send` `{to, content, urgent?}` or `{reply_to, content, urgent?}`: send (or reply) as `human`
 *
 * @module
 */

import type { BrokerService } from "../broker/service.ts";
import { logger } from "../log.ts";
import { IpcError } from "../protocol/errors.ts";
import { VERSION } from "../version.ts";
import {
  compose,
  json,
  jsonError,
  largeContent,
  listClaims,
  listInstances,
  listMessages,
  MAX_COMPOSE,
  readJson,
  statusOf,
  threadMessages,
} from "./_api.ts";
import { Guard, securityHeaders, textResponse } from "./_guard.ts";
import { LiveFeed } from "./_live.ts";
import { FAVICON_SVG, PAGE_CSS, PAGE_HTML, PAGE_JS } from "./_page.ts";
import { loadOrCreateConsoleToken } from "./console_token.ts";
import { ConnectionGate, type GateLimits } from "./_gate.ts";
import { LIMITS, TIMEOUTS } from "../defaults.ts";

const log = logger("web");

/** How a console is set up. */
export interface ConsoleOptions {
  /** The broker's rules: the console reads and sends through its API only. */
  service: BrokerService;
  /** The broker's data dir (token file, large messages). */
  dataDir: string;
  /** 0 picks a free port. */
  port: number;
  /** Address to bind; loopback (127.0.0.1) unless configured otherwise. */
  host?: string;
  /** The login token; by default the data dir's `console-token` (created if missing). */
  token?: string;
  /** The host name `list` compares against (NATS: instances on other hosts). */
  hostName?: string;
  /** The broker's address, shown in the page ("127.0.0.1:9876"). */
  brokerAddress?: string;
  /** Most browsers on the live feed at once (default 64). */
  maxLiveClients?: number;
  /** Connection cap and timeouts of the console's port (defaults in `lib/defaults.ts`). */
  limits?: Partial<GateLimits>;
}

/** A running console. */
export interface WebConsole extends AsyncDisposable {
  /** Its address, without the token: `http://127.0.0.1:9877/`. */
  readonly url: string;
  readonly port: number;
  /** The login token. */
  readonly token: string;
  /** The address that logs a browser in: `url` + `?token=…`. */
  readonly loginUrl: string;
  /** The port's gate: its counts (accepted, refused, accept errors, timed out). */
  readonly gate: ConnectionGate;
  /** Stops: live streams first, then the HTTP server. Safe twice. */
  close(): Promise<void>;
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host.startsWith("127.");
}

const ASSETS: Record<string, { type: string; body: string }> = {
  "/": { type: "text/html; charset=utf-8", body: PAGE_HTML },
  "/index.html": { type: "text/html; charset=utf-8", body: PAGE_HTML },
  "/app.js": { type: "text/javascript; charset=utf-8", body: PAGE_JS },
  "/app.css": { type: "text/css; charset=utf-8", body: PAGE_CSS },
  "/favicon.svg": { type: "image/svg+xml", body: FAVICON_SVG },
};

/**
 * Starts a console for a broker's service. Throws the OS error when the port
 * is taken (`lib/app/host_broker.ts` logs it and the broker runs without a
 * console).
 *
 * @example
 * ```ts
 * await using web = await startConsole({ service: broker.service, dataDir, port: 0 });
 * console.log(web.loginUrl);
 * ```
 */
export async function startConsole(options: ConsoleOptions): Promise<WebConsole> {
  const host = options.host ?? "127.0.0.1";
  if (!isLoopback(host)) {
    log.warn(
      `web console bound to non-loopback "${host}": plain HTTP, the login token travels in clear`,
    );
  }
  const token = options.token ?? await loadOrCreateConsoleToken(options.dataDir);
  const service = options.service;
  const live = new LiveFeed(service.events, options.maxLiveClients);
  const stopping = new AbortController();
  // Set once the port is known (port 0 picks one); requests before that get a 503.
  const gate: { guard?: Guard } = {};

  const route = async (req: Request, url: URL): Promise<Response> => {
    const path = url.pathname;
    if (req.method === "GET" || req.method === "HEAD") {
      const asset = ASSETS[path];
      if (asset) {
        return new Response(asset.body, {
          headers: securityHeaders({ "content-type": asset.type }),
        });
      }
      if (path === "/api/session") {
        return json(200, {
          version: VERSION,
          human: "human",
          csrf: gate.guard!.csrf,
          broker: options.brokerAddress,
          store: service.storeKind,
          started_at: service.startedAt,
        });
      }
      if (path === "/api/messages") return await listMessages(service, url);
      if (path === "/api/instances") {
        return await listInstances(service, live.renames, options.hostName);
      }
      if (path === "/api/claims") return await listClaims(service);
      if (path === "/api/thread") return await threadMessages(service, url);
      if (path === "/api/events") return live.open();
      const m = /^\/api\/messages\/([^/]{1,64})\/content$/.exec(path);
      if (m) return await largeContent(service, decodeURIComponent(m[1]));
    } else if (req.method === "POST") {
      if (path === "/api/send") {
        const body = await readJson(req, MAX_COMPOSE * 4 + 1024);
        return await compose(service, body, AbortSignal.any([req.signal, stopping.signal]));
      }
    } else {
      return textResponse(405, `Method ${req.method.slice(0, 20)} is not allowed`, {
        allow: "GET, POST",
      });
    }
    return path.startsWith("/api/")
      ? jsonError(404, "E_NOT_FOUND", `No endpoint ${path.slice(0, 100)}`)
      : textResponse(404, "Not found");
  };

  const handler = async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    if (!gate.guard) return textResponse(503, "Starting");
    const verdict = gate.guard.check(req, url);
    if ("response" in verdict) return verdict.response;
    try {
      return await route(req, url);
    } catch (e) {
      if (e instanceof IpcError) return jsonError(statusOf(e), e.code, e.message);
      log.error(`${req.method} ${url.pathname} failed: ${(e as Error).stack ?? e}`);
      return jsonError(500, "E_INTERNAL", "Internal error: see the broker log");
    }
  };

  // The port is the gate's; the HTTP server behind it listens on a private
  // Unix socket that only the gate connects to (see _gate.ts for why).
  const listener = Deno.listen({ hostname: host, port: options.port });
  let sockDir: string;
  try {
    sockDir = await Deno.makeTempDir({ prefix: "agent-ipc-console-" });
  } catch (e) {
    listener.close();
    throw e;
  }
  const sockPath = `${sockDir}/http.sock`;
  // Deno.serve ends its accept loop, with an unhandled rejection, when it runs
  // out of file descriptors. Behind the gate that takes a race with the
  // broker's own connections; if it happens the rejection is logged here (not
  // the end of the process) and the next connection starts the server again.
  let server: Deno.HttpServer | undefined;
  let serverEnded = false;
  const startServer = async () => {
    await Deno.remove(sockPath).catch(() => {});
    serverEnded = false;
    const s = Deno.serve({ path: sockPath, transport: "unix", onListen: () => {} }, handler);
    s.finished.then(() => serverEnded = true, () => serverEnded = true);
    server = s;
  };
  const onRejection = (e: PromiseRejectionEvent) => {
    if (!(e.reason instanceof Deno.errors.Http)) return;
    e.preventDefault();
    serverEnded = true;
    log.warn(`web console server stopped: ${e.reason.message}; restarting on the next connection`, {
      event: "console_server_failed",
    });
  };
  globalThis.addEventListener("unhandledrejection", onRejection);
  try {
    await startServer();
  } catch (e) {
    globalThis.removeEventListener("unhandledrejection", onRejection);
    listener.close();
    await Deno.remove(sockDir, { recursive: true }).catch(() => {});
    throw e;
  }
  const connectInner = async (): Promise<Deno.Conn> => {
    if (serverEnded && !stopping.signal.aborted) {
      await server?.shutdown().catch(() => {});
      await startServer();
    }
    return await Deno.connect({ path: sockPath, transport: "unix" });
  };
  const portGate = new ConnectionGate(
    listener,
    connectInner,
    {
      maxConnections: LIMITS.consoleMaxConnections,
      headerMs: TIMEOUTS.consoleHeaderMs,
      idleMs: TIMEOUTS.consoleIdleMs,
      backoffMs: TIMEOUTS.acceptBackoffMs,
      ...options.limits,
    },
  );
  const port = (listener.addr as Deno.NetAddr).port;
  gate.guard = new Guard(
    token,
    port,
    isLoopback(host) || host === "0.0.0.0" || host === "::" ? undefined : host,
  );
  const shown = host === "0.0.0.0" || host === "::" || host === "localhost"
    ? "127.0.0.1"
    : host.includes(":")
    ? `[${host}]`
    : host;
  const url = `http://${shown}:${port}/`;
  log.info(`web console on ${url}`);

  let closing: Promise<void> | undefined;
  const close = () =>
    closing ??= (async () => {
      stopping.abort();
      live.close();
      // No new connections; the server ends its replies (live streams end
      // cleanly), then the gate closes what is left.
      await portGate.stop();
      await server?.shutdown();
      await portGate.close();
      globalThis.removeEventListener("unhandledrejection", onRejection);
      await Deno.remove(sockDir, { recursive: true }).catch(() => {});
    })();
  return {
    url,
    port,
    token,
    loginUrl: `${url}?token=${token}`,
    gate: portGate,
    close,
    [Symbol.asyncDispose]: close,
  };
}
