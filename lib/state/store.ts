/**
 * The one interface behind which all broker state lives: sessions, instance
 * names, queues, renames with forwarding, and delivered-message history.
 *
 * Implementations: `sqlite_store.ts` (embedded default, a file in the data
 * dir) and `nats_store.ts` (NATS JetStream, shared by brokers on many
 * machines). Both pass the contract suite in `tests/state/store_contract.ts`.
 *
 * The store holds data and keeps each method atomic; the rules (who may do
 * what, rate limits, caps, name checks) live in the broker. Times are Unix
 * milliseconds. All names given to the store are already validated.
 *
 * @module
 */

import type { JsonObject } from "../protocol/messages.ts";
import { TTLS } from "../defaults.ts";

/** One queued (or, in history, delivered) message. */
export interface StoredMessage {
  /** Globally unique, assigned by the broker (see `newMessageId`). */
  id: string;
  from: string;
  to: string;
  /** Unix ms when the broker accepted it. */
  time: number;
  content: string;
  data?: JsonObject;
  /** Set when the full content lives in a large-message file (or object). */
  large?: { path: string; size: number };
  /**
   * The sender's idempotency key (`client_id` of `send`/`broadcast`). Only
   * `enqueue` reads it (see there); reads need not return it.
   */
  clientId?: string;
  /** Sent as urgent: `peek` returns urgent messages first. */
  urgent?: boolean;
  /** The id of the message this one answers (`enqueue` marks that one replied). */
  replyTo?: string;
  /** The id of the first message of the conversation (set on replies). */
  threadId?: string;
  /** The start of the answered message's content, as shown with the reply. */
  quote?: string;
}

/**
 * A message with its receipt: when it reached the recipient's client, was
 * acknowledged, was first answered (and by which message). Unix ms.
 */
export interface MessageRecord extends StoredMessage {
  deliveredAt?: number;
  readAt?: number;
  repliedAt?: number;
  replyId?: string;
}

/** The sender and recipient of a message: enough for a store to find its thread. */
export interface ThreadRoot {
  id: string;
  from: string;
  to: string;
}

/** One replicated stream as `status` shows it. */
export interface StreamHealth {
  name: string;
  replicas: number;
  /** The server leading it (absent: no leader right now, or not clustered). */
  leader?: string;
  /** Replicas behind the leader or offline: server name, operations behind. */
  lagging: { server: string; lag: number; offline: boolean }[];
}

/** {@linkcode Store.health}: the cluster as the store sees it. */
export interface StoreHealth {
  /** Replicas of every stream, bucket and consumer the store creates. */
  replicas: number;
  /** The cluster's name (absent: a single server). */
  cluster?: string;
  /** Servers seen: the one connected to, the cluster's peers, every stream's replicas. */
  servers: string[];
  /** The server this broker is connected to. */
  connectedTo?: string;
  streams: StreamHealth[];
}

/** A registered (or once registered) instance. */
export interface InstanceRecord {
  name: string;
  /** Unix ms of the first registration under this name. */
  createdAt: number;
  /** Unix ms of the last request made with one of its sessions. */
  lastSeen: number;
  /** Unix ms of its last rename, if any. */
  lastRenameAt?: number;
  /** Host name of the broker it last registered through (NATS store: many hosts). */
  host?: string;
  /** Number of live sessions (0: unregistered or revoked). */
  sessions: number;
  /** Messages waiting in its queue (unacknowledged). */
  queued: number;
}

/**
 * The outcome of an enqueue of one message. `duplicateOf` is set when the
 * message repeats an earlier one with the same (from, clientId, to): nothing
 * was stored, and it names the earlier message's id.
 */
export type EnqueueOutcome =
  | { ok: true; duplicateOf?: string }
  | { ok: false; reason: "full"; queued: number };

/** How long `enqueue` remembers a (from, clientId, to) key: at least 24 hours. */
export const DEDUPE_MS = TTLS.dedupeMs;

/** A file claim (advisory lease) as the store keeps it. */
export interface ClaimRecord {
  /** Absolute path of the repository root. */
  root: string;
  /** Path or glob relative to `root` (validated by the broker). */
  path: string;
  /** The instance holding it. */
  holder: string;
  shared: boolean;
  reason?: string;
  /** Unix ms of the first claim (a renewal keeps it). */
  createdAt: number;
  /** Unix ms after which it no longer holds. */
  expiresAt: number;
}

/**
 * What `updateClaims` does with one root's claims: `next` replaces them all
 * (null: leave them as they are), `result` is handed back to the caller.
 */
export interface ClaimsChange<T> {
  next: ClaimRecord[] | null;
  result: T;
}

/** A rename that keeps forwarding the old name. */
export interface ForwardRecord {
  from: string;
  to: string;
  /** Unix ms after which the old name no longer forwards. */
  until: number;
}

/** Filters for reading delivered and queued history (web console, search). */
export interface HistoryQuery {
  /** Full-text query (SQLite FTS5 syntax where supported; plain words otherwise). */
  text?: string;
  from?: string;
  to?: string;
  /** Messages between these two names in either direction. */
  between?: [string, string];
  since?: number;
  until?: number;
  /** Newest first, at most this many (default 100). */
  limit?: number;
  /** Only messages older than this id's message (paging). */
  beforeId?: string;
  /**
   * Fill the receipt times (`deliveredAt`, `readAt`, `repliedAt`). Free with
   * SQLite, which always does; with NATS two reads per message, so only for
   * a page that is shown.
   */
  receipts?: boolean;
}

/** What `purge` removed. */
export interface PurgeResult {
  expiredQueued: number;
  expiredHistory: number;
  expiredForwards: number;
}

/** Retention settings for `purge`. */
export interface Retention {
  /** Queued messages for instances with no live session are dropped after this (7 days). */
  unclaimedQueueMs: number;
  /** Delivered messages are kept for history this long (30 days). */
  historyMs: number;
}

/**
 * Broker state. Every method is atomic on its own; the broker serialises the
 * rules around them. Methods reject with `IpcError("E_STORE", …)` on failure.
 */
export interface Store extends AsyncDisposable {
  /** "sqlite" or "nats": shown by `status`. */
  readonly kind: string;
  /** Where it lives (a file path or a server URL), for `status`. */
  readonly location: string;
  /**
   * How replicated state is doing, for `status` (NATS store only: the
   * replica count, the servers seen, each stream's leader and lagging
   * replicas).
   */
  health?(): Promise<StoreHealth>;

  // --- sessions ---------------------------------------------------------
  /**
   * Registers `name` (creating its instance record on first use, updating
   * `lastSeen` and `host`) and adds a session identified by `tokenHash`.
   * When `revokeOthers` is true the name's other sessions are removed first.
   * Returns the number of messages already queued for the name.
   */
  register(
    name: string,
    tokenHash: string,
    now: number,
    opts: { revokeOthers: boolean; host?: string },
  ): Promise<{ queued: number }>;
  /** The name a session belongs to, or null when unknown or revoked. */
  sessionName(tokenHash: string): Promise<string | null>;
  /** Removes one session. Returns true when it existed. */
  removeSession(tokenHash: string): Promise<boolean>;
  /** Records activity of an instance (may be batched or coalesced). */
  touch(name: string, now: number): Promise<void>;

  // --- instances --------------------------------------------------------
  /** One instance, or null when the name was never registered. */
  instance(name: string): Promise<InstanceRecord | null>;
  /** Every instance ever registered and not purged, by name. */
  instances(): Promise<InstanceRecord[]>;

  // --- queues -----------------------------------------------------------
  /**
   * Appends messages to their recipients' queues in the order given
   * (per-recipient FIFO). A message whose recipient already has `cap`
   * queued messages is not stored and gets `{ok:false, reason:"full"}`.
   * Durable when the promise resolves.
   *
   * Idempotent sends: of the messages carrying a `clientId`, at most one per
   * (from, clientId, to) is stored for at least {@linkcode DEDUPE_MS} after
   * the first (also across reopen, and across brokers sharing the store). A
   * repeat is not stored, is not counted against `cap`, wakes no watcher, and
   * gets `{ok:true, duplicateOf: "<id of the first>"}`.
   *
   * A stored message with `replyTo` marks that message replied (`repliedAt`
   * = its `time`, `replyId` = its id) unless an earlier reply did.
   */
  enqueue(messages: StoredMessage[], cap: number): Promise<EnqueueOutcome[]>;
  /**
   * The oldest unacknowledged messages of `name`, FIFO, at most `limit`,
   * and (when `maxBytes` is given) stopping before the total of
   * `content` lengths would pass it (at least one message is returned).
   * Urgent messages come first (FIFO among themselves), from anywhere in
   * the queue.
   */
  peek(name: string, limit: number, maxBytes?: number): Promise<StoredMessage[]>;
  /**
   * Acknowledges messages of `name` by id: they leave the queue (and stay in
   * history). Ids that are not queued for `name` are ignored. Returns the ids
   * that were acknowledged.
   */
  ack(name: string, ids: string[], now: number): Promise<string[]>;
  /** Number of unacknowledged messages for `name`. */
  depth(name: string): Promise<number>;

  // --- conversations and receipts -----------------------------------------
  /**
   * Records that queued messages of `name` were handed to its client: sets
   * `deliveredAt` where it is not set. Reads through this store see it at
   * once; it may reach the disk (or other brokers) up to a second later.
   */
  markDelivered(name: string, ids: string[], now: number): Promise<void>;
  /**
   * Messages (queued or in history) sent by or to `party` whose id is `ref`
   * or whose short id (`shortId(id)`) is `ref`, newest first, with their
   * receipts; at most `limit` (default 10).
   */
  findMessages(ref: string, party: string, limit?: number): Promise<MessageRecord[]>;
  /**
   * The conversation started by `root`: `root` itself and every message
   * whose `threadId` is `root.id`, oldest first, at most `limit`.
   */
  thread(root: ThreadRoot, limit: number): Promise<MessageRecord[]>;
  /** The oldest message queued for `name` that answers `replyTo`, or null. */
  findReply(name: string, replyTo: string): Promise<StoredMessage | null>;

  // --- renames ----------------------------------------------------------
  /**
   * Renames `from` to `to` atomically: the instance record (with
   * `lastRenameAt = now`), its sessions and its queue move to `to`, and
   * `from` forwards to `to` until `forwardUntil`. Fails with E_NAME_TAKEN
   * when `to` is a registered instance with live sessions.
   */
  rename(from: string, to: string, now: number, forwardUntil: number): Promise<void>;
  /** Where `name` forwards to at `now`, or null. Follows one hop. */
  forward(name: string, now: number): Promise<string | null>;

  // --- file claims --------------------------------------------------------
  /**
   * Reads every claim under `root` (expired ones included), hands them to
   * `change` and, when it returns `next`, replaces them with it, atomically:
   * no other update of the same root (from any broker sharing the store)
   * comes between the read and the write. `change` may run more than once
   * (a retry after a conflicting write), so it must not have side effects.
   * Durable when the promise resolves.
   */
  updateClaims<T>(root: string, change: (claims: ClaimRecord[]) => ClaimsChange<T>): Promise<T>;
  /** Every claim (expired ones included) under `root`, or under every root. */
  claims(root?: string): Promise<ClaimRecord[]>;

  // --- history and upkeep ----------------------------------------------
  /** Delivered and queued messages matching `query`, newest first, with their receipts. */
  history(query: HistoryQuery): Promise<MessageRecord[]>;
  /** Drops expired queues, history and forwards. */
  purge(now: number, retention: Retention): Promise<PurgeResult>;
  /**
   * Optional: calls `cb(recipient, replies)` whenever a message is enqueued
   * for a recipient by ANY broker sharing this store (NATS), so `wait` is
   * woken by a subscription, not by polling. `replies` lists the message ids
   * the new messages answer (so only their `wait_reply` wakes); absent when
   * unknown (a rename, an older broker): then every waiter of the recipient
   * wakes. Returns the function that stops watching. Stores used by one
   * broker only (SQLite) need not implement it.
   */
  watch?(cb: (recipient: string, replies?: readonly string[]) => void): () => void;
  /**
   * Optional: calls `cb` with each message stored by ANOTHER broker sharing
   * this store (NATS: brokers on other hosts), so this broker's console shows
   * them live. Best effort: a message missed here is still in the queue.
   */
  watchMessages?(cb: (message: StoredMessage) => void): () => void;
  /**
   * Optional: keeps a large message body in the store itself (NATS object
   * store), so brokers on other machines can read it; returns the `path`
   * (a store URL) and size in bytes. Without it the broker writes a file in
   * its data dir.
   */
  putLarge?(id: string, content: string): Promise<{ path: string; size: number }>;
  /** Optional: the body saved by `putLarge`, or null when it is gone or not ours. */
  readLarge?(path: string): Promise<string | null>;
  /** Flushes and closes. Safe to call twice. */
  close(): Promise<void>;
}
