/**
 * Idempotent enqueue for the NATS store: the KV bucket `p_dedupe` maps a
 * hash of (from, clientId, to) to the id of the first message stored under
 * it, so a send retried after a broker failover is stored once, even when
 * two brokers handle the original and the retry at the same time.
 *
 * A key is claimed with a compare-and-set create BEFORE the message is
 * published, as `{id, done: false}`, and marked `done` after. Whoever finds
 * a key still pending (its broker died or timed out between the two steps)
 * publishes its own copy under the claimed id: JetStream drops a publish
 * whose message id it saw within its duplicate window, so the message is
 * stored once whether or not the first publish landed. The bucket's TTL
 * (24 hours, `DEDUPE_MS`) forgets keys; no purge is needed.
 *
 * @module
 */

import type { KV } from "../deps.ts";
import { IpcError } from "../protocol/errors.ts";
import type { EnqueueOutcome, StoredMessage } from "./store.ts";
import { isWrongSequence } from "./_nats_errors.ts";

interface Claim {
  id: string;
  done: boolean;
}

const ATTEMPTS = 8;
const enc = new TextEncoder();
const dec = new TextDecoder();

/** The KV key of (from, clientId, to): hex SHA-256, safe as a key whatever the fields hold. */
export async function dedupeKey(from: string, clientId: string, to: string): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    enc.encode(JSON.stringify([from, clientId, to])),
  );
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Enqueues `m` (which carries a `clientId`) at most once per key: `publish`
 * stores one message (deduplicated by its id on the server) and returns its
 * outcome. Returns `{ok: true, duplicateOf}` when the key was claimed first
 * by another message.
 */
export async function enqueueOnce(
  kv: KV,
  m: StoredMessage,
  publish: (m: StoredMessage) => Promise<EnqueueOutcome>,
): Promise<EnqueueOutcome> {
  const key = await dedupeKey(m.from, m.clientId!, m.to);
  for (let i = 0; i < ATTEMPTS; i++) {
    let revision: number;
    try {
      revision = await kv.create(key, JSON.stringify({ id: m.id, done: false } satisfies Claim));
    } catch (e) {
      if (!isWrongSequence(e)) throw e;
      const entry = await kv.get(key);
      if (!entry || entry.operation !== "PUT") continue; // expired or removed meanwhile
      const claim = JSON.parse(dec.decode(entry.value)) as Claim;
      if (!claim.done) {
        // Its broker may have died before (or after) publishing: publish under
        // the claimed id; the server keeps one copy.
        const out = await publish({ ...m, id: claim.id });
        if (!out.ok) return out;
        await markDone(kv, key, claim.id, entry.revision);
      }
      return { ok: true, duplicateOf: claim.id };
    }
    // A full queue or a failed publish leaves the claim pending: a retry
    // publishes under this id, so a publish that did land is not repeated.
    const out = await publish(m);
    if (out.ok) await markDone(kv, key, m.id, revision);
    return out;
  }
  throw new IpcError("E_STORE", `NATS store: idempotency key of "${m.to}" kept changing`);
}

async function markDone(kv: KV, key: string, id: string, revision: number): Promise<void> {
  try {
    await kv.update(key, JSON.stringify({ id, done: true } satisfies Claim), revision);
  } catch (e) {
    // Another broker marked it first; a pending claim is safe either way.
    if (!isWrongSequence(e)) throw e;
  }
}
