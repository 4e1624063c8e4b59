/**
 * How many blocked `wait` and `wait_reply` requests a session, and a peer
 * (process, see `peer_owners.ts`) with all its sessions, may have pending at
 * once. Past either share a wait is refused with E_LIMIT at once. The peer
 * is looked up only when the broker as a whole holds more waits than one
 * peer's share (no peer can be over it before), so the common path asks
 * /proc nothing.
 *
 * @module
 */

import { IpcError } from "../protocol/errors.ts";
import type { Peer } from "./peer.ts";

/** The pending waits, counted per session and per connection. */
export class WaitQuota {
  readonly perSession: number;
  readonly perPeer: number;
  readonly #bySession = new Map<string, number>();
  readonly #byConnection = new Map<Peer, number>();
  #total = 0;

  constructor(perSession: number, perPeer: number) {
    this.perSession = perSession;
    this.perPeer = perPeer;
  }

  /** Waits pending, broker-wide. */
  get pending(): number {
    return this.#total;
  }

  /**
   * Takes one slot for a wait of `session` on `peer`'s connection; returns
   * its release (safe twice), at once unless the peer must be looked up
   * first (then a promise of it). Throws (or rejects with) E_LIMIT past a
   * share.
   */
  take(peer: Peer, session: string): (() => void) | Promise<() => void> {
    const held = this.#bySession.get(session) ?? 0;
    if (held >= this.perSession) {
      throw new IpcError(
        "E_LIMIT",
        `Too many waits pending: this session has ${held}, the limit is ${this.perSession}; ` +
          "retry when one has answered",
        { limit: this.perSession, scope: "session" },
      );
    }
    // Counted before the peer check (which may await a lookup), so a burst
    // cannot slip through while it is under way.
    this.#bySession.set(session, held + 1);
    this.#byConnection.set(peer, (this.#byConnection.get(peer) ?? 0) + 1);
    this.#total++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.#total--;
      const s = this.#bySession.get(session)! - 1;
      if (s === 0) this.#bySession.delete(session);
      else this.#bySession.set(session, s);
      const c = this.#byConnection.get(peer)! - 1;
      if (c === 0) this.#byConnection.delete(peer);
      else this.#byConnection.set(peer, c);
    };
    if (this.#total > this.perPeer && peer.owner) return this.#checkPeer(peer, release);
    return release;
  }

  async #checkPeer(peer: Peer, release: () => void): Promise<() => void> {
    let ofPeer = 0;
    try {
      const mine = await peer.owner!();
      const peers = [...this.#byConnection.keys()];
      await Promise.all(peers.map((p) => p.owner?.()));
      for (const p of peers) if (p.ownerKey === mine) ofPeer += this.#byConnection.get(p) ?? 0;
    } catch (e) {
      release();
      throw e;
    }
    if (ofPeer > this.perPeer) {
      release();
      throw new IpcError(
        "E_LIMIT",
        `Too many waits pending: this process has ${ofPeer - 1}, the limit is ${this.perPeer}; ` +
          "retry when one has answered",
        { limit: this.perPeer, scope: "process" },
      );
    }
    return release;
  }
}
