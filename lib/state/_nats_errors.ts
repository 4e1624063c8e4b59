/**
 * Classifies errors of the NATS client and of the fast request path: the
 * conditions the NATS store's modules branch on (a lost compare-and-set, a
 * missing stream or message). One home below them all, so no two of those
 * modules import each other for it.
 *
 * @module
 */

import { JetStreamApiError } from "../deps.ts";
import { NatsApiError } from "./_nats_fast.ts";

/** Conflict of a conditional publish (KV revision or subject sequence). */
export function isWrongSequence(e: unknown): boolean {
  if (
    (e instanceof JetStreamApiError || e instanceof NatsApiError) &&
    (e.code === 10071 || e.code === 10164)
  ) return true;
  return e instanceof Error && /wrong last sequence/i.test(e.message);
}

/** A missing stream, consumer or message. */
export function isNotFound(e: unknown): boolean {
  return e instanceof Error && /no message found|not found/i.test(e.message);
}
