/**
 * Notices new messages without taking them, for clients subscribed to
 * `ipc://inbox`. The broker has no push, and a `wait` without ack returns at
 * once while anything is queued, so the watcher switches between two modes:
 *
 * - queue empty: one long `wait` (no ack) on the agent's connection — the
 *   broker answers the moment a message lands;
 * - queue not empty (the assistant has not read it yet): every `pollMs` a
 *   `whoami` (queue depth only), and a `check` without ack when the depth
 *   changed, to diff the ids.
 *
 * It shares the agent's one connection: requests are pipelined, so a parked
 * `wait` does not delay tool calls, and the session (renames, re-registering
 * after a failover) is always the current one. It runs only while somebody
 * is subscribed.
 *
 * @module
 */

import { logger } from "../log.ts";
import type { WireMessage } from "../protocol/messages.ts";
import { type McpAgent, PEEK_LIMIT } from "./agent.ts";

const log = logger("mcp");

/** Watcher settings. */
export interface InboxWatcherOptions {
  agent: McpAgent;
  /** Called once per read that found messages not seen before. */
  onArrival: (messages: WireMessage[]) => void;
  /** Poll interval while the queue is not empty (default 1 s). */
  pollMs?: number;
  /** Longest parked `wait` (default 25 s). */
  waitMs?: number;
}

/** Watches the agent's queue for arrivals. */
export class InboxWatcher {
  readonly #o: InboxWatcherOptions;
  #abort: AbortController | undefined;
  #loop: Promise<void> | undefined;
  /** Ids seen in the queue; null before the first read (what waits then is not "new"). */
  #known: Set<string> | null = null;
  #depth = -1;

  constructor(options: InboxWatcherOptions) {
    this.#o = options;
  }

  /** True while watching. */
  get running(): boolean {
    return this.#abort !== undefined;
  }

  /** Starts watching; no-op when running. */
  start(): void {
    if (this.#abort) return;
    const abort = this.#abort = new AbortController();
    this.#known = null;
    this.#depth = -1;
    this.#loop = this.#run(abort.signal).catch((e) =>
      log.warn(`inbox watcher stopped: ${(e as Error).message}`)
    );
  }

  /** The queue changed in a way a depth poll can miss (our own acks): read it next time. */
  resync(): void {
    this.#depth = -1;
  }

  /** Stops watching. A parked `wait` ends later, with its timeout or the connection. */
  stop(): void {
    this.#abort?.abort();
    this.#abort = undefined;
  }

  /** Stops and waits for the loop to end (after the agent's client is closed). */
  async close(): Promise<void> {
    this.stop();
    const loop = this.#loop;
    this.#loop = undefined;
    await loop;
  }

  async #run(signal: AbortSignal): Promise<void> {
    const { agent } = this.#o;
    const pollMs = this.#o.pollMs ?? 1_000;
    while (!signal.aborted) {
      try {
        const c = await agent.client();
        if (!c.session) {
          await sleep(pollMs, signal);
          continue;
        }
        if (this.#known !== null && this.#known.size === 0) {
          const r = await c.wait({ timeoutMs: this.#o.waitMs ?? 25_000, ack: false, limit: 1 });
          if (signal.aborted) return;
          if (r.messages.length === 0) continue;
          this.#depth = -1; // the wait reply has no depth: read the queue next
        } else if (this.#known !== null) {
          await sleep(pollMs, signal);
          if (signal.aborted) return;
          const { queued } = await c.whoami();
          if (queued === this.#depth) continue;
        }
        const r = await c.check({ ack: false, limit: PEEK_LIMIT });
        if (signal.aborted) return;
        this.#depth = r.remaining;
        this.#see(r.messages);
      } catch (e) {
        if (signal.aborted) return;
        log.debug(`inbox watcher: ${(e as Error).message}`);
        await sleep(pollMs, signal);
      }
    }
  }

  #see(messages: WireMessage[]): void {
    const first = this.#known === null;
    const fresh = messages.filter((m) =>
      !this.#known?.has(m.id) && !this.#o.agent.ledger.hidden(m.id)
    );
    this.#known = new Set(messages.map((m) => m.id));
    if (!first && fresh.length) {
      try {
        this.#o.onArrival(fresh);
      } catch { /* observer */ }
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
