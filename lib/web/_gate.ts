/**
 * The console's front door: owns the console's TCP port, accepts with a cap
 * on open connections, a time limit for each request head and an idle limit,
 * and relays each admitted connection to the HTTP server behind it (on a
 * private Unix socket). `Deno.serve` has no connection cap, no head timeout,
 * and ends the process when accepting fails for lack of file descriptors
 * (EMFILE); here a failed accept is logged and retried after a pause, so
 * thousands of idle connections cost a bounded number of descriptors and
 * never stop the broker beside the console.
 *
 * @module
 */

import { logger, throttle } from "../log.ts";

const log = logger("web");
const refusedLog = throttle(10_000);
const failedLog = throttle(10_000);

/** The gate's limits. */
export interface GateLimits {
  /** Connections relayed at once; more are answered 503 and closed. */
  maxConnections: number;
  /** Time to send a request head (from the connection's start, or after a reply). */
  headerMs: number;
  /** A connection with no bytes either way for this long is closed. */
  idleMs: number;
  /** First pause after a failed accept; it doubles up to 1 s. */
  backoffMs: number;
}

const BUSY = new TextEncoder().encode(
  "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: 29\r\n" +
    "connection: close\r\nretry-after: 5\r\n\r\nToo many console connections\n",
);

interface Relay {
  client: Deno.Conn;
  inner?: Deno.Conn;
  lastByte: number;
  /** When the current request head must be complete; 0 when none is being sent. */
  headBy: number;
  /** The server answered since the last head: the next client byte starts a new head. */
  answered: boolean;
  closed: boolean;
}

/** Accepts on `listener` within limits and relays to `connectInner()`. */
export class ConnectionGate {
  readonly #listener: Deno.Listener;
  readonly #connectInner: () => Promise<Deno.Conn>;
  readonly #limits: GateLimits;
  readonly #relays = new Set<Relay>();
  readonly #sweep: ReturnType<typeof setInterval>;
  readonly #accepting: Promise<void>;
  readonly #tasks = new Set<Promise<void>>();
  /** Counts for tests and the chaos report. */
  readonly stats = { accepted: 0, refused: 0, acceptErrors: 0, timedOut: 0 };

  constructor(
    listener: Deno.Listener,
    connectInner: () => Promise<Deno.Conn>,
    limits: GateLimits,
  ) {
    this.#listener = listener;
    this.#connectInner = connectInner;
    this.#limits = limits;
    this.#sweep = setInterval(
      () => this.#expire(),
      Math.max(20, Math.min(1_000, limits.headerMs / 4)),
    );
    this.#accepting = this.#acceptLoop();
  }

  /** Connections relayed now. */
  get open(): number {
    return this.#relays.size;
  }

  async #acceptLoop(): Promise<void> {
    let backoff = 0;
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await this.#listener.accept();
        backoff = 0;
      } catch (e) {
        if (e instanceof Deno.errors.BadResource || e instanceof Deno.errors.Interrupted) return;
        // EMFILE / ENFILE (out of descriptors), or a connection reset before
        // it was accepted: pause and go on; never let it end the process.
        this.stats.acceptErrors++;
        backoff = Math.min(1_000, backoff ? backoff * 2 : this.#limits.backoffMs);
        failedLog((more) =>
          log.warn(
            `console accept failed: ${(e as Error).message}; retrying in ${backoff} ms` +
              (more ? ` (+${more} more since last report)` : ""),
            { event: "accept_failed", error: (e as Error).name },
          )
        );
        await new Promise((r) => setTimeout(r, backoff));
        continue;
      }
      if (this.#relays.size >= this.#limits.maxConnections) {
        this.stats.refused++;
        refusedLog((more) =>
          log.warn(
            `console connection refused: ${this.#limits.maxConnections} already open` +
              (more ? ` (+${more} more since last report)` : ""),
          )
        );
        this.#track(refuse(conn));
        continue;
      }
      this.stats.accepted++;
      const now = Date.now();
      const relay: Relay = {
        client: conn,
        lastByte: now,
        headBy: now + this.#limits.headerMs,
        answered: false,
        closed: false,
      };
      this.#relays.add(relay);
      this.#track(this.#relay(relay));
    }
  }

  #track(p: Promise<void>): void {
    const t = p.catch(() => {}).finally(() => this.#tasks.delete(t));
    this.#tasks.add(t);
  }

  async #relay(r: Relay): Promise<void> {
    try {
      r.inner = await this.#connectInner();
      if (r.closed) return;
      await Promise.all([
        this.#pump(r, r.client, r.inner, true),
        this.#pump(r, r.inner, r.client, false),
      ]);
    } finally {
      this.#close(r);
    }
  }

  /** Copies `from` to `to`; `fromClient` tracks request heads. */
  async #pump(r: Relay, from: Deno.Conn, to: Deno.Conn, fromClient: boolean): Promise<void> {
    const buf = new Uint8Array(16 * 1024);
    // The last bytes of a head, to find its end across reads.
    let tail = 0;
    try {
      for (;;) {
        const n = await from.read(buf);
        if (n === null) break;
        const now = Date.now();
        r.lastByte = now;
        const chunk = buf.subarray(0, n);
        if (fromClient) {
          if (r.headBy === 0 && r.answered) {
            r.headBy = now + this.#limits.headerMs;
            r.answered = false;
            tail = 0;
          }
          if (r.headBy !== 0) {
            for (let i = 0; i < n; i++) {
              // "\r\n\r\n" ends the head.
              const c = chunk[i];
              tail = (c === 0x0d && (tail === 0 || tail === 2)) ||
                  (c === 0x0a && (tail === 1 || tail === 3))
                ? tail + 1
                : c === 0x0d
                ? 1
                : 0;
              if (tail === 4) {
                r.headBy = 0;
                break;
              }
            }
          }
        } else if (r.headBy === 0) {
          r.answered = true;
        }
        let at = 0;
        while (at < n) at += await to.write(chunk.subarray(at));
      }
    } catch { /* reset, or closed by the other direction */ }
    // One side finished: the exchange is over (HTTP/1.1 has no useful half-close here).
    this.#close(r);
  }

  #expire(): void {
    const now = Date.now();
    for (const r of this.#relays) {
      if ((r.headBy !== 0 && now > r.headBy) || now - r.lastByte > this.#limits.idleMs) {
        this.stats.timedOut++;
        this.#close(r);
      }
    }
  }

  #close(r: Relay): void {
    if (r.closed) return;
    r.closed = true;
    this.#relays.delete(r);
    for (const c of [r.client, r.inner]) {
      try {
        c?.close();
      } catch { /* closed */ }
    }
  }

  /** Stops accepting; open connections go on. Safe twice. */
  async stop(): Promise<void> {
    try {
      this.#listener.close();
    } catch { /* closed */ }
    await this.#accepting;
  }

  /**
   * Stops accepting, gives open connections up to `graceMs` to finish (the
   * server behind ends its replies), then closes the rest. Safe twice.
   */
  async close(graceMs = 1_000): Promise<void> {
    await this.stop();
    clearInterval(this.#sweep);
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.all([...this.#tasks]),
      new Promise((r) => timer = setTimeout(r, graceMs)),
    ]);
    clearTimeout(timer);
    for (const r of [...this.#relays]) this.#close(r);
    await Promise.all([...this.#tasks]);
  }
}

/** Answers 503 and closes (bounded: a peer that does not read is cut off). */
async function refuse(conn: Deno.Conn): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      conn.write(BUSY),
      new Promise((r) => timer = setTimeout(r, 1_000)),
    ]);
  } catch {
    /* gone */
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* closed */ }
  }
}
