/**
 * The NATS plumbing under `nats_store.ts`: turning a store URL and options
 * into a connection, knowing whether the server is reachable, bounding every
 * operation in time, and reading many stream messages in one pull (stream
 * scans for rename, ack look-ups, history and purge; KV listings).
 *
 * @module
 */

import { isIP } from "node:net";
import { checkServerIdentity, type PeerCertificate } from "node:tls";
import type { JetStreamManager, NatsConnection, NatsConnectionOptions, NatsMsg } from "../deps.ts";
import { loadNats } from "../deps.ts";
import { logger } from "../log.ts";
import { IpcError } from "../protocol/errors.ts";
import { FastRequester, NatsApiError, NatsRequestTimeout } from "./_nats_fast.ts";
import { isTransient } from "./_nats_errors.ts";

const {
  AckPolicy,
  createInbox,
  credsAuthenticator,
  DeliverPolicy,
  nanos,
  natsConnect,
  PermissionViolationError,
} = await loadNats();

const log = logger("nats");
let resetsGuarded = false;

/**
 * Keeps a connection reset on a NATS socket from ending the process. The
 * NATS node transport drops its socket's listeners before it destroys the
 * socket (after a refused CONNECT, a close, a server gone): a reset that
 * arrives in that window is an `error` event nobody listens to, which Deno
 * raises as an uncaught error and which would take the broker down (seen in
 * the NATS tests: `read ECONNRESET` from `TCPWrap.onStreamRead`). Only socket
 * resets are let through: any other uncaught error still ends the process.
 * Our own sockets are `Deno.Conn`s, so a node socket reset here is NATS's.
 */
function guardSocketResets(): void {
  if (resetsGuarded) return;
  resetsGuarded = true;
  globalThis.addEventListener("error", (event: ErrorEvent) => {
    const e = event.error as { code?: unknown; syscall?: unknown } | null;
    if (
      e && (e.code === "ECONNRESET" || e.code === "EPIPE") &&
      (e.syscall === "read" || e.syscall === "write")
    ) {
      event.preventDefault();
      log.warn("a NATS connection was reset after its transport let go of it", {
        event: "nats_socket_reset",
        code: e.code,
      });
    }
  });
}

/** How long a stale connection may take to close by itself before its socket is destroyed. */
const STALE_GRACE_MS = 500;

/** Credentials and limits for {@linkcode connectNats}. */
export interface NatsConnectOptions {
  token?: string;
  credsFile?: string;
  /** Bound on connecting and on each request (ms). */
  timeoutMs: number;
}

/** A parsed store URL: what to connect to and what to show in `status`. */
export interface ParsedNatsUrl {
  servers: string[];
  /** The URL with any user, password or token removed. */
  location: string;
  user?: string;
  pass?: string;
  token?: string;
  /** Set for `tls://` URLs or `?tls=1`: TLS is required. */
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
}

/**
 * Parses `nats://[user:pass@|token@]host[:port][,host2:port]` and
 * `tls://host:port?ca=FILE&cert=FILE&key=FILE`.
 */
export function parseNatsUrl(url: string): ParsedNatsUrl {
  const m = /^(nats|tls):\/\/(?:([^@/]*)@)?([^/?#]+)\/?(?:\?([^#]*))?$/.exec(url.trim());
  if (!m) {
    throw new IpcError(
      "E_STORE",
      `Cannot parse NATS URL "${url}": use nats://host:4222 or tls://host:4222`,
    );
  }
  const [, scheme, auth, hosts, query] = m;
  const params = new URLSearchParams(query ?? "");
  const out: ParsedNatsUrl = {
    servers: hosts.split(",").map((h) => `nats://${h.includes(":") ? h : `${h}:4222`}`),
    location: `${scheme}://${hosts}`,
  };
  if (auth) {
    const colon = auth.indexOf(":");
    if (colon >= 0) {
      out.user = decodeURIComponent(auth.slice(0, colon));
      out.pass = decodeURIComponent(auth.slice(colon + 1));
    } else {
      out.token = decodeURIComponent(auth);
    }
  }
  const ca = params.get("ca") ?? undefined;
  const cert = params.get("cert") ?? undefined;
  const key = params.get("key") ?? undefined;
  if (scheme === "tls" || params.get("tls") === "1" || ca || cert) {
    out.tls = { caFile: ca, certFile: cert, keyFile: key };
  }
  return out;
}

/** True for `nats://HOST:PORT` on this machine: localhost, 127.0.0.0/8, ::1. */
export function isLoopbackServer(server: string): boolean {
  const host = /^[a-z]+:\/\/(\[[^\]]+\]|[^:/]+)/i.exec(server)?.[1]?.toLowerCase() ?? "";
  return host === "localhost" || host === "[::1]" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/**
 * Refuses plain TCP to a NATS server off this machine: credentials, session
 * hashes and every message would cross the network in clear. Use `tls://`
 * (with `?ca=FILE` unless the system trusts the server's certificate).
 */
export function checkTransport(parsed: ParsedNatsUrl): void {
  if (parsed.tls) return;
  const remote = parsed.servers.filter((s) => !isLoopbackServer(s));
  if (remote.length === 0) return;
  throw new IpcError(
    "E_STORE",
    `NATS at ${remote.join(", ")} is not on this machine: connect with TLS, ` +
      `tls://${
        parsed.location.replace(/^[a-z]+:\/\//, "")
      }?ca=CA.pem (plain nats:// is for loopback only)`,
  );
}

/** The host of `nats://HOST:PORT` (an IPv6 address without its brackets). */
function hostOf(server: string): string {
  const host = /^[a-z]+:\/\/(\[[^\]]+\]|[^:/]+)/i.exec(server)?.[1] ?? "";
  return host.replace(/^\[(.*)\]$/, "$1");
}

/**
 * The certificate check of a TLS store whose URL lists `servers`.
 *
 * nats.js gives TLS no server name for a server addressed by IP (SNI takes
 * no addresses), and Deno's TLS then checks the certificate against
 * "localhost": a correct certificate for `10.0.0.5` was refused ("Host:
 * localhost. is not cert's CN"), and any certificate naming localhost was
 * accepted for every address. So a check against "localhost" when the URL
 * names servers by IP checks the URL's addresses instead: the certificate
 * must name one of them (which one is being dialled is not known here). A
 * server given by name is checked against its name, as before.
 *
 * @example
 * ```ts
 * const check = serverIdentityCheck(["nats://10.0.0.5:4222"]);
 * check("localhost", cert); // undefined when cert names IP 10.0.0.5
 * ```
 */
export function serverIdentityCheck(
  servers: string[],
): (host: string, cert: PeerCertificate) => Error | undefined {
  const hosts = servers.map(hostOf);
  const ips = hosts.filter((h) => isIP(h) !== 0);
  return (host, cert) => {
    if (host !== "localhost" || ips.length === 0) return checkServerIdentity(host, cert);
    const names = hosts.includes("localhost") ? ["localhost", ...ips] : ips;
    let error: Error | undefined;
    for (const name of names) {
      error = checkServerIdentity(name, cert);
      if (error === undefined) return undefined;
    }
    return new Error(
      `The NATS server's certificate names none of ${names.join(", ")}: ${error?.message}`,
    );
  };
}

/** The reason of a failure, for messages. */
export function reason(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * A connection that knows whether the server is reachable, so operations
 * wait (boundedly) for a reconnect instead of piling up in the client's
 * buffer, and fail with E_STORE when NATS stays down.
 */
export class NatsLink {
  readonly nc: NatsConnection;
  /** Requests of the hot paths (see {@linkcode FastRequester}). */
  readonly fast: FastRequester;
  readonly location: string;
  readonly timeoutMs: number;
  /**
   * Replicas of every stream, bucket and consumer of the store (set by
   * `openNatsStore` once chosen): scan consumers follow it too, so a lost
   * node takes none of them with it.
   */
  replicas = 1;
  /**
   * The manager scans create their consumers with: a short timeout (1.5 s at
   * most), as a creation sent to a node that just died never answers and
   * the read is retried anyway (set by `openNatsStore`).
   */
  scanJsm: JetStreamManager | undefined;
  #up = true;
  #closed = false;
  #upWaiters: (() => void)[] = [];

  /** Where the connection went stale from: the next dial goes elsewhere first. */
  readonly #dialing: { avoid?: string };

  private constructor(
    nc: NatsConnection,
    location: string,
    timeoutMs: number,
    dialing: { avoid?: string },
  ) {
    this.#dialing = dialing;
    this.nc = nc;
    this.fast = new FastRequester(nc, timeoutMs);
    this.location = location;
    this.timeoutMs = timeoutMs;
    this.#watchStatus();
  }

  /** Connects; rejects with E_STORE (within `timeoutMs`) when NATS cannot be reached. */
  static async connect(url: string, opts: NatsConnectOptions): Promise<NatsLink> {
    const parsed = parseNatsUrl(url);
    checkTransport(parsed);
    const co: NatsConnectionOptions = {
      servers: parsed.servers,
      name: "agent-ipc",
      timeout: opts.timeoutMs,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      reconnectJitter: 100,
      // A server gone silent (its link cut: no reset, packets just vanish)
      // is noticed by unanswered pings only: at 10 s a broker on a cut-off
      // node stalled 20-30 s before moving to another node; at 2 s it moves
      // within 4-6 s (tests/broker/netns_hosts_test.ts). A ping is 6 bytes.
      pingInterval: 2_000,
      maxPingOut: 2,
      // Capturing a stack trace per request cost a fifth of the CPU of a
      // busy store; our errors name the operation instead.
      noAsyncTraces: true,
      // Without TLS (loopback only), never follow the cluster's gossip to
      // servers off this machine: only the servers given are used.
      ignoreClusterUpdates: parsed.tls === undefined,
    };
    const token = opts.token ?? parsed.token;
    if (token !== undefined) co.token = token;
    if (parsed.user !== undefined) {
      co.user = parsed.user;
      co.pass = parsed.pass;
    }
    if (parsed.tls) {
      // nats.js copies these into Node's TLS options (checkServerIdentity included).
      co.tls = {
        ...parsed.tls,
        checkServerIdentity: serverIdentityCheck(parsed.servers),
      } as NatsConnectionOptions["tls"];
    }
    if (opts.credsFile !== undefined) {
      let creds: Uint8Array;
      try {
        creds = await Deno.readFile(opts.credsFile);
      } catch (e) {
        throw new IpcError(
          "E_STORE",
          `Cannot read NATS credentials file "${opts.credsFile}": ${reason(e)}`,
        );
      }
      co.authenticator = credsAuthenticator(creds);
    }
    // nats.js dials the server it just lost first, and one whose link is cut
    // costs a whole connect timeout before the next is tried: after a stale
    // connection, start with another server (then the usual rotation).
    const dialing: { avoid?: string } = {};
    co.reconnectToServer = (pool) => {
      const avoid = dialing.avoid;
      dialing.avoid = undefined;
      return pool.length > 1 && pool[0].listen === avoid ? pool[1] : null;
    };
    let nc: NatsConnection;
    guardSocketResets();
    try {
      nc = await natsConnect(co);
    } catch (e) {
      throw new IpcError(
        "E_STORE",
        `Cannot connect to NATS at ${parsed.location}: ${
          reason(e)
        } (is nats-server running with -js?)`,
      );
    }
    return new NatsLink(nc, parsed.location, opts.timeoutMs, dialing);
  }

  async #watchStatus(): Promise<void> {
    try {
      for await (const s of this.nc.status()) {
        if (s.type === "disconnect") {
          this.#up = false;
          // Their replies went to the server just lost: retry after the reconnect.
          this.fast.failPending("connection to NATS lost");
        } else if (s.type === "reconnect") {
          log.info(`NATS reconnected to ${s.server}`, { event: "nats_reconnect" });
          this.#setUp();
        } else if (s.type === "staleConnection") this.#dropStale();
        else if (s.type === "error" && s.error instanceof PermissionViolationError) {
          // A NATS user without agent-ipc's permissions: say which subject,
          // and fail the requests to it now rather than after their timeout.
          const { operation, subject } = s.error;
          const what = `the NATS user may not ${operation} "${subject}"`;
          log.error(`${what}: give it agent-ipc's permissions (docs/nats.md)`, {
            event: "nats_permission_denied",
            operation,
            subject,
          });
          if (operation === "publish") {
            this.fast.failSubject(
              subject,
              new IpcError("E_STORE", `NATS at ${this.location}: ${what} (see docs/nats.md)`),
            );
          }
        }
      }
    } catch {
      // the iterator ends with the connection
    }
  }

  /**
   * Ends a connection nats.js found stale (pings unanswered). nats.js closes
   * it by first flushing what it still has to send, and over a link that
   * went silent (cut, not reset) that flush never ends: the connection was
   * never dropped nor replaced, and every request of the broker timed out
   * for good while the other nodes served (tests/broker/netns_hosts_test.ts,
   * a node's link cut under sends). Destroying its socket ends the flush;
   * nats.js then reconnects to another server. The transport is taken now
   * and left alone if it closed by itself within the grace period.
   */
  #dropStale(): void {
    type Transport = { done?: boolean; socket?: { destroy(): void } };
    const transport = (this.nc as unknown as { protocol?: { transport?: Transport } }).protocol
      ?.transport;
    this.#dialing.avoid = this.nc.getServer();
    log.warn(`NATS at ${this.location} stopped answering pings: dropping the connection`, {
      event: "nats_stale",
    });
    const timer = setTimeout(() => {
      if (transport && transport.done !== true && transport.socket) {
        transport.socket.destroy();
        log.info("the stale NATS connection did not close by itself: its socket was destroyed", {
          event: "nats_stale_destroyed",
        });
      }
    }, STALE_GRACE_MS);
    Deno.unrefTimer(timer);
  }

  #setUp(): void {
    this.#up = true;
    const waiters = this.#upWaiters;
    this.#upWaiters = [];
    for (const w of waiters) w();
  }

  /** Resolves when connected; rejects with E_STORE after `timeoutMs` of disconnection. */
  ready(op: string): Promise<void> {
    if (this.#closed) {
      return Promise.reject(new IpcError("E_STORE", `NATS store is closed (${op})`));
    }
    if (this.#up) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#upWaiters = this.#upWaiters.filter((w) => w !== done);
        reject(
          new IpcError(
            "E_STORE",
            `NATS at ${this.location} is unreachable (${op} gave up after ${this.timeoutMs} ms)`,
          ),
        );
      }, this.timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      this.#upWaiters.push(done);
    });
  }

  /**
   * Runs `fn` once NATS is reachable and turns any failure into E_STORE
   * (IpcErrors pass through). Each request inside `fn` is bounded by the
   * client's request timeout, so nothing waits forever.
   *
   * With `retry` (for operations that are safe to run twice: reads, and
   * writes made idempotent by message ids or compare-and-set), a transient
   * failure (see `isTransient`: a stream leader being re-elected, a node
   * lost under the connection) runs `fn` again, after a short pause, until
   * {@linkcode NatsLink.rideOutMs} have passed since the first attempt:
   * a re-election takes 2-6 s, which a request rides out instead of failing.
   */
  async run<T>(
    op: string,
    fn: () => Promise<T>,
    { retry = false }: { retry?: boolean | ((e: unknown) => boolean) } = {},
  ): Promise<T> {
    const start = Date.now();
    for (let attempt = 0;; attempt++) {
      await this.ready(op);
      try {
        return await fn();
      } catch (e) {
        if (e instanceof IpcError) throw e;
        const left = start + this.rideOutMs - Date.now();
        const again = typeof retry === "function" ? retry(e) : retry && isTransient(e);
        if (again && left > 0 && !this.#closed) {
          if (attempt === 0) {
            log.info(`NATS store ${op} retried: ${reason(e)}`, { event: "nats_retry", op });
          }
          await new Promise((r) => setTimeout(r, Math.min(left, 100 * 2 ** Math.min(attempt, 3))));
          continue;
        }
        throw new IpcError(
          "E_STORE",
          `NATS store ${op} failed (${this.location}): ${reason(e)}`,
          undefined,
          { cause: e },
        );
      }
    }
  }

  /**
   * How long a retried operation keeps trying through transient failures:
   * three request timeouts, at least 30 s. nats-server 2.9 re-elects a
   * stream's leader 4-9 s after losing it (its raft election timeout), and a
   * request sent just before the loss waits its own timeout first; measured
   * on 2.9.10: sends paused up to 15.9 s when a cut-off node rejoined (the
   * network namespace test), and once in about 150 single leader kills the
   * stream had no leader for more than 20 s (20 s was the window before).
   */
  get rideOutMs(): number {
    return Math.max(this.timeoutMs * 3, 30_000);
  }

  /** Closes the connection (bounded). Safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const w of this.#upWaiters) w();
    this.#upWaiters = [];
    this.fast.close();
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.nc.close().catch(() => {}),
      new Promise((r) => timer = setTimeout(r, this.timeoutMs)),
    ]);
    clearTimeout(timer);
  }
}

/** One message read by {@linkcode scanStream}. */
export interface ScannedMsg {
  seq: number;
  subject: string;
  data: Uint8Array;
  /** The KV operation header (`DEL`, `PURGE`), if any. */
  kvOp?: string;
}

/** Options for {@linkcode scanStream}. */
export interface ScanOptions {
  /** Only the last message of each subject (KV listings). */
  lastPerSubject?: boolean;
  /** Start at this stream sequence. */
  fromSeq?: number;
  /** Read at most this many. */
  max?: number;
}

const PULL_BATCH = 5_000;

/**
 * Reads every message of `stream` matching `filter` that exists when the
 * scan starts, in stream order: one ephemeral in-memory consumer (its
 * creation reports how many messages match) and batched no-wait pulls.
 * Used for bulk reads; single reads use direct get. The consumer is R1 in
 * memory (see below), created with a short timeout (`link.scanJsm`) so a
 * creation lost with a node is retried soon.
 */
export async function scanStream(
  link: NatsLink,
  jsm: JetStreamManager,
  stream: string,
  filter: string,
  opts: ScanOptions = {},
): Promise<ScannedMsg[]> {
  if (opts.lastPerSubject && link.replicas > 1) return await leaderScan(link, stream, filter);
  const { nc, timeoutMs } = link;
  jsm = link.scanJsm ?? jsm;
  const name = `scan_${crypto.randomUUID().replaceAll("-", "")}`;
  const ci = await jsm.consumers.add(stream, {
    name,
    filter_subject: filter,
    ack_policy: AckPolicy.None,
    deliver_policy: opts.lastPerSubject
      ? DeliverPolicy.LastPerSubject
      : opts.fromSeq
      ? DeliverPolicy.StartSequence
      : DeliverPolicy.All,
    ...(opts.fromSeq && !opts.lastPerSubject ? { opt_start_seq: opts.fromSeq } : {}),
    // One replica in memory, even when the stream has three: a scan's consumer
    // lives for one read, and a replicated one costs a raft group per read.
    // Measured on a 3-node cluster (nats-server 2.9.10), listing instances
    // (two scans): 6-12 ms with R1 consumers, 370-710 ms with R3 ones, and
    // with a node down 8 ms-2.2 s (R1) against 0.3-10 s (R3). A consumer lost
    // with its node fails that read, which is retried (see `NatsLink.run`).
    mem_storage: true,
    num_replicas: 1,
    // Reaped by the server if we vanish before deleting it.
    inactive_threshold: nanos(Math.max(timeoutMs * 2, 10_000)),
  });
  const out: ScannedMsg[] = [];
  try {
    let remaining = Math.min(ci.num_pending, opts.max ?? Infinity);
    while (remaining > 0) {
      const batch = Math.min(remaining, PULL_BATCH);
      const got = await pull(nc, `$JS.API.CONSUMER.MSG.NEXT.${stream}.${name}`, batch, timeoutMs);
      if (got.length === 0) break;
      out.push(...got);
      remaining -= got.length;
    }
  } finally {
    jsm.consumers.delete(stream, name).catch(() => {});
  }
  // The consumer read its own node's copy. A replicated stream's follower
  // holds a prefix of the leader's log and may lag it by a few milliseconds:
  // a message acknowledged a moment ago (a question its sender looks up at
  // once, a history entry an ack just wrote) is read from the leader, after
  // the last one the consumer saw. Usually one get that finds nothing.
  const max = opts.max ?? Infinity;
  if (link.replicas > 1 && out.length < max) {
    const from = out.length > 0 ? out[out.length - 1].seq + 1 : opts.fromSeq ?? 0;
    out.push(...await leaderScan(link, stream, filter, from, max - out.length));
  }
  return out;
}

/**
 * A KV listing (the buckets keep one value per key) read from the stream's
 * leader, one message get per key: at more than one replica a scan
 * consumer reads its own node's copy, and a node restarted a moment ago
 * answered a listing of instances with none (seen in the cluster chaos
 * scenario: every session "lost"). Listings are small (one entry per
 * agent, forward or repository); queue and history scans, which can be
 * long, stay on consumers, and read from the leader only the tail their
 * consumer's node had not applied yet (`from`, at most `max` messages).
 */
async function leaderScan(
  link: NatsLink,
  stream: string,
  filter: string,
  from = 0,
  max = Infinity,
): Promise<ScannedMsg[]> {
  const out: ScannedMsg[] = [];
  for (let seq = from; out.length < max;) {
    let r: { message: { subject: string; seq: number; data?: string; hdrs?: string } };
    try {
      r = await link.fast.api(`$JS.API.STREAM.MSG.GET.${stream}`, { next_by_subj: filter, seq });
    } catch (e) {
      if (e instanceof NatsApiError && e.code === NO_MESSAGE_FOUND) return out;
      throw e;
    }
    const m = r.message;
    const kvOp = m.hdrs ? /\r\nKV-Operation:\s*(\w+)/i.exec(atob(m.hdrs))?.[1] : undefined;
    out.push({ seq: m.seq, subject: m.subject, data: base64Bytes(m.data ?? ""), kvOp });
    seq = m.seq + 1;
  }
  return out;
}

/** JetStream's "no message found" API error code. */
const NO_MESSAGE_FOUND = 10037;

function base64Bytes(b64: string): Uint8Array {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** One no-wait pull of up to `batch` messages; ends at `batch` or a status message. */
function pull(
  nc: NatsConnection,
  api: string,
  batch: number,
  timeoutMs: number,
): Promise<ScannedMsg[]> {
  const inbox = createInbox();
  const out: ScannedMsg[] = [];
  return new Promise((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const finish = (err?: Error) => {
      clearTimeout(timer);
      sub.unsubscribe();
      if (err) reject(err);
      else resolve(out);
    };
    // Idle bound: each arriving message re-arms it, so a long scan is fine
    // but a silent server is not waited on forever.
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(
        () =>
          finish(
            new NatsRequestTimeout(`no reply from NATS for ${timeoutMs} ms while reading ${api}`),
          ),
        timeoutMs,
      );
    };
    const sub = nc.subscribe(inbox, {
      callback: (err: Error | null, m: NatsMsg) => {
        if (err) return finish(err);
        const code = m.headers?.code ?? 0;
        if (code !== 0 || !m.reply) {
          // 404 no messages / 408 request expired: this pull is over.
          return finish();
        }
        out.push({
          seq: ackSeq(m.reply),
          subject: m.subject,
          data: m.data,
          kvOp: m.headers?.get("KV-Operation") || undefined,
        });
        if (out.length >= batch) finish();
        else arm();
      },
    });
    arm();
    nc.publish(api, JSON.stringify({ batch, no_wait: true }), { reply: inbox });
  });
}

/** The stream sequence from a JetStream delivery's reply subject. */
function ackSeq(reply: string): number {
  // $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<time>.<pending>
  // or, with domain and account hash: $JS.ACK.<domain>.<hash>.<stream>...
  const t = reply.split(".");
  return Number(t.length === 9 ? t[5] : t[7]);
}
