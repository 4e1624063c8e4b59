/**
 * Rate limiting of failed identity attempts (wrong registration proofs,
 * unknown session tokens), per connection and broker-wide, so guessing gets
 * nowhere and a hostile peer cannot lock everybody out for long.
 *
 * @module
 */

import { IpcError } from "../protocol/errors.ts";

/** Failures counted broker-wide within one window. */
export const FAILURE_WINDOW_MS = 1_000;
/** Broker-wide failures per window before registrations are refused unjudged. */
export const FAILURES_PER_WINDOW = 50;
/** Failures one connection may make, ever. */
export const FAILURES_PER_CONNECTION = 20;

/** What the limiter needs of a connection. */
export interface Attempter {
  failures: number;
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

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** Records a failure of `peer`; true when it crossed a limit. */
  failed(peer: Attempter): boolean {
    peer.failures++;
    this.#windowFailures();
    this.#inWindow++;
    return this.#inWindow > FAILURES_PER_WINDOW || peer.failures > FAILURES_PER_CONNECTION;
  }

  /**
   * True while `peer` may not make another attempt: checked BEFORE the attempt
   * is judged, so that a right guess made while limited is refused like a
   * wrong one (otherwise the limit would only change the error code). With
   * `global`, the broker-wide window counts too: registration proofs derive
   * from a secret that a person may have chosen, so guessing it is throttled
   * across connections; session tokens are 256 random bits, so a valid one on
   * a fresh connection is not refused because someone else is failing.
   */
  limited(peer: Attempter, global: boolean): boolean {
    if (peer.failures >= FAILURES_PER_CONNECTION) return true;
    return global && this.#windowFailures() >= FAILURES_PER_WINDOW;
  }

  #windowFailures(): number {
    const now = this.#now();
    if (now - this.#windowStart > FAILURE_WINDOW_MS) {
      this.#windowStart = now;
      this.#inWindow = 0;
    }
    return this.#inWindow;
  }
}
