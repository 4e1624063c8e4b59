/**
 * What happens in a broker, as events for observers (the web console's live
 * feed, tests). Listeners run synchronously and must not throw or block.
 *
 * @module
 */

import type { WireMessage } from "../protocol/messages.ts";

/** One broker event. */
export type BrokerEvent =
  | { type: "message"; message: WireMessage }
  | { type: "acked"; name: string; ids: string[] }
  | { type: "delivered"; name: string; ids: string[] }
  | { type: "registered"; name: string }
  | { type: "unregistered"; name: string }
  | { type: "renamed"; from: string; to: string }
  | { type: "online"; name: string }
  | { type: "offline"; name: string };

/** A set of listeners. */
export class BrokerEvents {
  readonly #listeners = new Set<(event: BrokerEvent) => void>();

  /** Adds a listener; returns the function that removes it. */
  on(listener: (event: BrokerEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** True when anybody listens (lets hot paths skip building events). */
  get active(): boolean {
    return this.#listeners.size > 0;
  }

  /** Delivers an event to every listener; a throwing listener is ignored. */
  emit(event: BrokerEvent): void {
    for (const l of this.#listeners) {
      try {
        l(event);
      } catch { /* an observer's bug must not break the broker */ }
    }
  }
}
