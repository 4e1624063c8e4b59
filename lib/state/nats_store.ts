/**
 * The NATS JetStream store: all broker state in one NATS server (or
 * cluster), so brokers on many machines share one registry. This file opens
 * the store and owns history, purge, large-message objects and wake-ups;
 * the queues are in `_nats_queues.ts`, the registry in `_nats_registry.ts`,
 * the connection in `_nats_conn.ts`.
 *
 * Layout (`p` is the prefix, default `ipc`; `P` its upper case):
 * - stream `P_QUEUE`, subjects `p.q.<name>`: the queues, FIFO in stream
 *   order. An ack deletes the message from this stream, so a queue is
 *   exactly its subject's live messages: depth is the server's per-subject
 *   count and peek never walks acknowledged messages.
 * - stream `P_HISTORY`, subjects `p.h.<to>.<from>`: acknowledged messages
 *   with their ack time, until `purge`. A separate stream (rather than
 *   keeping acked messages in the queue stream and tracking acks in KV)
 *   keeps peek and depth O(queue), not O(history), and lets history queries
 *   filter by recipient or sender on the server.
 * - KV buckets `p_instances` (name -> record with its session hashes),
 *   `p_sessions` (token hash -> name), `p_seen` (name -> last activity,
 *   apart from the record so activity never conflicts with registrations),
 *   `p_forwards` (old name -> new name and deadline), `p_claims` (file claims,
 *   one key per repository root: see `_nats_claims.ts`), `p_dedupe` (hash of
 *   from, client id and recipient -> the first message's id, 24 h TTL: see
 *   `_nats_dedupe.ts`).
 * - object store `p_large`: large-message bodies (`putLarge`/`readLarge`).
 * - core subjects `p.n.<name>`: a wake-up published after each enqueue;
 *   `watch` subscribes to them, so `wait` is woken, never polls.
 *
 * Without transactions, atomicity comes from compare-and-set: records are
 * updated on their KV revision, an enqueue is a publish conditional on the
 * recipient subject's last sequence (so the cap holds across brokers), and
 * every publish carries a message id, so a retried one is stored once.
 * Multi-key steps (rename) are ordered so that a crash leaves at worst a
 * message queued twice, never a lost message or a revoked session alive.
 *
 * @module
 */

import type {
  JetStreamManager,
  KV,
  NatsObjm,
  NatsStreamConfig,
  NatsSubscription,
  ObjectStore,
} from "../deps.ts";
import { loadNats } from "../deps.ts";
import { IpcError } from "../protocol/errors.ts";
import { TIMEOUTS } from "../defaults.ts";
import {
  type ClaimRecord,
  type ClaimsChange,
  DEDUPE_MS,
  type EnqueueOutcome,
  type ForwardRecord,
  type HistoryQuery,
  type InstanceRecord,
  type MessageRecord,
  type PurgeResult,
  type Retention,
  type Store,
  type StoredMessage,
  type StoreHealth,
  type StreamHealth,
  type ThreadRoot,
} from "./store.ts";
import { shortId } from "../protocol/short_id.ts";
import { NatsLink, reason, scanStream } from "./_nats_conn.ts";
import {
  checkName,
  createOnce,
  decodeDoc,
  deliveredKey,
  type HistoryDoc,
  NatsQueues,
  parallel,
  type QueuedDoc,
  repliedKey,
  toStored,
} from "./_nats_queues.ts";
import { type InstanceDoc, NatsRegistry } from "./_nats_registry.ts";
import {
  isJetStreamOff,
  isNoPeers,
  isNotFound,
  isStreamNameInUse,
  isTooManyReplicas,
  isTransient,
} from "./_nats_errors.ts";
import { logger } from "../log.ts";
import { matchesHistory } from "./_history_filter.ts";
import { NatsClaims } from "./_nats_claims.ts";

const {
  DiscardPolicy,
  jetstream,
  jetstreamManager,
  Kvm,
  nanos,
  Objm,
  RetentionPolicy,
  StorageType,
} = await loadNats();

const log = logger("nats");

/** Options of {@linkcode openNatsStore}. */
export interface NatsStoreOptions {
  /** Auth token (else any token in the URL). */
  token?: string;
  /** A NATS `.creds` file (JWT + nkey seed). */
  credsFile?: string;
  /** This broker's host name, recorded by `register` when the call gives none. */
  host?: string;
  /** Namespace of streams, buckets and subjects (default `ipc`): 1-32 of `A-Z a-z 0-9 _ -`. */
  prefix?: string;
  /** Bound on connecting, on each NATS request and on waiting for a reconnect (ms, default 5000). */
  timeoutMs?: number;
  /**
   * Replicas of every stream, KV bucket, the object store and every consumer
   * (1-5). Default: 3 when the cluster has at least 3 servers, else 1.
   * Assets found with another count are scaled to it in place.
   */
  replicas?: number;
}

const DUPLICATE_WINDOW_MS = 120_000;
const OBJECT_PREFIX = "nats-obj://";
const BUCKETS = ["instances", "sessions", "seen", "forwards", "claims", "receipts", "dedupe"];

/**
 * The default replica count: 3 when the server we reached is part of a
 * cluster of at least 3 servers (the servers it gossips to clients, itself
 * included), else 1. A cluster where some servers run without JetStream
 * needs `--nats-replicas` set by hand.
 */
export function defaultReplicas(info: { cluster?: string; connect_urls?: string[] } | undefined) {
  return info?.cluster && (info.connect_urls?.length ?? 0) >= 3 ? 3 : 1;
}

/**
 * Connects to NATS and opens (creating when missing) the streams and buckets
 * of the store. Rejects with E_STORE when NATS cannot be reached in
 * `timeoutMs` or has no JetStream.
 *
 * @example
 * ```ts
 * await using store = await openNatsStore("nats://127.0.0.1:4222", { host: "laptop" });
 * await store.enqueue([{ id: "m1", from: "a", to: "b", time: Date.now(), content: "hi" }], 10_000);
 * ```
 */
export async function openNatsStore(url: string, opts: NatsStoreOptions = {}): Promise<NatsStore> {
  const prefix = opts.prefix ?? "ipc";
  if (!/^[A-Za-z0-9_-]{1,32}$/.test(prefix)) {
    throw new IpcError("E_STORE", `NATS store prefix "${prefix}" must be 1-32 of A-Z a-z 0-9 _ -`);
  }
  if (
    opts.replicas !== undefined &&
    !(Number.isInteger(opts.replicas) && opts.replicas >= 1 && opts.replicas <= 5)
  ) {
    throw new IpcError(
      "E_STORE",
      `NATS replicas must be a whole number from 1 to 5, not ${opts.replicas}`,
    );
  }
  const timeoutMs = opts.timeoutMs ?? TIMEOUTS.natsRequestMs;
  const link = await NatsLink.connect(url, {
    token: opts.token,
    credsFile: opts.credsFile,
    timeoutMs,
  });
  const replicas = opts.replicas ?? defaultReplicas(link.nc.info);
  link.replicas = replicas;
  try {
    // A cluster without a meta leader yet answers "temporarily unavailable":
    // waited out. JetStream off (nobody answers the API) is reported at once.
    const jsm = await link.run(
      "open",
      () => jetstreamManager(link.nc, { timeout: timeoutMs }),
      { retry: (e) => !isJetStreamOff(e) && isTransient(e) },
    );
    const js = jetstream(link.nc, { timeout: timeoutMs });
    link.scanJsm = await jetstreamManager(link.nc, {
      timeout: Math.min(timeoutMs, 1_500),
      checkAPI: false,
    });
    const streams = NatsQueues.streamNames(prefix);
    const base: Partial<NatsStreamConfig> = {
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
      allow_direct: true,
      duplicate_window: nanos(DUPLICATE_WINDOW_MS),
      num_replicas: replicas,
    };
    const kvm = new Kvm(js);
    // Direct gets are answered by any replica, also one still catching up: at
    // more than one replica a session lookup or a compare-and-set read could
    // miss a write just made (an unknown session, a claim not yet seen), so
    // KV reads go through the bucket's leader there.
    const direct = replicas === 1;
    // Creating a replicated asset can time out when another broker creates it
    // at the same moment (nats-server #3677, #3679): every step below is safe
    // to repeat, so the whole open is retried through transient failures.
    const opened = await link.run("open", async () => {
      await Promise.all([
        ensureStream(jsm, { ...base, name: streams.stream, subjects: [`${prefix}.q.*`] }, replicas),
        ensureStream(jsm, {
          ...base,
          name: streams.historyStream,
          subjects: [`${prefix}.h.*.*`],
        }, replicas),
      ]);
      const bucket = async (name: string) => {
        const full = `${prefix}_${name}`;
        const extra = name === "dedupe" ? { ttl: DEDUPE_MS } : {};
        let kv: KV;
        try {
          kv = await kvm.create(full, { history: 1, replicas, allow_direct: direct, ...extra });
        } catch (e) {
          if (isTransient(e)) throw e;
          // Created by an older or other broker; at more than one replica, read
          // through the leader even if the bucket allows direct gets.
          kv = await kvm.open(full, direct ? {} : { allow_direct: false });
        }
        await ensureReplicas(jsm, `KV_${full}`, replicas);
        return kv;
      };
      const kvs = await Promise.all(BUCKETS.map(bucket));
      // The object store is created on first use; one made earlier is scaled now.
      await ensureReplicas(jsm, `OBJ_${prefix}_large`, replicas, { mayBeMissing: true });
      return kvs;
    }, {
      // "No suitable peers" is transient while a node is down, final when
      // the cluster has fewer servers than replicas asked for.
      // "Stream not found" is another broker's creation still under way (its
      // create made ours fail, our open came before the stream was there).
      retry: (e) =>
        (isTransient(e) || isNotFound(e)) && !(replicas > serverCount(link) && isNoPeers(e)),
    });
    const [instances, sessions, seen, forwards, claims, receipts, dedupe] = opened;
    const queues = new NatsQueues(link, jsm, prefix, dedupe, receipts);
    const registry = new NatsRegistry(
      link,
      jsm,
      { instances, sessions, seen, forwards },
      opts.host,
    );
    return new NatsStore(
      link,
      jsm,
      queues,
      registry,
      new Objm(js),
      prefix,
      new NatsClaims(claims),
      receipts,
    );
  } catch (e) {
    await link.close();
    if (e instanceof IpcError && isJetStreamOff(e)) {
      throw new IpcError("E_STORE", `${e.message}: start nats-server with -js (JetStream)`);
    }
    const servers = serverCount(link);
    const cause = (e as Error)?.cause;
    if (
      isTooManyReplicas(e) || isTooManyReplicas(cause) ||
      (replicas > servers && (isNoPeers(e) || isNoPeers(cause)))
    ) {
      throw new IpcError(
        "E_STORE",
        `NATS at ${link.location} cannot hold ${replicas} replicas of each stream (${
          reason(e)
        }): give --nats-replicas (IPC_NATS_REPLICAS) at most the number of JetStream servers`,
      );
    }
    throw e;
  }
}

/** Servers of the cluster as the one we reached gossips them (itself included). */
function serverCount(link: NatsLink): number {
  return link.nc.info?.connect_urls?.length ?? 1;
}

async function ensureStream(
  jsm: JetStreamManager,
  cfg: Partial<NatsStreamConfig> & { name: string },
  replicas: number,
): Promise<void> {
  try {
    await jsm.streams.info(cfg.name);
  } catch (e) {
    if (!isNotFound(e)) throw e;
    try {
      await jsm.streams.add(cfg);
      return;
    } catch (e2) {
      if (!isStreamNameInUse(e2)) throw e2; // another broker was first
    }
  }
  await ensureReplicas(jsm, cfg.name, replicas);
}

/**
 * Scales `stream` to `replicas` in place when it has another count (made
 * by an older broker, or under another setting): JetStream copies the data
 * to the new peers, or drops the extra ones. When the server refuses (a
 * NATS user without the right), says what to run instead.
 */
async function ensureReplicas(
  jsm: JetStreamManager,
  stream: string,
  replicas: number,
  { mayBeMissing = false } = {},
): Promise<void> {
  let info;
  try {
    info = await jsm.streams.info(stream);
  } catch (e) {
    if (mayBeMissing && isNotFound(e)) return;
    throw e;
  }
  const had = info.config.num_replicas ?? 1;
  if (had === replicas) return;
  try {
    await jsm.streams.update(stream, { ...info.config, num_replicas: replicas });
  } catch (e) {
    if (isTransient(e)) throw e;
    throw new IpcError(
      "E_STORE",
      `NATS stream ${stream} has ${had} replicas, not ${replicas}, and could not be scaled (${
        reason(e)
      }): run "nats stream edit ${stream} --replicas ${replicas}" or start the broker with --nats-replicas ${had}`,
    );
  }
  log.warn(`NATS stream ${stream} scaled from ${had} to ${replicas} replicas`, {
    event: "nats_replicas_changed",
    stream,
    from: had,
    to: replicas,
  });
}

/** Broker state in NATS JetStream. Open it with {@linkcode openNatsStore}. */
export class NatsStore implements Store {
  /** Always `"nats"`. */
  readonly kind = "nats";
  /** The server URL, without credentials. */
  readonly location: string;
  readonly #link: NatsLink;
  readonly #jsm: JetStreamManager;
  readonly #q: NatsQueues;
  readonly #r: NatsRegistry;
  readonly #objm: NatsObjm;
  readonly #claims: NatsClaims;
  readonly #p: string;
  readonly #receipts: KV;
  readonly #subs = new Set<NatsSubscription>();
  #objects: Promise<ObjectStore> | undefined;
  #closed = false;

  /** Use {@linkcode openNatsStore}. */
  constructor(
    link: NatsLink,
    jsm: JetStreamManager,
    queues: NatsQueues,
    registry: NatsRegistry,
    objm: NatsObjm,
    prefix: string,
    claims: NatsClaims,
    receipts: KV,
  ) {
    this.#claims = claims;
    this.#receipts = receipts;
    this.#link = link;
    this.#jsm = jsm;
    this.#q = queues;
    this.#r = registry;
    this.#objm = objm;
    this.#p = prefix;
    this.location = link.location;
  }

  /**
   * Runs a store operation (see `NatsLink.run`). Every operation is retried
   * through a re-election unless `once`: all are safe to run twice (reads;
   * publishes deduplicated by message id; compare-and-set loops that re-read)
   * except rename and purge, whose partial first run a second one would
   * misread (rename: "not found"), and which their callers repeat anyway.
   */
  #run<T>(op: string, fn: () => Promise<T>, once = false): Promise<T> {
    if (this.#closed) {
      return Promise.reject(new IpcError("E_STORE", `NATS store is closed (${op})`));
    }
    return this.#link.run(op, fn, { retry: !once });
  }

  // --- sessions ---------------------------------------------------------

  /** {@inheritDoc Store.register} */
  register(
    name: string,
    tokenHash: string,
    now: number,
    opts: { revokeOthers: boolean; host?: string },
  ): Promise<{ queued: number }> {
    return this.#run("register", async () => {
      await this.#r.register(name, tokenHash, now, opts);
      return { queued: await this.#q.depth(name) };
    });
  }

  /** {@inheritDoc Store.sessionName} */
  sessionName(tokenHash: string): Promise<string | null> {
    return this.#run("sessionName", () => this.#r.sessionName(tokenHash));
  }

  /** {@inheritDoc Store.removeSession} */
  removeSession(tokenHash: string): Promise<boolean> {
    return this.#run("removeSession", () => this.#r.removeSession(tokenHash));
  }

  /**
   * Records activity: reads through this store see it at once; NATS gets it
   * at most every 500 ms (other brokers see it that much later).
   */
  touch(name: string, now: number): Promise<void> {
    if (this.#closed) return Promise.reject(new IpcError("E_STORE", "NATS store is closed"));
    try {
      this.#r.touch(name, now);
      return Promise.resolve();
    } catch (e) {
      return Promise.reject(e);
    }
  }

  // --- instances --------------------------------------------------------

  #record(name: string, d: InstanceDoc, seen: number, queued: number): InstanceRecord {
    const r: InstanceRecord = {
      name,
      createdAt: d.createdAt,
      lastSeen: this.#r.lastSeen(name, d.lastSeen, seen),
      sessions: d.sessions.length,
      queued,
    };
    if (d.lastRenameAt !== undefined) r.lastRenameAt = d.lastRenameAt;
    if (d.host !== undefined) r.host = d.host;
    return r;
  }

  /** {@inheritDoc Store.instance} */
  instance(name: string): Promise<InstanceRecord | null> {
    return this.#run("instance", async () => {
      const [rec, queued] = await Promise.all([this.#r.instance(name), this.#q.depth(name)]);
      return rec ? this.#record(name, rec.doc, rec.seen, queued) : null;
    });
  }

  /** {@inheritDoc Store.instances} */
  instances(): Promise<InstanceRecord[]> {
    return this.#run("instances", async () => {
      const [{ docs, seen }, counts] = await Promise.all([this.#r.instances(), this.#q.counts()]);
      return [...docs.keys()].sort().map((name) =>
        this.#record(name, docs.get(name)!, seen.get(name) ?? 0, counts.get(name) ?? 0)
      );
    });
  }

  // --- queues -----------------------------------------------------------

  /** {@inheritDoc Store.enqueue} */
  enqueue(messages: StoredMessage[], cap: number): Promise<EnqueueOutcome[]> {
    return this.#run("enqueue", () => this.#q.enqueue(messages, cap));
  }

  /** {@inheritDoc Store.peek} (`maxBytes` counts UTF-8 bytes of `content`.) */
  peek(name: string, limit: number, maxBytes?: number): Promise<StoredMessage[]> {
    if (limit < 1) return this.#run("peek", () => Promise.resolve([]));
    return this.#run("peek", () => this.#q.peek(name, limit, maxBytes));
  }

  /** {@inheritDoc Store.ack} */
  ack(name: string, ids: string[], now: number): Promise<string[]> {
    if (ids.length === 0) return this.#run("ack", () => Promise.resolve([]));
    return this.#run("ack", () => this.#q.ack(name, ids, now));
  }

  /** {@inheritDoc Store.depth} */
  depth(name: string): Promise<number> {
    return this.#run("depth", () => this.#q.depth(name));
  }

  // --- conversations and receipts -------------------------------------------
  //
  // Nothing here costs a plain send anything: short ids are computed, not
  // stored, so a lookup reads the subjects the message can be on (the
  // party's history both ways and the queues); delivery and reply times are
  // create-once keys of the `p_receipts` bucket; the read time is the
  // history entry's ack time.

  /** {@inheritDoc Store.markDelivered} */
  markDelivered(_name: string, ids: string[], now: number): Promise<void> {
    return this.#run("markDelivered", async () => {
      await parallel(ids, 16, (id) => createOnce(this.#receipts, deliveredKey(id), String(now)));
    });
  }

  /** {@inheritDoc Store.findMessages} */
  findMessages(ref: string, party: string, limit = 10): Promise<MessageRecord[]> {
    return this.#run("findMessages", async () => {
      checkName(party);
      const p = this.#p;
      const hit = (m: StoredMessage) =>
        (m.id === ref || shortId(m.id) === ref) && (m.from === party || m.to === party);
      const found = await this.#collect(
        [`${p}.q.*`],
        [`${p}.h.${party}.*`, `${p}.h.*.${party}`],
        hit,
      );
      return await this.#withReceipts(found.reverse().slice(0, limit));
    });
  }

  /** {@inheritDoc Store.thread} */
  thread(root: ThreadRoot, limit: number): Promise<MessageRecord[]> {
    return this.#run("thread", async () => {
      const [a, b] = [checkName(root.from), checkName(root.to)];
      const p = this.#p;
      const found = await this.#collect(
        [...new Set([`${p}.q.${a}`, `${p}.q.${b}`])],
        [...new Set([`${p}.h.${a}.${b}`, `${p}.h.${b}.${a}`])],
        (m) => m.id === root.id || m.threadId === root.id,
      );
      return await this.#withReceipts(found.slice(0, limit));
    });
  }

  /** {@inheritDoc Store.findReply} */
  findReply(name: string, replyTo: string): Promise<StoredMessage | null> {
    return this.#run("findReply", async () => {
      for (const sm of await this.#q.scan(name)) {
        const d = decodeDoc<QueuedDoc>(sm.data);
        if (d.replyTo === replyTo) return toStored(d);
      }
      return null;
    });
  }

  /**
   * The messages matching `hit` on the given queue and history subjects,
   * oldest first; a message in both (an ack under way) counts as read.
   */
  async #collect(
    queues: string[],
    histories: string[],
    hit: (m: StoredMessage) => boolean,
  ): Promise<MessageRecord[]> {
    const scan = (stream: string, filter: string) =>
      scanStream(this.#link, this.#jsm, stream, filter);
    // Queues first, then histories: an ack writes the history entry before
    // it deletes the queued copy, so a message acked while this runs is
    // found in one or the other (scanned together, both could miss it).
    const q = await Promise.all(queues.map((f) => scan(this.#q.stream, f)));
    const h = await Promise.all(histories.map((f) => scan(this.#q.historyStream, f)));
    const byId = new Map<string, { r: MessageRecord; order: number }>();
    for (const sm of q.flat()) {
      const d = decodeDoc<QueuedDoc>(sm.data);
      if (hit(d)) byId.set(d.id, { r: toStored(d), order: d.order ?? sm.seq });
    }
    for (const sm of h.flat()) {
      const d = decodeDoc<HistoryDoc>(sm.data);
      if (hit(d)) byId.set(d.id, { r: { ...toStored(d), readAt: d.ackedAt }, order: d.order });
    }
    return [...byId.values()].sort((x, y) => x.order - y.order).map((e) => e.r);
  }

  async #withReceipts(records: MessageRecord[]): Promise<MessageRecord[]> {
    const value = async (key: string) => {
      const e = await this.#receipts.get(key);
      return e && e.operation === "PUT" ? new TextDecoder().decode(e.value) : undefined;
    };
    await Promise.all(records.map(async (r) => {
      const [d, p] = await Promise.all([value(deliveredKey(r.id)), value(repliedKey(r.id))]);
      if (d !== undefined) r.deliveredAt = Number(d);
      if (r.readAt !== undefined) r.deliveredAt ??= r.readAt;
      if (p !== undefined) {
        const { at, id } = JSON.parse(p) as { at: number; id: string };
        r.repliedAt = at;
        r.replyId = id;
      }
    }));
    return records;
  }

  // --- renames ----------------------------------------------------------

  /**
   * {@inheritDoc Store.rename}
   *
   * As in the SQLite store: forwards that pointed at `from` now point at
   * `to`, a forward from `to` is dropped, E_NOT_FOUND when `from` has no
   * record. The queue is appended to `to`'s (moved twice, to catch a message
   * another broker queued for `from` while the rename was under way).
   */
  rename(from: string, to: string, now: number, forwardUntil: number): Promise<void> {
    return this.#run(
      "rename",
      () =>
        this.#q.serial(from, () =>
          this.#q.serial(to, async () => {
            await this.#r.rename(from, to, now, forwardUntil);
            for (let pass = 0; pass < 2; pass++) await this.#q.move(from, to);
            this.#q.notify(to);
          })),
      true,
    );
  }

  /** {@inheritDoc Store.forward} (A forward holds while `now <= until`.) */
  forward(name: string, now: number): Promise<string | null> {
    return this.#run("forward", () => this.#r.forward(name, now));
  }

  /** Every forward still stored (expired ones until the next purge). */
  forwards(): Promise<ForwardRecord[]> {
    return this.#run("forwards", () => this.#r.forwards());
  }

  // --- file claims ------------------------------------------------------

  /** {@inheritDoc Store.updateClaims} (`change` may run again after a conflicting write.) */
  updateClaims<T>(root: string, change: (claims: ClaimRecord[]) => ClaimsChange<T>): Promise<T> {
    return this.#run("updateClaims", () => this.#claims.update(root, change));
  }

  /** {@inheritDoc Store.claims} */
  claims(root?: string): Promise<ClaimRecord[]> {
    return this.#run("claims", () => this.#claims.all(root));
  }

  // --- history and upkeep ----------------------------------------------

  /**
   * {@inheritDoc Store.history}
   *
   * Newest first in enqueue order. `since`/`until` are inclusive; `text` is
   * matched as words (FTS5 operators and quotes are ignored, `word*` is a
   * prefix). `to`/`from` narrow the scan on the server; the rest is
   * filtered here, so a query reads the matching part of both streams.
   */
  history(query: HistoryQuery): Promise<MessageRecord[]> {
    return this.#run("history", async () => {
      const to = query.to === undefined ? "*" : checkName(query.to);
      const from = query.from === undefined ? "*" : checkName(query.from);
      const [done, queued] = await Promise.all([
        scanStream(this.#link, this.#jsm, this.#q.historyStream, `${this.#p}.h.${to}.${from}`),
        this.#q.scan(query.to),
      ]);
      // An ack writes history before it deletes from the queue: a message in
      // both is the same message; its history entry is the newer truth.
      const byId = new Map<string, { m: MessageRecord; order: number }>();
      for (const sm of queued) {
        const d = decodeDoc<QueuedDoc>(sm.data);
        byId.set(d.id, { m: toStored(d), order: d.order ?? sm.seq });
      }
      for (const sm of done) {
        const d = decodeDoc<HistoryDoc>(sm.data);
        const m: MessageRecord = toStored(d);
        if (query.receipts) m.readAt = d.ackedAt;
        byId.set(d.id, { m, order: d.order });
      }
      let before = Infinity;
      if (query.beforeId !== undefined) {
        const anchor = byId.get(query.beforeId);
        if (!anchor) return [];
        before = anchor.order;
      }
      const limit = Math.max(0, Math.trunc(query.limit ?? 100));
      const all = [...byId.values()].filter((e) => e.order < before && matchesHistory(e.m, query));
      const page = all.sort((a, b) => b.order - a.order).slice(0, limit).map((e) => e.m);
      return query.receipts ? await this.#withReceipts(page) : page;
    });
  }

  /**
   * {@inheritDoc Store.purge}
   *
   * As in the SQLite store: a queued message is unclaimed when its recipient
   * has no live session and its `time` is before `now - unclaimedQueueMs`; a
   * delivered one expires when acknowledged before `now - historyMs`; a
   * forward when `until < now`. Large-message objects of dropped messages
   * are deleted. Reads both streams, so run it rarely (the broker: hourly).
   */
  purge(now: number, retention: Retention): Promise<PurgeResult> {
    return this.#run("purge", async () => {
      const [{ docs }, queued, done] = await Promise.all([
        this.#r.instances(),
        this.#q.scan(),
        scanStream(this.#link, this.#jsm, this.#q.historyStream, `${this.#p}.h.*.*`),
      ]);
      const large: string[] = [];
      const dropped: string[] = [];
      const queueCutoff = now - retention.unclaimedQueueMs;
      const dropQueued = queued.filter((sm) => {
        if ((docs.get(this.#q.owner(sm.subject))?.sessions.length ?? 0) > 0) return false;
        const d = decodeDoc<QueuedDoc>(sm.data);
        if (d.time >= queueCutoff) return false;
        if (d.large) large.push(d.large.path);
        dropped.push(d.id);
        return true;
      }).map((sm) => sm.seq);
      const historyCutoff = now - retention.historyMs;
      const dropHistory = done.filter((sm) => {
        const d = decodeDoc<HistoryDoc>(sm.data);
        if (d.ackedAt >= historyCutoff) return false;
        if (d.large) large.push(d.large.path);
        dropped.push(d.id);
        return true;
      }).map((sm) => sm.seq);
      const result: PurgeResult = {
        expiredQueued: await this.#q.deleteSeqs(dropQueued),
        expiredHistory: await this.#purgeHistory(dropHistory, done.map((sm) => sm.seq)),
        expiredForwards: await this.#r.purgeForwards(now),
      };
      await parallel(dropped, 16, async (id) => {
        for (const key of [deliveredKey(id), repliedKey(id)]) {
          await this.#receipts.purge(key).catch(() => {});
        }
      });
      const objects = large.filter((p) => p.startsWith(OBJECT_PREFIX));
      if (objects.length) {
        const os = await this.#objectStore();
        await parallel(objects, 8, async (p) => {
          await os.delete(p.slice(p.lastIndexOf("/") + 1)).catch(() => {});
        });
      }
      return result;
    }, true);
  }

  /** History is in ack order, so expiry is usually a prefix: one purge request. */
  async #purgeHistory(drop: number[], all: number[]): Promise<number> {
    let prefix = 0;
    while (prefix < drop.length && drop[prefix] === all[prefix]) prefix++;
    let n = 0;
    if (prefix > 0) {
      const r = await this.#jsm.streams.purge(this.#q.historyStream, { seq: drop[prefix - 1] + 1 });
      n += r.purged;
    }
    return n + await this.#q.deleteSeqs(drop.slice(prefix), this.#q.historyStream);
  }

  // --- large messages ---------------------------------------------------

  #objectStore(): Promise<ObjectStore> {
    // A failed creation (a re-election) is not kept: the next call tries again.
    this.#objects ??= this.#objm.create(`${this.#p}_large`, {
      storage: StorageType.File,
      replicas: this.#link.replicas,
    });
    this.#objects.catch(() => this.#objects = undefined);
    return this.#objects;
  }

  /**
   * Stores a large message body in the NATS object store, where every broker
   * sharing this NATS can read it. Returns the `large` field to queue with
   * the message (`path` is `nats-obj://BUCKET/ID`).
   */
  putLarge(id: string, content: string): Promise<{ path: string; size: number }> {
    return this.#run("putLarge", async () => {
      if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) {
        throw new IpcError("E_BAD_FIELD", `Unsafe object name "${id}"`);
      }
      const bytes = new TextEncoder().encode(content);
      await (await this.#objectStore()).putBlob({ name: id }, bytes);
      return { path: `${OBJECT_PREFIX}${this.#p}_large/${id}`, size: bytes.length };
    });
  }

  /** The body stored by {@linkcode putLarge}, or null when it is gone or not ours. */
  readLarge(path: string): Promise<string | null> {
    return this.#run("readLarge", async () => {
      const lead = `${OBJECT_PREFIX}${this.#p}_large/`;
      if (!path.startsWith(lead)) return null;
      const bytes = await (await this.#objectStore()).getBlob(path.slice(lead.length));
      return bytes === null ? null : new TextDecoder().decode(bytes);
    });
  }

  // --- cluster health ----------------------------------------------------

  /**
   * {@inheritDoc Store.health}: the replica count, the servers seen (the
   * one connected to, the peers it gossips, every replica of our streams)
   * and, per stream and bucket, its leader and the replicas behind it.
   */
  health(): Promise<StoreHealth> {
    return this.#run("health", async () => {
      const names = [
        this.#q.stream,
        this.#q.historyStream,
        ...BUCKETS.map((b) => `KV_${this.#p}_${b}`),
        `OBJ_${this.#p}_large`,
      ];
      const info = this.#link.nc.info;
      const servers = new Set<string>();
      if (info?.server_name) servers.add(info.server_name);
      const streams: StreamHealth[] = [];
      await Promise.all(names.map(async (name) => {
        let si;
        try {
          si = await this.#jsm.streams.info(name);
        } catch (e) {
          if (isNotFound(e)) return; // the object store before its first large message
          throw e;
        }
        const c = si.cluster;
        const h: StreamHealth = { name, replicas: si.config.num_replicas ?? 1, lagging: [] };
        if (c?.leader) {
          h.leader = c.leader;
          servers.add(c.leader);
        }
        for (const r of c?.replicas ?? []) {
          servers.add(r.name);
          if (!r.current || r.offline || (r.lag ?? 0) > 0) {
            h.lagging.push({ server: r.name, lag: r.lag ?? 0, offline: r.offline === true });
          }
        }
        streams.push(h);
      }));
      streams.sort((a, b) => names.indexOf(a.name) - names.indexOf(b.name));
      const out: StoreHealth = {
        replicas: this.#link.replicas,
        servers: [...servers].sort(),
        streams,
      };
      if (info?.cluster) out.cluster = info.cluster;
      if (info?.server_name) out.connectedTo = info.server_name;
      return out;
    });
  }

  // --- wake-ups and lifetime -------------------------------------------

  /**
   * {@inheritDoc Store.watch}
   *
   * Fires for enqueues (and queues moved by a rename) by any store sharing
   * this NATS, this one included. The subscription survives reconnects.
   */
  watch(cb: (recipient: string, replies?: readonly string[]) => void): () => void {
    const lead = `${this.#p}.n.`.length;
    const sub = this.#link.nc.subscribe(`${this.#p}.n.*`, {
      callback: (err, msg) => {
        if (!err) cb(msg.subject.slice(lead), replyHints(msg.data));
      },
    });
    this.#subs.add(sub);
    return () => {
      if (this.#subs.delete(sub)) sub.unsubscribe();
    };
  }

  /**
   * {@inheritDoc Store.watchMessages}
   *
   * Every enqueue also publishes the stored document on the core subject
   * `p.m.<origin>.<to>` (no reply, nothing kept); this subscription takes
   * those of other origins.
   */
  watchMessages(cb: (message: StoredMessage) => void): () => void {
    const own = this.#q.origin;
    const sub = this.#link.nc.subscribe(`${this.#p}.m.*.*`, {
      callback: (err, msg) => {
        if (err || msg.subject.split(".")[2] === own) return;
        try {
          cb(toStored(decodeDoc<QueuedDoc>(msg.data)));
        } catch { /* not a document of ours */ }
      },
    });
    this.#subs.add(sub);
    return () => {
      if (this.#subs.delete(sub)) sub.unsubscribe();
    };
  }

  /** {@inheritDoc Store.close} (Writes pending touches, bounded by the timeout.) */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#r.stop();
    if (this.#r.touchesPending) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        this.#link.ready("close").then(() => this.#r.flushTouches()).catch(() => {}),
        new Promise((r) => timer = setTimeout(r, this.#link.timeoutMs)),
      ]);
      clearTimeout(timer);
    }
    for (const sub of this.#subs) sub.unsubscribe();
    this.#subs.clear();
    await this.#link.close();
  }

  /** Same as {@linkcode NatsStore.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * The reply ids a wake-up notice carries (see `_nats_queues.ts` `notify`);
 * undefined (wake everybody) when it carries none or anything unexpected.
 */
function replyHints(data: Uint8Array): string[] | undefined {
  if (data.length === 0) return undefined;
  try {
    const v = JSON.parse(new TextDecoder().decode(data));
    return Array.isArray(v) && v.every((x) => typeof x === "string") ? v : undefined;
  } catch {
    return undefined;
  }
}
