/**
 * The console's live feed: broker events fanned out to browsers as
 * server-sent events. Each event is serialised once; a browser that falls too
 * far behind is dropped (its EventSource reconnects and reloads), so a stalled
 * tab never makes the broker buffer without bound.
 *
 * @module
 */

import type { BrokerEvent, BrokerEvents } from "../broker/events.ts";
import { pageMessageFromWire } from "./_api.ts";
import { securityHeaders } from "./_guard.ts";

const enc = new TextEncoder();
/** Chunks a browser may have unread before it is dropped. */
const BACKLOG = 1_000;
const HEARTBEAT_MS = 20_000;

/** A rename seen by this console, newest last. */
export interface RenameSeen {
  from: string;
  to: string;
  at: number;
}

/** Fans broker events out to event-stream responses. */
export class LiveFeed {
  readonly #clients = new Set<ReadableStreamDefaultController<Uint8Array>>();
  readonly #off: () => void;
  readonly #maxClients: number;
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  /** Renames seen while running (the store keeps only the last one per instance). */
  readonly renames: RenameSeen[] = [];

  constructor(events: BrokerEvents, maxClients = 64) {
    this.#maxClients = maxClients;
    this.#off = events.on((e) => this.#publish(e));
  }

  /** Number of connected browsers. */
  get size(): number {
    return this.#clients.size;
  }

  #publish(e: BrokerEvent): void {
    if (e.type === "renamed") {
      this.renames.push({ from: e.from, to: e.to, at: Date.now() });
      if (this.renames.length > 200) this.renames.shift();
    }
    if (this.#clients.size === 0) return;
    const kind = e.type === "message" || e.type === "acked" || e.type === "delivered"
      ? e.type
      : "instance";
    const data = e.type === "message"
      ? { type: e.type, message: pageMessageFromWire(e.message) }
      : e;
    this.#send(enc.encode(`event: ${kind}\ndata: ${JSON.stringify(data)}\n\n`));
  }

  #send(chunk: Uint8Array): void {
    for (const c of this.#clients) {
      if ((c.desiredSize ?? 0) <= 0) {
        this.#drop(c);
        continue;
      }
      c.enqueue(chunk);
    }
  }

  #drop(c: ReadableStreamDefaultController<Uint8Array>): void {
    if (!this.#clients.delete(c)) return;
    try {
      c.close();
    } catch { /* already closed */ }
    if (this.#clients.size === 0) {
      clearInterval(this.#heartbeat);
      this.#heartbeat = undefined;
    }
  }

  /** A new event-stream response, or a 503 when too many browsers are connected. */
  open(): Response {
    if (this.#clients.size >= this.#maxClients) {
      const h = securityHeaders({ "content-type": "text/plain; charset=utf-8" });
      return new Response("Too many open consoles\n", { status: 503, headers: h });
    }
    let ctrl!: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>({
      start: (c) => {
        ctrl = c;
        // Reconnect after 2 s when the stream ends (broker restart, drop).
        c.enqueue(enc.encode("retry: 2000\n\nevent: hello\ndata: {}\n\n"));
      },
      cancel: () => this.#drop(ctrl),
    }, new CountQueuingStrategy({ highWaterMark: BACKLOG }));
    this.#clients.add(ctrl);
    this.#heartbeat ??= setInterval(() => this.#send(enc.encode(": ping\n\n")), HEARTBEAT_MS);
    const headers = securityHeaders({
      "content-type": "text/event-stream; charset=utf-8",
      "x-accel-buffering": "no",
    });
    return new Response(body, { headers });
  }

  /** Ends every stream and stops listening. */
  close(): void {
    this.#off();
    for (const c of [...this.#clients]) this.#drop(c);
    clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
  }
}
