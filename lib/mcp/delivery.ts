/**
 * At-least-once delivery to the assistant. Tools fetch messages without
 * acknowledging them; the ids are held against the JSON-RPC request that
 * carries them, and acknowledged to the broker only once the response with
 * that id has been written out by the transport. A response that is never
 * written (process killed, request cancelled, error reply) leaves the
 * messages queued, so they are delivered again.
 *
 * While held, and after writing until the broker confirms the ack, the ids
 * are hidden from other results so the assistant does not see them twice.
 *
 * @module
 */

import type { JSONRPCMessage } from "../deps.ts";
import { logger } from "../log.ts";

const log = logger("mcp");

/** A JSON-RPC request id. */
export type RpcId = string | number;

/** Something with the MCP transport's `send` (any transport). */
export interface Sender {
  send(message: JSONRPCMessage, options?: unknown): Promise<void>;
}

/**
 * Wraps `transport.send` so `written` runs after each response has been
 * handed to the OS (the promise of `send` resolved), with its id and whether
 * it carries a result (true) or an error (false).
 */
export function onResponseWritten<T extends Sender>(
  transport: T,
  written: (id: RpcId, ok: boolean) => void,
): T {
  const send = transport.send.bind(transport);
  transport.send = async (message: JSONRPCMessage, options?: unknown) => {
    await send(message, options);
    const m = message as { id?: RpcId; result?: unknown; error?: unknown; method?: string };
    if (m.id !== undefined && m.method === undefined) written(m.id, m.result !== undefined);
  };
  return transport;
}

/** Ids fetched for requests whose responses are not written yet, and acks to confirm. */
export class DeliveryLedger {
  readonly #ack: (ids: string[]) => Promise<unknown>;
  readonly #held = new Map<RpcId, string[]>();
  /** Ids the assistant has, or is about to have: not to be shown again. */
  readonly #hidden = new Set<string>();
  /** Ids written to the assistant whose ack the broker has not confirmed. */
  readonly #toAck = new Set<string>();
  #flushing: Promise<void> | undefined;
  #onAcked: (() => void) | undefined;

  /** @param ack acknowledges ids to the broker (AgentClient.ack) */
  constructor(ack: (ids: string[]) => Promise<unknown>) {
    this.#ack = ack;
  }

  /** Called after each successful ack (the inbox watcher re-reads the queue). */
  set onAcked(fn: (() => void) | undefined) {
    this.#onAcked = fn;
  }

  /** True when `id` is held or awaiting its ack: leave it out of results. */
  hidden(id: string): boolean {
    return this.#hidden.has(id);
  }

  /** Number of ids held or awaiting their ack. */
  get pending(): number {
    return this.#hidden.size;
  }

  /**
   * Holds `ids` until the response to request `rpcId` is written; `signal`
   * (the request's cancellation) releases them unacknowledged.
   */
  hold(rpcId: RpcId, ids: readonly string[], signal?: AbortSignal): void {
    // A cancelled request gets no response: its messages stay unread.
    if (ids.length === 0 || signal?.aborted) return;
    const mine = [...(this.#held.get(rpcId) ?? []), ...ids];
    this.#held.set(rpcId, mine);
    for (const id of ids) this.#hidden.add(id);
    signal?.addEventListener("abort", () => this.release(rpcId), { once: true });
  }

  /** The response to `rpcId` was not delivered: its messages stay unread. */
  release(rpcId: RpcId): void {
    const ids = this.#held.get(rpcId);
    if (!ids) return;
    this.#held.delete(rpcId);
    for (const id of ids) if (!this.#toAck.has(id)) this.#hidden.delete(id);
  }

  /** The response to `rpcId` was written (`ok`) or failed: ack or release its messages. */
  written(rpcId: RpcId, ok: boolean): void {
    if (!ok) return this.release(rpcId);
    const ids = this.#held.get(rpcId);
    if (!ids) return;
    this.#held.delete(rpcId);
    for (const id of ids) this.#toAck.add(id);
    void this.flush();
  }

  /**
   * Acknowledges every written message not yet confirmed. A failure (broker
   * gone) keeps them for the next flush; they stay hidden meanwhile.
   */
  flush(): Promise<void> {
    if (this.#flushing) {
      return this.#flushing.then(() => this.#toAck.size ? this.flush() : undefined);
    }
    if (this.#toAck.size === 0) return Promise.resolve();
    const ids = [...this.#toAck];
    this.#flushing = this.#ack(ids).then(
      () => {
        for (const id of ids) {
          this.#toAck.delete(id);
          this.#hidden.delete(id);
        }
        try {
          this.#onAcked?.();
        } catch { /* observer */ }
      },
      (e) =>
        log.warn(
          `ack of ${ids.length} delivered messages failed, will retry: ${(e as Error).message}`,
        ),
    ).finally(() => this.#flushing = undefined);
    return this.#flushing;
  }

  /** Resolves when no ack is in flight (and retries pending ones once). */
  async settled(): Promise<void> {
    await this.#flushing;
    if (this.#toAck.size) await this.flush();
  }
}
