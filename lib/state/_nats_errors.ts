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
import {
  MoreJetStreamApiCodes,
  NatsApiError,
  NatsNoResponders,
  NatsRequestTimeout,
} from "./_nats_fast.ts";

const {
  JetStreamApiCodes,
  JetStreamApiError,
  jserrors,
  NoRespondersError,
  RequestError,
  TimeoutError,
} = await loadNats();

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

/**
 * A failure that a cluster's leader re-election or a lost node explains, and
 * that goes away by itself within seconds: a request without a reply in time
 * (the leader it went to died), nobody answering (no leader at that
 * instant), or the API saying the cluster or the group has no leader yet.
 * Only these are retried (see `NatsLink.run`); also when wrapped in a cause.
 */
export function isTransient(e: unknown): boolean {
  for (let x: unknown = e, depth = 0; x instanceof Error && depth < 4; x = x.cause, depth++) {
    if (
      x instanceof NatsRequestTimeout || x instanceof NatsNoResponders ||
      x instanceof TimeoutError || x instanceof NoRespondersError
    ) return true;
    if (x instanceof RequestError && (x.isNoResponders() || x.cause instanceof TimeoutError)) {
      return true;
    }
    const code = apiCode(x);
    if (
      code === MoreJetStreamApiCodes.ClusterNotAvailable ||
      code === MoreJetStreamApiCodes.ClusterNotLeader ||
      code === MoreJetStreamApiCodes.ClusterNoPeers
    ) return true;
  }
  return false;
}

/** No servers to place a stream's replicas on: too few in the cluster, or some are down. */
export function isNoPeers(e: unknown): boolean {
  return apiCode(e) === MoreJetStreamApiCodes.ClusterNoPeers;
}

/** The server (or cluster) cannot hold as many replicas as asked for. */
export function isTooManyReplicas(e: unknown): boolean {
  const code = apiCode(e);
  return code === MoreJetStreamApiCodes.StreamReplicasNotSupported ||
    code === MoreJetStreamApiCodes.InsufficientResources;
}
