/**
 * One client connection to the broker: detects the framing from the first
 * byte (`{` legacy, HTTP verbs refused, anything else length-prefixed),
 * decodes requests, runs them through the service concurrently (pipelining;
 * replies carry the request `id`), and writes replies one batch at a time from
 * a queue so frames never interleave. Reading pauses while too many reply
 * bytes wait to be written, so a client that never reads costs bounded memory.
 * Until a connection has shown a session it may send only small frames, its
 * read buffer is small, and what it buffers counts against one budget shared
 * by all such connections, so unauthenticated peers cost bounded memory too.
 *
 * @module
 */

import { IpcError } from "../protocol/errors.ts";
import type { ErrorCode } from "../protocol/errors.ts";
import { FrameDecoder, FrameWriter, JsonObjectScanner } from "../protocol/framing.ts";
import type { RequestId } from "../protocol/messages.ts";
import { decodePayload, parseRequest, requestIdOf } from "../protocol/validate.ts";
import { logger, throttle } from "../log.ts";
import { LIMITS, TIMEOUTS } from "../defaults.ts";
import type { HandlerResult, Peer } from "./peer.ts";
import type { PeerOwners } from "./peer_owners.ts";
import type { BrokerService } from "./service.ts";

const log = logger("broker");
const httpRefused = throttle(10_000);
const encoder = new TextEncoder();

/** Reading stops while more than this many reply bytes wait to be written. */
export const MAX_PENDING_WRITE = LIMITS.maxPendingWriteBytes;
/**
 * Reading stops while this many requests of one connection are in the works:
 * a client that pipelines `wait`s (which answer late) without end would
 * otherwise hold unbounded memory, since no reply bytes pile up to stop it.
 */
export const MAX_INFLIGHT = LIMITS.maxInflightRequests;
/** A write that does not finish within this closes the connection. */
export const WRITE_TIMEOUT_MS = TIMEOUTS.writeMs;

const HTTP_VERBS = ["GET ", "POST", "PUT ", "HEAD", "DELE", "OPTI", "PATC", "CONN", "TRAC", "PRI "];

let nextPeerId = 1;

/** Refused connections waiting for their peer to read the refusal; beyond the cap they close at once. */
let lingering = 0;
const MAX_LINGERING = 256;
/** How long a refused connection may take to show its framing (legacy or framed). */
const REFUSAL_SNIFF_MS = 200;

/** A connection with a session reads into one buffer of this size. */
const READ_BUFFER_BYTES = 64 * 1024;
/** Until then, into one of this size (thousands of idle unauthenticated peers cost little). */
const SMALL_READ_BUFFER_BYTES = 4 * 1024;
/**
 * Read buffers of closed connections, kept for the next ones: a legacy client
 * opens a connection per request, and a fresh 64 KiB buffer each time kept
 * the garbage collector busy (11% of the broker's time under legacy load).
 */
const spareReadBuffers: Uint8Array[] = [];
const spareSmallBuffers: Uint8Array[] = [];
const MAX_SPARE_READ_BUFFERS = 64;

function takeBuffer(size: number): Uint8Array {
  const pool = size === READ_BUFFER_BYTES ? spareReadBuffers : spareSmallBuffers;
  return pool.pop() ?? new Uint8Array(size);
}

function giveBuffer(buf: Uint8Array): void {
  const pool = buf.length === READ_BUFFER_BYTES ? spareReadBuffers : spareSmallBuffers;
  if (pool.length < MAX_SPARE_READ_BUFFERS) pool.push(buf);
  else free(buf);
}

/**
 * Gives `buf`'s memory back now rather than at the next full garbage
 * collection, which an idle broker may not run for a long time: after a
 * flood of connections closes, the broker's memory goes down at once.
 */
function free(buf: Uint8Array | null | undefined): void {
  if (!buf || buf.buffer.byteLength === 0) return;
  try {
    (buf.buffer as ArrayBuffer).transfer(0);
  } catch { /* shared or already detached */ }
}

/**
 * Bytes of unfinished requests held for connections without a session, all
 * together, against a maximum; one per broker.
 */
export class PreAuthBudget {
  readonly max: number;
  used = 0;
  /** Connections closed because the budget was spent. */
  refused = 0;

  constructor(max: number) {
    this.max = max;
  }
}

/** Why a connection's signal aborts. */
const CLOSED = new IpcError("E_UNAVAILABLE", "Connection closed");

/** Limits a connection enforces. */
export interface ConnectionLimits {
  maxFrame: number;
  idleTimeoutMs: number;
  /** The frame cap until the connection has shown a session (default: `maxFrame`). */
  preAuthMaxFrame?: number;
  /** The budget of bytes buffered before a session, shared by the broker's connections. */
  preAuthBudget?: PreAuthBudget;
  /** Finds who is on the other end (per-peer limits). */
  owners?: PeerOwners;
}

/** A live connection. */
export class BrokerConnection {
  readonly peer: Peer;
  readonly #conn: Deno.Conn;
  readonly #service: BrokerService;
  readonly #limits: ConnectionLimits;
  readonly #abort = new AbortController();
  /** Replies waiting to be written, encoded in place. */
  readonly #out = new FrameWriter();
  #pendingBytes = 0;
  #writing = false;
  #writeStarted = 0;
  #drainWaiters: (() => void)[] = [];
  #inflight = 0;
  #idleWaiters: (() => void)[] = [];
  #slotWaiters: (() => void)[] = [];
  #closed = false;
  /** When a frame (or the connection) started and is not complete: the idle clock. */
  partialSince: number;
  #mode: "unknown" | "framed" | "legacy" = "unknown";
  /** Bytes this connection holds of the pre-auth budget. */
  #reserved = 0;
  #ownerLookup: Promise<string> | undefined;
  /** A legacy refusal being written. */
  #refusal: Promise<unknown> | undefined;

  constructor(conn: Deno.Conn, service: BrokerService, limits: ConnectionLimits) {
    this.#conn = conn;
    this.#service = service;
    this.#limits = limits;
    this.partialSince = Date.now();
    const id = nextPeerId++;
    const owners = limits.owners;
    const remote = conn.remoteAddr as Deno.NetAddr;
    const local = remote?.transport === "tcp" &&
      (remote.hostname === "::1" || /^(::ffff:)?127\./.test(remote.hostname));
    const peer: Peer = { id, legacy: false, local, failures: 0, signal: this.#abort.signal };
    if (owners && remote?.transport === "tcp") {
      peer.owner = () =>
        this.#ownerLookup ??= owners.keyOf(remote, `conn:${id}`).then((key) => {
          peer.ownerKey = key;
          return key;
        });
    }
    this.peer = peer;
  }

  /** Let in by the broker's per-peer share (see `server.ts`); until then, it is not read. */
  admitted = false;

  /** Who is on the other end, once looked up (see {@linkcode Peer.owner}). */
  get ownerKey(): string | undefined {
    return this.peer.ownerKey;
  }

  /**
   * Refuses the connection: one error reply (`code`, e.g. E_BUSY) in the
   * client's own framing, then the close. For a connection that has not been
   * served yet. The first bytes, if they come within a moment, tell a legacy
   * client (a JSON object, read to the close) from a framed one; a client
   * that sends nothing gets a frame.
   */
  async refuse(code: ErrorCode, message: string): Promise<void> {
    if (this.#closed) return;
    const sink = new Uint8Array(4096);
    let read: Promise<number | null> | undefined = this.#conn.read(sink).catch(() => null);
    const first = await within(read, REFUSAL_SNIFF_MS);
    if (first !== TIMED_OUT) read = undefined;
    if (typeof first === "number" && startsLegacy(sink[0])) {
      await this.#writeLegacy(errorBody(code, message));
    } else {
      this.#queueReply(undefined, errorBody(code, message));
      await within(this.#flushAndWait(), 1_000);
    }
    if (first !== null && lingering < MAX_LINGERING) {
      lingering++;
      try {
        // Half-close and read what the peer sent until it closes (bounded): a
        // close with its request unread would reset the connection, and the
        // peer might lose the reply.
        await (this.#conn as Deno.TcpConn).closeWrite();
        const until = Date.now() + 500;
        while (Date.now() < until) {
          const n = await within(read ?? this.#conn.read(sink), until - Date.now());
          read = undefined;
          if (n === null || n === TIMED_OUT) break;
        }
      } catch {
        /* gone */
      } finally {
        lingering--;
      }
    }
    this.close();
  }

  /** True once closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** True when a write has been stuck longer than the write timeout. */
  writeStuck(now: number): boolean {
    return this.#writing && now - this.#writeStarted > WRITE_TIMEOUT_MS;
  }

  /** Reads and serves until the peer leaves or the connection is closed. */
  async serve(): Promise<void> {
    let buf = takeBuffer(SMALL_READ_BUFFER_BYTES);
    const preAuthMax = Math.min(
      this.#limits.preAuthMaxFrame ?? this.#limits.maxFrame,
      this.#limits.maxFrame,
    );
    // Frames are decoded at once, before the next read reuses `buf`: no copy.
    // Oversize headers are deferred, not refused, until a session: a register
    // may be on its way in the same chunk (see below).
    const decoder = new FrameDecoder(preAuthMax, { copy: false, deferOversize: true });
    let authed = false;
    const scanner = new JsonObjectScanner();
    let legacyChunks: Uint8Array[] = [];
    try {
      while (!this.#closed) {
        if (this.#pendingBytes > MAX_PENDING_WRITE) await this.#drained();
        if (this.#inflight >= MAX_INFLIGHT) {
          await new Promise<void>((r) => this.#slotWaiters.push(r));
          continue;
        }
        if (authed && buf.length !== READ_BUFFER_BYTES) {
          // A full-size buffer now, swapped before a read: no chunk points into the old one.
          giveBuffer(buf);
          buf = takeBuffer(READ_BUFFER_BYTES);
        }
        let n: number | null;
        try {
          n = await this.#conn.read(buf);
        } catch {
          break; // reset by peer, or closed by us
        }
        if (n === null) break;
        const chunk = buf.subarray(0, n);
        if (this.#mode === "unknown") {
          if (startsLegacy(chunk[0])) {
            this.#mode = "legacy";
            (this.peer as { legacy: boolean }).legacy = true;
          } else if (looksLikeHttp(chunk)) {
            httpRefused((more) =>
              log.warn(
                `HTTP request on the broker port refused${
                  more ? ` (+${more} more since last report)` : ""
                }`,
              )
            );
            break;
          } else {
            this.#mode = "framed";
            // Pipelined replies must not wait for ACKs. (A legacy reply is one
            // write before the close: Nagle never holds it, so spare the call.)
            try {
              (this.#conn as Deno.TcpConn).setNoDelay?.(true);
            } catch { /* not TCP */ }
          }
        }
        if (this.#mode === "legacy") {
          // Legacy requests never have a session on the connection: all of it counts.
          if (!this.#reserve(this.#reserved + chunk.length)) break;
          let end: number;
          try {
            end = scanner.scan(chunk);
          } catch {
            break;
          }
          if (scanner.length > this.#limits.maxFrame) {
            await this.#writeLegacy({
              status: "error",
              code: "E_TOO_LARGE",
              message: `Request is over the limit of ${this.#limits.maxFrame} bytes`,
            });
            break;
          }
          if (end < 0) {
            legacyChunks.push(chunk.slice());
            continue;
          }
          legacyChunks.push(chunk.subarray(0, end));
          const payload = concat(legacyChunks);
          legacyChunks = [];
          await this.#serveLegacy(payload);
          break; // one request per legacy connection
        }
        // Framed.
        if (!authed && this.peer.name !== undefined) {
          // A session now: full frames, no share of the pre-auth budget.
          authed = true;
          decoder.maxFrame = this.#limits.maxFrame;
          this.#reserve(0);
        }
        let completed = false;
        let events = decoder.push(chunk);
        while (decoder.deferredAt >= 0) {
          // A header over the pre-session cap: dispatch what came before it,
          // let in-flight requests (a register, a resume) answer, then judge
          // the frame by the limit that applies now.
          const rest = chunk.subarray(decoder.deferredAt);
          for (const event of events) {
            completed = true;
            if (event.kind === "frame") this.#dispatch(event.payload);
          }
          await this.#idle();
          if (this.#closed) break;
          if (!authed && this.peer.name !== undefined) {
            authed = true;
            this.#reserve(0);
          }
          decoder.maxFrame = authed ? this.#limits.maxFrame : preAuthMax;
          events = decoder.push(rest);
        }
        if (this.#closed) break;
        for (const event of events) {
          completed = true;
          if (event.kind === "error") {
            const details = event.limit === undefined ? undefined : { max_frame: event.limit };
            this.#queueReply(undefined, errorBody("E_BAD_FRAME", event.message, details));
            await this.#flushAndWait();
            this.close();
            return;
          }
          this.#dispatch(event.payload);
        }
        // The idle clock runs only while a frame is incomplete.
        if (!decoder.partial) this.partialSince = 0;
        else if (completed || this.partialSince === 0) this.partialSince = Date.now();
        if (!authed && !this.#reserve(decoder.allocated)) break;
      }
      // The peer closed its side (or we did): blocked waits end now (a wait
      // outliving its connection kept the slot, and its share of the peer's,
      // for up to 5 minutes); other in-flight handlers finish, then flush.
      if (!this.#abort.signal.aborted) this.#abort.abort(CLOSED);
      await this.#refusal;
      await this.#idle();
      await this.#flushAndWait();
    } finally {
      this.close();
      this.#reserve(0);
      // No read is pending and nothing refers to it any more: reuse it.
      giveBuffer(buf);
      for (const c of legacyChunks) free(c);
      free(decoder.release());
    }
  }

  /**
   * Sets this connection's share of the pre-auth budget to `bytes`; false
   * (after an E_BUSY reply) when the budget cannot cover it.
   */
  #reserve(bytes: number): boolean {
    const budget = this.#limits.preAuthBudget;
    if (!budget || bytes === this.#reserved) return true;
    if (bytes > this.#reserved && budget.used - this.#reserved + bytes > budget.max) {
      budget.refused++;
      const message = "Broker busy: too many unfinished requests from connections without a " +
        "session; retry shortly";
      if (this.#mode === "legacy") {
        this.#refusal = this.#writeLegacy({ status: "error", code: "E_BUSY", message });
      } else this.#queueReply(undefined, errorBody("E_BUSY", message));
      return false;
    }
    budget.used += bytes - this.#reserved;
    this.#reserved = bytes;
    return true;
  }

  /** Closes the connection; in-flight waits are cancelled. Safe twice. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    // A shared reason: abort() without one builds a DOMException (and its
    // stack) per connection: 4% of the broker's time under legacy load.
    this.#abort.abort(CLOSED);
    try {
      this.#conn.close();
    } catch { /* already closed */ }
    for (const w of this.#drainWaiters.splice(0)) w();
    for (const w of this.#slotWaiters.splice(0)) w();
  }

  /** Resolves when in-flight requests have answered (shutdown). */
  idle(): Promise<void> {
    return this.#idle();
  }

  #idle(): Promise<void> {
    if (this.#inflight === 0) return Promise.resolve();
    return new Promise((r) => this.#idleWaiters.push(r));
  }

  #dispatch(payload: Uint8Array): void {
    let id: RequestId | undefined;
    let work: Promise<HandlerResult>;
    try {
      const raw = decodePayload(payload);
      id = requestIdOf(raw);
      const req = parseRequest(raw);
      work = this.#service.handle(req, this.peer);
    } catch (e) {
      this.#queueReply(id, errorFrom(e));
      return;
    }
    this.#inflight++;
    // Two handlers, no `finally`: one promise less per request.
    work.then(
      (result) => {
        try {
          this.#queueOk(id, result.reply);
          // Queued behind every earlier reply on this connection: handed over.
          if (result.afterWrite && !this.#closed) {
            result.afterWrite().catch((e) =>
              log.warn(`after-reply work failed: ${(e as Error).message}`)
            );
          }
        } finally {
          this.#answered();
        }
      },
      (e) => {
        try {
          this.#queueReply(id, errorFrom(e));
        } finally {
          this.#answered();
        }
      },
    );
  }

  #answered(): void {
    if (--this.#inflight === 0 && this.#idleWaiters.length) {
      for (const w of this.#idleWaiters.splice(0)) w();
    }
    if (this.#slotWaiters.length) { for (const w of this.#slotWaiters.splice(0)) w(); }
  }

  async #serveLegacy(payload: Uint8Array): Promise<void> {
    let result: HandlerResult | undefined;
    let reply: Record<string, unknown>;
    try {
      const req = parseRequest(decodePayload(payload));
      result = await this.#service.handle(req, this.peer);
      reply = { status: "ok", ...result.reply };
    } catch (e) {
      reply = withLegacyPhrase(errorFrom(e));
    }
    const written = await this.#writeLegacy(reply);
    if (written && result?.afterWrite) {
      try {
        await result.afterWrite();
      } catch (e) {
        log.error(`legacy check ack failed: ${(e as Error).message}`);
      }
    }
  }

  async #writeLegacy(reply: Record<string, unknown>): Promise<boolean> {
    try {
      await writeAll(this.#conn, encoder.encode(JSON.stringify(reply)));
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Queues `{id, status: "ok", ...reply}` written as text: the reply's own
   * JSON after the head, with no copy of the object (keys the reply repeats
   * come later and win, as with the spread).
   */
  #queueOk(id: RequestId | undefined, reply: Record<string, unknown>): void {
    if (this.#closed) return;
    const body = JSON.stringify(reply);
    const head = id === undefined ? '{"status":"ok"' : `{"id":${JSON.stringify(id)},"status":"ok"`;
    this.#queueText(body.length > 2 ? `${head},${body.slice(1)}` : `${head}}`);
  }

  #queueReply(id: RequestId | undefined, body: Record<string, unknown>): void {
    if (this.#closed) return;
    const reply = id === undefined ? body : { id, ...body };
    this.#queueText(JSON.stringify(reply));
  }

  #queueText(json: string): void {
    this.#pendingBytes += this.#out.push(json);
    if (!this.#writing && !this.#flushQueued) {
      this.#flushQueued = true;
      setImmediate(this.#flushSoon);
    }
  }

  /** The replies of one event-loop turn (a group commit answers many) go in one write. */
  #flushQueued = false;
  #flushSoon = () => {
    this.#flushQueued = false;
    if (!this.#writing) void this.#flush();
  };

  async #flush(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#out.length > 0 && !this.#closed) {
        const batch = this.#out.take();
        this.#writeStarted = Date.now();
        await writeAll(this.#conn, batch);
        this.#out.release(batch);
        this.#pendingBytes -= batch.length;
        if (this.#pendingBytes <= MAX_PENDING_WRITE) {
          for (const w of this.#drainWaiters.splice(0)) w();
        }
      }
    } catch {
      this.close();
    } finally {
      this.#writing = false;
      if (this.#out.length === 0 || this.#closed) {
        for (const w of this.#drainWaiters.splice(0)) w();
      }
    }
  }

  #drained(): Promise<void> {
    if (this.#pendingBytes <= MAX_PENDING_WRITE || this.#closed) return Promise.resolve();
    return new Promise((r) => this.#drainWaiters.push(r));
  }

  async #flushAndWait(): Promise<void> {
    while (!this.#closed && (this.#writing || this.#out.length > 0)) {
      if (!this.#writing) void this.#flush();
      await new Promise<void>((r) => this.#drainWaiters.push(r));
    }
  }
}

/** True when a connection's first byte starts a legacy request (a JSON object). */
function startsLegacy(byte: number): boolean {
  return byte === 0x7b || byte === 0x20 || byte === 0x0a;
}

const TIMED_OUT = Symbol("timed out");

/** `work`'s result, or {@linkcode TIMED_OUT} after `ms` (`work` goes on). */
async function within<T>(work: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<typeof TIMED_OUT>((r) => timer = setTimeout(() => r(TIMED_OUT), ms)),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function looksLikeHttp(chunk: Uint8Array): boolean {
  if (chunk.length < 4) return chunk[0] >= 0x41 && chunk[0] <= 0x5a; // uppercase ASCII start
  const head = String.fromCharCode(chunk[0], chunk[1], chunk[2], chunk[3]);
  return HTTP_VERBS.includes(head);
}

function errorBody(code: ErrorCode, message: string, details?: Record<string, unknown>) {
  return { status: "error", code, message, ...details };
}

function errorFrom(e: unknown): Record<string, unknown> {
  if (e instanceof IpcError) return errorBody(e.code, e.message, e.details);
  log.error(`internal error: ${(e as Error)?.stack ?? e}`);
  return errorBody("E_INTERNAL", `Internal error: ${(e as Error)?.message ?? e}`);
}

/**
 * The original broker's words for its two auth failures, which scripts
 * written for it (its own test_security.py among them) look for in
 * `message`: "Invalid auth token" and "Invalid or missing session token".
 * Legacy replies only, put before our message; the code stays ours.
 */
const LEGACY_PHRASES: Partial<Record<ErrorCode, string>> = {
  E_AUTH: "Invalid auth token",
  E_SESSION: "Invalid or missing session token",
};

function withLegacyPhrase(body: Record<string, unknown>): Record<string, unknown> {
  const phrase = LEGACY_PHRASES[body.code as ErrorCode];
  return phrase ? { ...body, message: `${phrase}: ${body.message}` } : body;
}

function concat(parts: Uint8Array[]): Uint8Array {
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let at = 0;
  while (at < data.length) at += await conn.write(data.subarray(at));
}
