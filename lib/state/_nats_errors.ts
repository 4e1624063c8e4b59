/**
 * Classifies errors of the NATS client and of the fast request path by class
 * and JetStream API code (never by message): the conditions the NATS store's
 * modules branch on (a lost compare-and-set, a missing stream or message, a
 * stream created meanwhile, JetStream off). One home below them all, so no two
 * of those modules import each other for it.
 *
 * @module
 */

import { loadNats } from "../deps.ts";
import { MoreJetStreamApiCodes, NatsApiError } from "./_nats_fast.ts";

const { JetStreamApiCodes, JetStreamApiError, jserrors } = await loadNats();

/** The JetStream API code of `e`, if it is an API error of either client. */
function apiCode(e: unknown): number | undefined {
  return e instanceof JetStreamApiError || e instanceof NatsApiError ? e.code : undefined;
}

/** Conflict of a conditional publish (KV revision or subject sequence). */
export function isWrongSequence(e: unknown): boolean {
  const code = apiCode(e);
  return code === JetStreamApiCodes.StreamWrongLastSequence ||
    code === JetStreamApiCodes.StreamWrongLastSequenceUnknown;
}

/** A missing stream, consumer or message. */
export function isNotFound(e: unknown): boolean {
  const code = apiCode(e);
  return code === JetStreamApiCodes.StreamNotFound ||
    code === JetStreamApiCodes.ConsumerNotFound ||
    code === JetStreamApiCodes.NoMessageFound;
}

/** A stream of that name exists already (another broker created it first). */
export function isStreamNameInUse(e: unknown): boolean {
  return apiCode(e) === MoreJetStreamApiCodes.StreamNameExist;
}

/** The server runs without JetStream (`nats-server` without `-js`), also when wrapped in a cause. */
export function isJetStreamOff(e: unknown): boolean {
  for (let x: unknown = e, depth = 0; x instanceof Error && depth < 4; x = x.cause, depth++) {
    if (x instanceof jserrors.JetStreamNotEnabled) return true;
    if (apiCode(x) === JetStreamApiCodes.JetStreamNotEnabledForAccount) return true;
  }
  return false;
}
