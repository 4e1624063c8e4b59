/**
 * The queues of the NATS store: one JetStream subject per recipient
 * (`p.q.<name>`) in the stream `P_QUEUE`, FIFO in stream order. Owns
 * enqueue (conditional publishes, so the cap holds across brokers), peek
 * (direct gets), ack (history record, then delete), depth (the server's
 * per-subject count) and moving a queue on rename.
 *
 * @module
 */

import type { JetStreamManager, KV } from "../deps.ts";
import { IpcError } from "../protocol/errors.ts";
import type { JsonObject } from "../protocol/messages.ts";
import type { EnqueueOutcome, StoredMessage } from "./store.ts";
import { type NatsLink, type ScannedMsg, scanStream } from "./_nats_conn.ts";
import { enqueueOnce } from "./_nats_dedupe.ts";
import { isTransient, isWrongSequence } from "./_nats_errors.ts";
import { NatsApiError } from "./_nats_fast.ts";

/** How a message is stored: the message and its place in the global order. */
export interface QueuedDoc extends StoredMessage {
  /**
   * The queue-stream sequence it was first stored at. Kept when a rename
   * moves it (the copy gets a new sequence), so history keeps enqueue order.
   */
  order?: number;
}

/** A history entry: the message, its enqueue order, when it was acknowledged. */
export interface HistoryDoc extends StoredMessage {
  order: number;
  ackedAt: number;
}

/**
 * What this store knows of a recipient's subject, for conditional publishes.
 * `count` is never below the real count when it is used: it is exact when
 * read, our own publishes add one, and a publish by another broker shows up
 * as a sequence conflict whose reply names the subject's new last sequence;
 * the subject cannot have gained more messages than the stream sequence
 * advanced, so that difference is added. Acks elsewhere only make it high,
 * and a high count near the cap is re-read before a message is refused.
 */
interface Tail {
  lastSeq: number;
  count: number;
  /** True when `count` was read from the server (not an upper bound). */
  exact: boolean;
  /**
   * The stream's last sequence when `count` was read: set on a fresh read of
   * an empty subject, which is written without a condition (see
   * `#enqueueOne`), so what landed since can be bounded by the difference.
   */
  streamSeq?: number;
}

interface Located {
  seq: number;
  subject: string;
  doc: QueuedDoc;
}

const NAME_RE = /^[A-Za-z0-9_-]{1,64}$/;
const CAS_ATTEMPTS = 64;
const ID_CACHE_MAX = 50_000;
const DELETE_PARALLEL = 64;
/** Peeks read this many messages one by one before switching to a bulk read. */
const DIRECT_PEEKS = 8;

/** Adds `id` to `set`, forgetting the oldest beyond {@linkcode ID_CACHE_MAX}. */
function addBounded(set: Set<string>, id: string): void {
  set.add(id);
  if (set.size > ID_CACHE_MAX) set.delete(set.values().next().value!);
}

const dec = new TextDecoder();
const enc = new TextEncoder();

/** Names become subject tokens and KV keys: anything else is refused. */
export function checkName(name: string): string {
  if (!NAME_RE.test(name)) {
    throw new IpcError("E_BAD_NAME", `Name "${name}" cannot be stored in NATS`);
  }
  return name;
}

/** Runs `fn` over `items` with at most `limit` at a time. */
export async function parallel<T>(
  items: T[],
  limit: number,
  fn: (t: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** Parses a stored payload. */
export function decodeDoc<T>(data: Uint8Array): T {
  return JSON.parse(dec.decode(data)) as T;
}

/** The public fields of a stored document (drops `order`, `ackedAt`). */
export function toStored(d: StoredMessage): StoredMessage {
  const m: StoredMessage = { id: d.id, from: d.from, to: d.to, time: d.time, content: d.content };
  if (d.data !== undefined) m.data = d.data as JsonObject;
  if (d.large !== undefined) m.large = { path: d.large.path, size: d.large.size };
  if (d.urgent) m.urgent = true;
  if (d.replyTo !== undefined) m.replyTo = d.replyTo;
  if (d.threadId !== undefined) m.threadId = d.threadId;
  if (d.quote !== undefined) m.quote = d.quote;
  return m;
}

/** Key of the receipts bucket under which `id`'s delivery time is kept. */
export function deliveredKey(id: string): string {
  return `${id}.d`;
}
/** Key of the receipts bucket under which `id`'s first reply is kept: `{at, id}`. */
export function repliedKey(id: string): string {
  return `${id}.p`;
}
/** Key of the receipts bucket present while `name` may have urgent messages queued. */
function urgentKey(name: string): string {
  return `u.${name}`;
}

/** Creates `key` unless it exists (first writer wins). */
export async function createOnce(kv: KV, key: string, value: string): Promise<void> {
  try {
    await kv.create(key, value);
  } catch (e) {
    if (!isWrongSequence(e)) throw e;
  }
}

/** The queue half of the NATS store. */
export class NatsQueues {
  readonly #link: NatsLink;
  readonly #jsm: JetStreamManager;
  readonly #p: string;
  /** The queue stream's name. */
  readonly stream: string;
  /** The history stream's name. */
  readonly historyStream: string;
  /**
   * This store's token in the subjects of stored messages (`p.m.<origin>.<to>`),
   * so it can tell its own from other brokers' (see `NatsStore.watchMessages`).
   */
  readonly origin = crypto.randomUUID().replaceAll("-", "");
  /** Where messages this process enqueued or peeked live (a seq never changes content). */
  readonly #located = new Map<string, Located>();
  readonly #tails = new Map<string, Tail>();
  /**
   * Ids this store deleted from the queue by an ack, newest last. In a
   * cluster, peeks are direct gets that any replica answers, and a replica
   * catching up (restarted after a loss) still has messages deleted since:
   * those are skipped, so a message never comes back after its ack
   * succeeded. (A recipient peeks and acks through its own host's broker.)
   */
  readonly #acked = new Set<string>();
  /**
   * Ids whose publish got no answer (a leader lost, a connection dropped):
   * it may have been stored. Its retry looks first (see `#landed`), as a
   * publish the server judges a repeat is a write every replica refuses, the
   * kind nats-server 2.9.10 miscounts (see `#enqueueOne`), and it would not
   * wake the recipient.
   */
  readonly #unsure = new Set<string>();
  readonly #locks = new Map<string, Promise<void>>();
  /** Idempotency keys of messages sent with a client id (see `_nats_dedupe.ts`). */
  readonly #dedupe: KV | undefined;
  /** Delivery and reply stamps, and urgent markers (see `deliveredKey`). */
  readonly #receipts: KV | undefined;

  constructor(
    link: NatsLink,
    jsm: JetStreamManager,
    prefix: string,
    dedupe?: KV,
    receipts?: KV,
  ) {
    this.#link = link;
    this.#jsm = jsm;
    this.#p = prefix;
    this.#dedupe = dedupe;
    this.#receipts = receipts;
    ({ stream: this.stream, historyStream: this.historyStream } = NatsQueues.streamNames(prefix));
  }

  /** The names of the queue and history streams under `prefix`. */
  static streamNames(prefix: string): { stream: string; historyStream: string } {
    return {
      stream: `${prefix.toUpperCase()}_QUEUE`,
      historyStream: `${prefix.toUpperCase()}_HISTORY`,
    };
  }

  /**
   * One message of the queue stream: a direct get (any replica answers) at
   * one replica, the leader's answer when replicated (see `leaderGet`).
   */
  #get(query: { next_by_subj?: string; last_by_subj?: string; seq?: number }) {
    return this.#link.replicas > 1
      ? this.#link.fast.leaderGet(this.stream, query)
      : this.#link.fast.directGet(this.stream, query);
  }

  /** The subject of `name`'s queue. */
  subject(name: string): string {
    return `${this.#p}.q.${checkName(name)}`;
  }

  /** Every queued message (optionally of one recipient), in stream order. */
  scan(name?: string): Promise<ScannedMsg[]> {
    const filter = name === undefined ? `${this.#p}.q.*` : this.subject(name);
    return scanStream(this.#link, this.#jsm, this.stream, filter);
  }

  /** The recipient a queue subject belongs to. */
  owner(subject: string): string {
    return subject.slice(this.#p.length + 3);
  }

  /** Runs `fn` after every earlier holder of `name`'s queue in this process. */
  async serial<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#locks.get(name) ?? Promise.resolve();
    let release!: () => void;
    const mine = prev.then(() => new Promise<void>((r) => release = r));
    this.#locks.set(name, mine);
    await prev;
    try {
      return await fn();
    } finally {
      release();
      if (this.#locks.get(name) === mine) this.#locks.delete(name);
    }
  }

  #remember(doc: QueuedDoc, seq: number, subject: string): void {
    this.#located.delete(doc.id);
    this.#located.set(doc.id, { seq, subject, doc });
    if (this.#located.size > ID_CACHE_MAX) {
      this.#located.delete(this.#located.keys().next().value!);
    }
  }

  /**
   * Wakes watchers of `name` (core NATS, no reply). With `replies`, the ids
   * the new messages answer travel as a JSON array, so a broker wakes only
   * those `wait_reply`s; without, an empty payload wakes every waiter.
   */
  notify(name: string, replies?: readonly string[]): void {
    this.#link.nc.publish(
      `${this.#p}.n.${name}`,
      replies ? enc.encode(JSON.stringify(replies)) : undefined,
    );
  }

  /** Queue depth of every recipient with queued messages. */
  async counts(): Promise<Map<string, number>> {
    const si = await this.#jsm.streams.info(this.stream, { subjects_filter: `${this.#p}.q.*` });
    const out = new Map<string, number>();
    for (const [subj, n] of Object.entries(si.state.subjects ?? {})) out.set(this.owner(subj), n);
    return out;
  }

  /** Unacknowledged messages of `name`. */
  async depth(name: string): Promise<number> {
    const subj = this.subject(name);
    const si = await this.#link.fast.api<{ state: { subjects?: Record<string, number> } }>(
      `$JS.API.STREAM.INFO.${this.stream}`,
      { subjects_filter: subj },
    );
    return si.state.subjects?.[subj] ?? 0;
  }

  /** The subject's last sequence, then its count: a publish between the two makes the CAS fail. */
  async #readTail(name: string): Promise<Tail> {
    const last = await this.#get({ last_by_subj: this.subject(name) });
    return { lastSeq: last?.seq ?? 0, count: await this.depth(name), exact: true };
  }

  /**
   * For a subject believed empty: its count and the stream's last sequence
   * (one stream info from the leader); the full read when it is not empty.
   */
  async #readEmptyTail(name: string): Promise<Tail> {
    const subj = this.subject(name);
    const si = await this.#link.fast.api<
      { state: { last_seq: number; subjects?: Record<string, number> } }
    >(`$JS.API.STREAM.INFO.${this.stream}`, { subjects_filter: subj });
    const streamSeq = si.state.last_seq;
    const count = si.state.subjects?.[subj] ?? 0;
    // Not empty: the full read (its count includes what landed since this one).
    if (count > 0) return { ...await this.#readTail(name), streamSeq };
    return { lastSeq: 0, count: 0, exact: true, streamSeq };
  }

  /**
   * The sequence of message `id` when it is the last of `subject` (a publish
   * whose answer was lost, stored after all), else undefined.
   */
  async #landed(subject: string, id: string): Promise<number | undefined> {
    const last = await this.#get({ last_by_subj: subject });
    return last && decodeDoc<QueuedDoc>(last.data).id === id ? last.seq : undefined;
  }

  /** {@link Store.enqueue}: per recipient in order, recipients in parallel. */
  async enqueue(messages: StoredMessage[], cap: number): Promise<EnqueueOutcome[]> {
    const outcomes: EnqueueOutcome[] = new Array(messages.length);
    const byRecipient = new Map<string, number[]>();
    messages.forEach((m, i) => {
      checkName(m.to);
      const list = byRecipient.get(m.to);
      if (list) list.push(i);
      else byRecipient.set(m.to, [i]);
    });
    await Promise.all([...byRecipient].map(([to, idx]) =>
      this.serial(to, async () => {
        // Only a message newly stored wakes watchers: a repeat of a send is not news.
        let stored = false;
        const replies: string[] = [];
        const publish = async (m: StoredMessage) => {
          const { outcome, added } = await this.#enqueueOne(m, cap);
          stored ||= added;
          if (added && m.replyTo !== undefined) replies.push(m.replyTo);
          return outcome;
        };
        for (const i of idx) {
          const m = messages[i];
          outcomes[i] = m.clientId !== undefined && this.#dedupe
            ? await enqueueOnce(this.#dedupe, m, publish)
            : await publish(m);
          if (outcomes[i].ok && outcomes[i].duplicateOf === undefined) await this.#stamp(m);
        }
        if (stored) this.notify(to, replies);
      })
    ));
    return outcomes;
  }

  /** Marks what a stored message answers replied, and its recipient as having urgent mail. */
  async #stamp(m: StoredMessage): Promise<void> {
    const kv = this.#receipts;
    if (!kv || (!m.urgent && m.replyTo === undefined)) return;
    if (m.urgent) await kv.put(urgentKey(m.to), "1");
    if (m.replyTo !== undefined) {
      await createOnce(kv, repliedKey(m.replyTo), JSON.stringify({ at: m.time, id: m.id }));
    }
  }

  /** Publishes one message; `added` is false when the server already had its id. */
  async #enqueueOne(
    m: StoredMessage,
    cap: number,
  ): Promise<{ outcome: EnqueueOutcome; added: boolean }> {
    const subj = this.subject(m.to);
    const doc = toStored(m);
    const payload = JSON.stringify(doc);
    if (this.#unsure.has(m.id)) {
      const seq = await this.#landed(subj, m.id);
      if (seq !== undefined) {
        this.#unsure.delete(m.id);
        this.#tails.delete(m.to); // how many others stored meanwhile is unknown
        this.#remember(doc, seq, subj);
        this.#link.nc.publish(`${this.#p}.m.${this.origin}.${m.to}`, payload);
        return { outcome: { ok: true }, added: true };
      }
    }
    for (let i = 0; i < CAS_ATTEMPTS; i++) {
      let tail = this.#tails.get(m.to);
      if (!tail || (tail.count >= cap && !tail.exact)) tail = await this.#readTail(m.to);
      if (tail.lastSeq === 0 && tail.streamSeq === undefined) {
        tail = await this.#readEmptyTail(m.to);
      }
      if (tail.count >= cap) {
        this.#tails.set(m.to, { ...tail, exact: false, streamSeq: undefined }); // acks may follow
        return { outcome: { ok: false, reason: "full", queued: tail.count }, added: false };
      }
      // Conditional on the subject's last sequence (the cap holds across
      // brokers) and deduplicated by id (a retried publish is stored once).
      // Never conditional on an empty subject ("last sequence 0"): nats-server
      // 2.9.10 checks that one condition as each replica applies the write,
      // each against its own copy, and counts refusals (per replica, not kept
      // across a restart) into the sequences it gives later messages. Replicas
      // that counted differently number messages differently, and a delete by
      // sequence then removes another message on some of them: acknowledged
      // messages lost in the full cluster chaos run (docs/nats.md, "Lost
      // acknowledged messages"). A condition on a real sequence is checked by
      // the leader alone, before the write is replicated.
      const conditional = tail.lastSeq > 0;
      try {
        const ack = await this.#link.fast.publish(
          subj,
          payload,
          m.id,
          conditional ? tail.lastSeq : undefined,
        ).catch((e) => {
          if (isTransient(e)) {
            addBounded(this.#unsure, m.id);
          }
          throw e;
        });
        this.#unsure.delete(m.id);
        if (ack.duplicate) this.#tails.delete(m.to);
        else {
          // Unconditional: what other brokers stored since the read lies
          // between the stream's last sequence then and this message's.
          const added = conditional ? 1 : Math.max(1, ack.seq - tail.streamSeq!);
          this.#tails.set(m.to, { lastSeq: ack.seq, count: tail.count + added, exact: false });
        }
        this.#remember(doc, ack.seq, subj);
        // Other brokers' consoles show it live: core NATS, fire and forget,
        // dropped by the server when nobody listens.
        if (!ack.duplicate) this.#link.nc.publish(`${this.#p}.m.${this.origin}.${m.to}`, payload);
        return { outcome: { ok: true }, added: !ack.duplicate };
      } catch (e) {
        if (!isWrongSequence(e)) throw e;
        // Another broker wrote, or a message was acked: the reply names the
        // subject's last sequence now.
        const last = e instanceof NatsApiError ? e.lastSequence : undefined;
        if (last !== undefined && this.#tails.get(m.to) === tail) {
          const grown = Math.max(0, last - tail.lastSeq);
          this.#tails.set(m.to, { lastSeq: last, count: tail.count + grown, exact: false });
        } else {
          this.#tails.delete(m.to);
        }
      }
    }
    throw new IpcError("E_STORE", `NATS store: enqueue for "${m.to}" kept conflicting`);
  }

  /**
   * {@link Store.peek}: direct gets for the first few messages (one round
   * trip each: the server walks its per-subject index), then one bulk read
   * for the rest, so a deep queue costs a few round trips, not `limit`.
   */
  async peek(name: string, limit: number, maxBytes?: number): Promise<StoredMessage[]> {
    const subj = this.subject(name);
    const out: StoredMessage[] = [];
    let bytes = 0;
    let seq = 0;
    let cut = false; // stopped by maxBytes before the end of the queue
    const take = (doc: QueuedDoc, at: number): boolean => {
      seq = at + 1;
      if (this.#acked.has(doc.id)) return true; // a stale replica's copy (see #acked)
      if (maxBytes !== undefined) {
        bytes += enc.encode(doc.content).length;
        if (bytes > maxBytes && out.length > 0) return !(cut = true);
      }
      out.push(toStored(doc));
      this.#remember(doc, at, subj);
      return true;
    };
    let end = false;
    while (!end && out.length < Math.min(limit, DIRECT_PEEKS)) {
      const sm = await this.#get({ next_by_subj: subj, seq });
      end = !sm || !take(decodeDoc<QueuedDoc>(sm.data), sm.seq);
    }
    if (!end && out.length < limit) {
      const rest = await scanStream(this.#link, this.#jsm, this.stream, subj, {
        fromSeq: seq,
        max: limit - out.length,
      });
      for (const sm of rest) if (!take(decodeDoc<QueuedDoc>(sm.data), sm.seq)) break;
    }
    // Urgent messages first: those read are moved up; when the queue is longer
    // than what was read, a marker says whether urgent ones may wait further on.
    let urgent = out.filter((m) => m.urgent);
    if ((out.length === limit || cut) && this.#receipts) {
      const marker = await this.#receipts.get(urgentKey(name));
      if (marker && marker.operation === "PUT") {
        const all = await this.scan(name);
        const found: StoredMessage[] = [];
        for (const sm of all) {
          const doc = decodeDoc<QueuedDoc>(sm.data);
          if (!doc.urgent || this.#acked.has(doc.id)) continue;
          this.#remember(doc, sm.seq, subj);
          found.push(toStored(doc));
        }
        // None left: drop the marker, unless an urgent message came meanwhile.
        if (found.length === 0) {
          await this.#receipts.delete(urgentKey(name), { previousSeq: marker.revision })
            .catch(() => {});
        }
        urgent = found.slice(0, limit);
      }
    }
    if (urgent.length === 0) return out;
    const ids = new Set(urgent.map((m) => m.id));
    const merged = [...urgent, ...out.filter((m) => !ids.has(m.id))].slice(0, limit);
    if (maxBytes === undefined) return merged;
    const fitted: StoredMessage[] = [];
    let total = 0;
    for (const m of merged) {
      total += enc.encode(m.content).length;
      if (total > maxBytes && fitted.length > 0) break;
      fitted.push(m);
    }
    return fitted;
  }

  /** {@link Store.ack}: history entry first (deduplicated by id), then the delete decides. */
  async ack(name: string, ids: string[], now: number): Promise<string[]> {
    const subj = this.subject(name);
    const wanted = new Set(ids);
    const known = new Map<string, Located>();
    for (const id of wanted) {
      const at = this.#located.get(id);
      if (at && at.subject === subj) known.set(id, at);
    }
    const acked = new Set<string>();
    const unknown = new Set([...wanted].filter((id) => !known.has(id)));
    await this.#ackLocated(name, [...known.values()], now, acked, unknown);
    if (unknown.size > 0) {
      // Not seen here, or seen at a sequence since moved: look in the queue.
      const found: Located[] = [];
      for (const sm of await this.scan(name)) {
        const doc = decodeDoc<QueuedDoc>(sm.data);
        if (unknown.has(doc.id)) found.push({ seq: sm.seq, subject: subj, doc });
      }
      await this.#ackLocated(name, found, now, acked, new Set());
    }
    return ids.filter((id, i) => acked.has(id) && ids.indexOf(id) === i);
  }

  async #ackLocated(
    name: string,
    list: Located[],
    now: number,
    acked: Set<string>,
    missed: Set<string>,
  ): Promise<void> {
    await Promise.all(list.map(async (at) => {
      const h: HistoryDoc = { ...toStored(at.doc), order: at.doc.order ?? at.seq, ackedAt: now };
      // A repeated or concurrent ack of the same message is stored once.
      await this.#link.fast.publish(
        `${this.#p}.h.${h.to}.${h.from}`,
        JSON.stringify(h),
        `h.${h.id}`,
      );
      const deleted = await this.#link.fast.deleteMsg(this.stream, at.seq);
      this.#located.delete(at.doc.id);
      if (deleted) {
        acked.add(at.doc.id);
        addBounded(this.#acked, at.doc.id);
        const tail = this.#tails.get(name);
        if (tail) {
          tail.count = Math.max(0, tail.count - 1);
          // An upper bound of 0 means empty: the subject's last sequence is 0.
          if (tail.count === 0) tail.lastSeq = 0;
        }
      } else {
        missed.add(at.doc.id);
      }
    }));
  }

  /**
   * Moves `from`'s queue to the end of `to`'s: copies in order (each copy
   * deduplicated by its source sequence, so a retried move is stored once),
   * then deletes the originals. A crash between leaves copies and
   * originals, never neither.
   */
  async move(from: string, to: string): Promise<void> {
    const src = await this.scan(from);
    if (src.length === 0) return;
    const dst = this.subject(to);
    // Publishes on one connection to one stream keep their order.
    await Promise.all(src.map(async (sm) => {
      const old = decodeDoc<QueuedDoc>(sm.data);
      const doc: QueuedDoc = { ...toStored(old), to, order: old.order ?? sm.seq };
      const ack = await this.#link.fast.publish(dst, JSON.stringify(doc), `${doc.id}.m${sm.seq}`);
      this.#remember(doc, ack.seq, dst);
    }));
    await this.deleteSeqs(src.map((sm) => sm.seq));
    this.#tails.delete(from);
    this.#tails.delete(to);
  }

  /** Deletes queue messages by sequence; returns how many existed. */
  async deleteSeqs(seqs: number[], stream = this.stream): Promise<number> {
    let n = 0;
    await parallel(seqs, DELETE_PARALLEL, async (seq) => {
      if (await this.#link.fast.deleteMsg(stream, seq)) n++;
    });
    if (stream === this.stream) this.#tails.clear();
    return n;
  }
}
