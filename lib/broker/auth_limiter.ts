/**
 * Rate limiting of failed identity attempts (wrong registration proofs,
 * unknown session tokens), per connection and per peer (the process on the
 * other end, see `peer_owners.ts`), so guessing gets nowhere and a hostile
 * process cannot lock anybody else out: its failures count against itself.
 *
 * @module
 */

import { IpcError } from "../protocol/errors.ts";
import { LIMITS } from "../defaults.ts";

/** Failures are counted per peer within one window. */
export const FAILURE_WINDOW_MS = 1_000;
/** Failures one peer (process) may make per window before its attempts are refused unjudged. */
export const FAILURES_PER_PEER = LIMITS.authFailuresPerPeer;
/** Failures one connection may make, ever. */
export const FAILURES_PER_CONNECTION = LIMITS.authFailuresPerConnection;
/**
 * Broker-wide failures per window from which every registration waits for its
 * peer to be known before it is judged (a flood from fresh connections).
 */
export const FAILURES_PER_WINDOW = LIMITS.authFailuresHot;

/** What the limiter needs of a connection. */
export interface Attempter {
  failures: number;
  /** Who is on the other end (e.g. "pid:4242"), once known. */
  ownerKey?: string;
}

/** The error a limited attempt gets. */
export function rateLimited(): IpcError {
  return new IpcError("E_RATE_LIMITED", "Too many failed attempts: wait a second and retry");
}

/** Counts failures and says when attempts must be refused. */
export class AuthLimiter {
  readonly #now: () => number;
  #windowStart = 0;
  #inWindow = 0;
  readonly #byPeer = new Map<string, number>();

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** Records a failure of `peer`; true when it crossed a limit. */
  failed(peer: Attempter): boolean {
    peer.failures++;
    this.#roll();
    this.#inWindow++;
    let n = 0;
    if (peer.ownerKey !== undefined) {
      n = (this.#byPeer.get(peer.ownerKey) ?? 0) + 1;
      this.#byPeer.set(peer.ownerKey, n);
    }
    return n > FAILURES_PER_PEER || peer.failures > FAILURES_PER_CONNECTION;
  }

  /**
   * True while `peer` may not make another attempt: checked BEFORE the attempt
   * is judged, so that a right guess made while limited is refused like a
   * wrong one (otherwise the limit would only change the error code). With
   * `byPeer`, the peer's recent failures on other connections count too:
   * registration proofs derive from a secret that a person may have chosen,
   * so guessing is throttled per process; session tokens are 256 random bits,
   * so a valid one on a fresh connection is refused only for its own failures.
   */
  limited(peer: Attempter, byPeer: boolean): boolean {
    this.#roll();
    const refused = peer.failures >= FAILURES_PER_CONNECTION ||
      (byPeer && peer.ownerKey !== undefined &&
        (this.#byPeer.get(peer.ownerKey) ?? 0) >= FAILURES_PER_PEER);
    // A refused attempt is part of a flood as much as a failed one.
    if (refused) this.#inWindow++;
    return refused;
  }

  /**
   * True while failed or refused attempts broker-wide are many: registrations
   * should learn their peer before they are judged.
   */
  get hot(): boolean {
    this.#roll();
    return this.#inWindow >= FAILURES_PER_WINDOW;
  }

  #roll(): void {
    const now = this.#now();
    if (now - this.#windowStart > FAILURE_WINDOW_MS) {
      this.#windowStart = now;
      this.#inWindow = 0;
      this.#byPeer.clear();
    }
  }
}
