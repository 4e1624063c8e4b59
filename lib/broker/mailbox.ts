/**
 * The message rules of the broker: sending (forwards, future names, large
 * content, queue caps), broadcast, reading (framed and legacy, sized to what
 * the client can read), acknowledging, and blocking `wait`. The identity of
 * every call is already established by the service; this file never asks who
 * you are, only what happens to your messages.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { IpcError } from "../protocol/errors.ts";
import { LIMITS } from "../defaults.ts";
import type {
  AckRequest,
  BroadcastRequest,
  CheckRequest,
  MessageBody,
  ReceiptRequest,
  ReplyRequest,
  SendRequest,
  ThreadRequest,
  WaitReplyRequest,
  WaitRequest,
  WireMessage,
} from "../protocol/messages.ts";
import { excerpt, shortId } from "../protocol/short_id.ts";
import type { MessageRecord, Store, StoredMessage } from "../state/store.ts";
import type { BrokerEvents } from "./events.ts";
import { LARGE_MESSAGE_BYTES, largeInline, writeLargeMessage } from "./large_messages.ts";
import type { HandlerResult, Peer } from "./peer.ts";
import type { QuietMarkers } from "./quiet_markers.ts";
import type { WaiterRegistry } from "./waiters.ts";
import type { WaitQuota } from "./wait_quota.ts";
import { fitReply, newMessageId, toReceipt, toWire } from "./wire_messages.ts";

/** Default number of messages one `check` returns. */
export const DEFAULT_CHECK_LIMIT = LIMITS.defaultCheckLimit;
/** Default `wait` timeout. */
export const DEFAULT_WAIT_MS = LIMITS.defaultWaitMs;
/** A legacy client reads one reply of at most 64 KiB. */
export const LEGACY_REPLY_MAX = 64 * 1024 - 1;

const utf8 = new TextEncoder();

/** Conversation fields of a message being sent (see `StoredMessage`). */
export interface Conversation {
  urgent?: boolean;
  replyTo?: string;
  threadId?: string;
  quote?: string;
}

/** Longest thread `thread` returns by default. */
export const DEFAULT_THREAD_LIMIT = 200;

/** A message queued by `deliver`. */
export interface Delivered {
  message: WireMessage;
  /** The name the message was sent to when a forward took it elsewhere. */
  forwardedFrom?: string;
  /** True when the recipient has never registered. */
  future: boolean;
  /** True when this repeats an earlier send with the same client id (nothing new stored). */
  duplicate: boolean;
}

/** A message queued, as stored (see {@linkcode Delivered}). */
interface Queued {
  stored: StoredMessage;
  forwardedFrom?: string;
  future: boolean;
  duplicate: boolean;
}

/** What the mailbox needs from the broker. */
export interface MailboxOptions {
  store: Store;
  dataDir: string;
  queueCap: number;
  maxFrame: number;
  waiters: WaiterRegistry;
  /** Pending waits per session and per process (E_LIMIT past a share). */
  quota: WaitQuota;
  /** The hooks' quiet markers (see `quiet_markers.ts`). */
  quiet?: QuietMarkers;
  events: BrokerEvents;
  /** True when `name` has a session connected to this broker. */
  isOnline: (name: string) => boolean;
  now: () => number;
}

/** The message rules. */
export class Mailbox {
  readonly #o: MailboxOptions;
  /** Recipients ("*": all) held by slow work in flight; see `#holdsOn`. */
  readonly #holds = new Map<string, Promise<void>>();

  constructor(options: MailboxOptions) {
    this.#o = options;
  }

  #now(): number {
    return this.#o.now();
  }

  /**
   * Queues one message from `from` to `to` (resolving forwards), writing large
   * content to a file. Used by `send` and by the web console (as `human`).
   * With a `clientId`, a repeat of an earlier send (same from, client id and
   * resolved recipient) stores nothing: `message` carries the first one's id
   * and `duplicate` is true.
   */
  async deliver(
    from: string,
    to: string,
    body: MessageBody,
    clientId?: string,
    conversation?: Conversation,
  ): Promise<Delivered> {
    const { stored, ...rest } = await this.#queue(from, to, body, clientId, conversation);
    return { message: toWire(stored), ...rest };
  }

  /** {@linkcode deliver}, with the message as stored (the replies to `send` and `reply` need no wire form). */
  #queue(
    from: string,
    to: string,
    body: MessageBody,
    clientId?: string,
    conversation?: Conversation,
  ): Promise<Queued> {
    try {
      this.#checkData(body);
    } catch (e) {
      return Promise.reject(e);
    }
    const now = this.#now();
    const bytes = body.content.length > LARGE_MESSAGE_BYTES / 4
      ? utf8.encode(body.content).length
      : 0;
    const before = this.#holdsOn([to, "*"]);
    // An ordinary message holds nothing: no frame of its own around the work.
    if (bytes <= LARGE_MESSAGE_BYTES) {
      return this.#deliver(from, to, body, now, bytes, before, clientId, conversation);
    }
    const release = this.#hold(to);
    return this.#deliver(from, to, body, now, bytes, before, clientId, conversation)
      .finally(release);
  }

  async #deliver(
    from: string,
    to: string,
    body: MessageBody,
    now: number,
    bytes: number,
    before: Promise<unknown> | undefined,
    clientId: string | undefined,
    conversation: Conversation | undefined,
  ): Promise<Queued> {
    let target = to;
    let forwardedFrom: string | undefined;
    // A name connected here has a live session: it neither forwards nor is a
    // future name, so the store is not asked (a read per send under load).
    const online = this.#o.isOnline(to);
    const record = online ? undefined : await this.#o.store.instance(to);
    if (!online && (!record || record.sessions === 0)) {
      const fwd = await this.#o.store.forward(to, now);
      if (fwd) {
        forwardedFrom = to;
        target = fwd;
      }
    }
    const future = forwardedFrom ? false : record === null;
    if (before) await before;
    const { stored, duplicate } = await this.#storeNow(
      this.#message(from, target, body, now, clientId, conversation),
      bytes,
    );
    return { stored, forwardedFrom, future, duplicate };
  }

  /**
   * Per-recipient FIFO around slow work. A large message is saved (real I/O)
   * before it is queued and a broadcast first lists its recipients, so a
   * message that arrives after one of those must not overtake it: each slow
   * operation holds its recipient (or "*", every recipient) until it is
   * queued, and later operations wait for the holds that existed when they
   * arrived. Ordinary sends hold nothing, so they keep sharing group commits.
   */
  #holdsOn(keys: string[] | "all"): Promise<unknown> | undefined {
    if (this.#holds.size === 0) return undefined;
    const found = keys === "all"
      ? [...this.#holds.values()]
      : keys.map((k) => this.#holds.get(k)).filter((p) => p !== undefined);
    return found.length === 0 ? undefined : found.length === 1 ? found[0] : Promise.all(found);
  }

  #hold(key: string): () => void {
    let release!: () => void;
    const mine = new Promise<void>((r) => release = r);
    const before = this.#holds.get(key);
    const chained = before ? Promise.all([before, mine]).then(() => {}) : mine;
    this.#holds.set(key, chained);
    chained.then(() => {
      if (this.#holds.get(key) === chained) this.#holds.delete(key);
    });
    return release;
  }

  #message(
    from: string,
    to: string,
    body: MessageBody,
    now: number,
    clientId: string | undefined,
    conversation: Conversation | undefined,
  ): StoredMessage {
    const msg: StoredMessage = {
      id: newMessageId(now),
      from,
      to,
      time: now,
      content: body.content,
    };
    if (body.data !== undefined) msg.data = body.data;
    if (clientId !== undefined) msg.clientId = clientId;
    if (conversation !== undefined) {
      if (conversation.urgent) msg.urgent = true;
      if (conversation.replyTo !== undefined) msg.replyTo = conversation.replyTo;
      if (conversation.threadId !== undefined) msg.threadId = conversation.threadId;
      if (conversation.quote !== undefined) msg.quote = conversation.quote;
    }
    return msg;
  }

  async #storeNow(
    msg: StoredMessage,
    bytes: number,
  ): Promise<{ stored: StoredMessage; duplicate: boolean }> {
    const { id, from, to, time: now } = msg;
    if (bytes > LARGE_MESSAGE_BYTES) {
      // A repeat of a send is not refused for a full queue (enqueue decides).
      const depth = msg.clientId === undefined ? await this.#o.store.depth(to) : 0;
      if (depth >= this.#o.queueCap) throw this.#queueFull(to);
      const { path, inline } = await this.#saveLarge({
        id,
        from,
        to,
        time: now,
        content: msg.content,
        bytes,
      });
      msg.content = inline;
      msg.large = { path, size: bytes };
    }
    const [outcome] = await this.#o.store.enqueue([msg], this.#o.queueCap);
    if (!outcome.ok) throw this.#queueFull(to);
    // A repeat was already delivered: no wake-up, no event, the first id.
    if (outcome.duplicateOf !== undefined) {
      return { stored: { ...msg, id: outcome.duplicateOf }, duplicate: true };
    }
    this.#delivered(msg);
    return { stored: msg, duplicate: false };
  }

  /**
   * Refuses `data` that serialises to more than a frame. A request fits in a
   * frame, but JSON numbers grow when written back (`9e20` is 21 bytes), and a
   * stored message that no reply can carry would block its recipient's queue.
   */
  #checkData(body: MessageBody): void {
    if (body.data === undefined) return;
    const bytes = Buffer.byteLength(JSON.stringify(body.data));
    if (bytes > this.#o.maxFrame) {
      throw new IpcError(
        "E_TOO_LARGE",
        `Field "message.data" is ${bytes} bytes once serialised: the limit is ${this.#o.maxFrame} bytes ` +
          '(long text belongs in "content", which is stored as a file)',
      );
    }
  }

  /** Saves a large body: in the store when it can hold one (NATS), else as a data-dir file. */
  async #saveLarge(
    msg: { id: string; from: string; to: string; time: number; content: string; bytes: number },
  ): Promise<{ path: string; inline: string }> {
    const store = this.#o.store;
    if (store.putLarge) {
      const { path, size } = await store.putLarge(msg.id, msg.content);
      return { path, inline: largeInline(msg.content, size, path) };
    }
    return await writeLargeMessage(this.#o.dataDir, msg);
  }

  #queueFull(to: string): IpcError {
    return new IpcError(
      "E_QUEUE_FULL",
      `Queue of "${to}" is full (${this.#o.queueCap} messages): it must check its messages before more can be sent`,
      { to_id: to },
    );
  }

  #delivered(msg: StoredMessage): void {
    this.#o.waiters.wake(msg.to, msg.replyTo);
    this.#o.quiet?.arrived(msg.to);
    if (this.#o.events.active) this.#o.events.emit({ type: "message", message: toWire(msg) });
  }

  async send(req: SendRequest, from: string): Promise<HandlerResult> {
    if (req.to_id === "all" || req.to_id === "*") {
      return await this.broadcast(
        { action: "broadcast", message: req.message, client_id: req.client_id },
        from,
      );
    }
    if (req.to_id === "system") {
      throw new IpcError("E_RESERVED_NAME", `Cannot send to "system"`);
    }
    const { stored: message, forwardedFrom, future, duplicate } = await this.#queue(
      from,
      req.to_id,
      req.message,
      req.client_id,
      req.urgent ? { urgent: true } : undefined,
    );
    const text = forwardedFrom
      ? `Message forwarded from ${forwardedFrom} to ${message.to}`
      : future
      ? `Message queued for ${message.to} (not yet registered)`
      : "Message sent";
    return {
      reply: {
        message: text,
        message_id: message.id,
        short_id: shortId(message.id),
        to_id: message.to,
        queued_for_future: future,
        ...(message.large ? { large: message.large } : {}),
        ...(duplicate ? { duplicate: true } : {}),
      },
    };
  }

  async broadcast(req: BroadcastRequest, from: string): Promise<HandlerResult> {
    this.#checkData(req.message);
    const before = this.#holdsOn("all");
    const release = this.#hold("*");
    try {
      return await this.#broadcast(req, from, before);
    } finally {
      release();
    }
  }

  async #broadcast(
    req: BroadcastRequest,
    from: string,
    before: Promise<unknown> | undefined,
  ): Promise<HandlerResult> {
    const now = this.#now();
    const recipients = (await this.#o.store.instances())
      .filter((i) => i.sessions > 0 && i.name !== from)
      .map((i) => i.name);
    let content = req.message.content;
    let large: StoredMessage["large"];
    const bytes = utf8.encode(content).length;
    if (bytes > LARGE_MESSAGE_BYTES && recipients.length > 0) {
      const written = await this.#saveLarge({
        id: newMessageId(now),
        from,
        to: "all",
        time: now,
        content,
        bytes,
      });
      content = written.inline;
      large = { path: written.path, size: bytes };
    }
    const msgs: StoredMessage[] = recipients.map((to) => {
      const m: StoredMessage = { id: newMessageId(now), from, to, time: now, content };
      if (req.message.data !== undefined) m.data = req.message.data;
      if (large) m.large = large;
      if (req.client_id !== undefined) m.clientId = req.client_id;
      return m;
    });
    if (before) await before;
    const outcomes = msgs.length ? await this.#o.store.enqueue(msgs, this.#o.queueCap) : [];
    const delivered: string[] = [];
    const missed: string[] = [];
    let duplicate = false;
    outcomes.forEach((o, i) => {
      if (o.ok) {
        delivered.push(msgs[i].to);
        // A recipient that already has this broadcast (a retry) is not woken again.
        if (o.duplicateOf === undefined) this.#delivered(msgs[i]);
        else duplicate = true;
      } else missed.push(msgs[i].to);
    });
    const text = `Broadcast to ${delivered.length} instances` +
      (missed.length ? ` (missed, queue full: ${missed.join(", ")})` : "");
    return {
      reply: { message: text, delivered, missed, ...(duplicate ? { duplicate: true } : {}) },
    };
  }

  async check(req: CheckRequest, name: string, peer: Peer): Promise<HandlerResult> {
    const limit = req.limit ?? DEFAULT_CHECK_LIMIT;
    if (peer.legacy) return await this.#legacyCheck(name, limit);
    const quiet = this.#quietStep(req.quiet_pid, name, peer);
    const messages = await this.#o.store.peek(name, limit, this.#o.maxFrame / 2);
    // The store counts content only: data and escapes could push the reply past
    // what a client reads, and a reply it cannot read would block its queue.
    const wire = fitReply(messages.map(toWire), this.#o.maxFrame);
    if (req.ack && wire.length) await this.#ackIds(name, wire.map((m) => m.id));
    const remaining = await this.#o.store.depth(name);
    quiet?.(remaining);
    return {
      reply: {
        message: wire.length ? `${wire.length} messages` : "No new messages",
        messages: wire,
        acked: req.ack === true,
        remaining,
      },
      // Delivered = handed to the client: stamped once the reply is written.
      afterWrite: wire.length && !req.ack
        ? () => this.#markDelivered(name, wire.map((m) => m.id))
        : undefined,
    };
  }

  /**
   * The quiet marker a hook asked for (`quiet_pid`), begun before its queue
   * is read; only for a client on this machine (a pid names a process here).
   */
  #quietStep(
    pid: number | undefined,
    name: string,
    peer: Peer,
  ): ((remaining: number) => void) | undefined {
    if (pid === undefined || !peer.local || !this.#o.quiet) return undefined;
    return this.#o.quiet.begin(name, pid);
  }

  async #markDelivered(name: string, ids: string[]): Promise<void> {
    await this.#o.store.markDelivered(name, ids, this.#now());
    if (this.#o.events.active) this.#o.events.emit({ type: "delivered", name, ids });
  }

  /**
   * The original's check-and-clear, made safe: only what fits in one 64 KiB
   * reply is returned, and it leaves the queue only once the reply is written.
   */
  async #legacyCheck(name: string, limit: number): Promise<HandlerResult> {
    const messages = (await this.#o.store.peek(name, limit, 40 * 1024)).map(toWire);
    const fitted: WireMessage[] = [];
    let size = 200;
    for (const m of messages) {
      // Bytes, not UTF-16 units: the legacy client reads 64 KiB of bytes once.
      let s = Buffer.byteLength(JSON.stringify(m)) + 1;
      let item = m;
      if (s > LEGACY_REPLY_MAX - 300) {
        // One message too big for any legacy reply: deliver it without its data.
        item = { ...m, message: { content: m.message.content } };
        (item as unknown as Record<string, unknown>).data_omitted = true;
        s = Buffer.byteLength(JSON.stringify(item)) + 1;
      }
      if (size + s > LEGACY_REPLY_MAX && fitted.length > 0) break;
      size += s;
      fitted.push(item);
    }
    const ids = fitted.map((m) => m.id);
    return {
      reply: {
        message: fitted.length ? `${fitted.length} messages` : "No new messages",
        messages: fitted,
      },
      afterWrite: ids.length ? async () => void await this.#ackIds(name, ids) : undefined,
    };
  }

  async #ackIds(name: string, ids: string[]): Promise<string[]> {
    const acked = await this.#o.store.ack(name, ids, this.#now());
    if (acked.length && this.#o.events.active) {
      this.#o.events.emit({ type: "acked", name, ids: acked });
    }
    return acked;
  }

  async ack(req: AckRequest, name: string, peer?: Peer): Promise<HandlerResult> {
    const quiet = peer && this.#quietStep(req.quiet_pid, name, peer);
    const acked = await this.#ackIds(name, req.ids);
    if (quiet) quiet(await this.#o.store.depth(name));
    const set = new Set(acked);
    const unknown = req.ids.filter((id) => !set.has(id));
    return {
      reply: {
        message: `Acknowledged ${acked.length} messages`,
        acked: acked.length,
        ...(unknown.length ? { unknown } : {}),
      },
    };
  }

  /**
   * Registers interest in `name`'s queue (with `replyTo`: in a reply to that
   * message only) until `deadline`: `woken` resolves true when such a message
   * may have arrived, false at the deadline or when the peer goes away;
   * `cancel` withdraws the interest (and its abort listener).
   */
  #interest(
    name: string,
    deadline: number,
    peer: Peer,
    replyTo?: string,
  ): { woken: Promise<boolean>; cancel: () => void } {
    let remove = () => {};
    let onAbort = () => {};
    const woken = new Promise<boolean>((resolve) => {
      remove = this.#o.waiters.add({
        name,
        replyTo,
        deadline,
        settle: (w) => {
          peer.signal.removeEventListener("abort", onAbort);
          resolve(w);
        },
      });
      onAbort = () => {
        remove();
        resolve(false);
      };
      peer.signal.addEventListener("abort", onAbort, { once: true });
    });
    return {
      woken,
      cancel: () => {
        remove();
        peer.signal.removeEventListener("abort", onAbort);
      },
    };
  }

  async wait(req: WaitRequest, name: string, peer: Peer): Promise<HandlerResult> {
    const check: CheckRequest = { action: "check", ack: req.ack, limit: req.limit };
    const timeout = req.timeout_ms ?? DEFAULT_WAIT_MS;
    if (peer.legacy || timeout === 0 || peer.signal.aborted) {
      const first = await this.check(check, name, peer);
      const empty = (first.reply.messages as unknown[]).length === 0;
      return empty && !peer.legacy ? { reply: { ...first.reply, timed_out: true } } : first;
    }
    // Something queued already (the common case under load): no interest, no
    // share of the wait quota, nothing to register and withdraw.
    const ready = await this.check(check, name, peer);
    if ((ready.reply.messages as unknown[]).length > 0 || peer.signal.aborted) return ready;
    const taken = this.#o.quota.take(peer, peer.tokenHash ?? name);
    const release = typeof taken === "function" ? taken : await taken;
    try {
      // Interest is registered BEFORE the check that decides to block: a
      // message that lands while the check is in flight (a network round trip
      // with NATS) wakes this wait instead of being missed until the timeout.
      const { woken, cancel } = this.#interest(name, this.#now() + timeout, peer);
      const first = await this.check(check, name, peer);
      if ((first.reply.messages as unknown[]).length > 0) {
        cancel();
        return first;
      }
      const wasWoken = await woken;
      if (peer.signal.aborted) return { reply: { message: "Connection closed", messages: [] } };
      const current = peer.name ?? name; // a rename while waiting moves the waiter
      const result = await this.check(check, current, peer);
      if (!wasWoken) result.reply.timed_out = (result.reply.messages as unknown[]).length === 0;
      return result;
    } finally {
      release();
    }
  }

  // --- conversations --------------------------------------------------------

  /**
   * The one message `ref` (an id or short id) names among those `name` sent
   * ("sent"), received ("received") or either. E_NOT_FOUND when none,
   * E_AMBIGUOUS when a short id names several.
   */
  async resolve(
    ref: string,
    name: string,
    role: "sent" | "received" | "either",
  ): Promise<MessageRecord> {
    const found = (await this.#o.store.findMessages(ref, name)).filter((m) =>
      role === "sent" ? m.from === name : role === "received" ? m.to === name : true
    );
    if (found.length === 0) {
      const what = role === "sent"
        ? "that you sent"
        : role === "received"
        ? "sent to you"
        : "sent by or to you";
      throw new IpcError(
        "E_NOT_FOUND",
        `No message "${ref}" ${what}: use the short id shown with the message (or its full id)`,
        { message_id: ref },
      );
    }
    const exact = found.find((m) => m.id === ref);
    if (exact) return exact;
    if (found.length > 1) {
      throw new IpcError(
        "E_AMBIGUOUS",
        `Short id "${ref}" matches ${found.length} messages: use the full message id`,
        { message_id: ref, candidates: found.map((m) => m.id) },
      );
    }
    return found[0];
  }

  /** Answers a message the caller received: to its sender, in its thread. */
  async reply(req: ReplyRequest, from: string): Promise<HandlerResult> {
    const original = await this.resolve(req.message_id, from, "received");
    if (original.from === "system") {
      throw new IpcError("E_RESERVED_NAME", `Cannot reply to "system": it reads nothing`);
    }
    const threadId = original.threadId ?? original.id;
    const { message, forwardedFrom, duplicate } = await this.deliver(
      from,
      original.from,
      req.message,
      req.client_id,
      {
        urgent: req.urgent,
        replyTo: original.id,
        threadId,
        quote: excerpt(original.content),
      },
    );
    return {
      reply: {
        message: forwardedFrom
          ? `Reply forwarded from ${forwardedFrom} to ${message.to}`
          : `Reply sent to ${message.to}`,
        message_id: message.id,
        short_id: message.short_id,
        to_id: message.to,
        reply_to: original.id,
        reply_to_short: shortId(original.id),
        thread_id: threadId,
        ...(message.large ? { large: message.large } : {}),
        ...(duplicate ? { duplicate: true } : {}),
      },
    };
  }

  /**
   * Waits for a reply to a message the caller sent. Returns it without
   * acknowledging it; a timeout consumes nothing (the reply, when it comes,
   * waits in the queue like any message).
   */
  async waitReply(req: WaitReplyRequest, name: string, peer: Peer): Promise<HandlerResult> {
    const question = await this.resolve(req.message_id, name, "sent");
    const taken = this.#o.quota.take(peer, peer.tokenHash ?? name);
    const release = typeof taken === "function" ? taken : await taken;
    try {
      return await this.#waitReply(question, name, peer, req.timeout_ms);
    } finally {
      release();
    }
  }

  async #waitReply(
    question: MessageRecord,
    name: string,
    peer: Peer,
    timeoutMs: number | undefined,
  ): Promise<HandlerResult> {
    const deadline = this.#now() + (timeoutMs ?? DEFAULT_WAIT_MS);
    const answer = (m: StoredMessage) => {
      const wire = toWire(m);
      return {
        reply: {
          message: `Reply from ${m.from}`,
          messages: [wire],
          message_id: question.id,
          timed_out: false,
        },
        afterWrite: () => this.#markDelivered(m.to, [m.id]),
      };
    };
    for (;;) {
      const current = peer.name ?? name;
      // Interest first, then the look (see `wait`). Only a reply to the
      // question wakes it: other messages touch no `wait_reply`.
      const { woken, cancel } = this.#interest(current, deadline, peer, question.id);
      let found: StoredMessage | null;
      try {
        found = await this.#o.store.findReply(current, question.id);
      } catch (e) {
        cancel();
        throw e;
      }
      if (found) {
        cancel();
        return answer(found);
      }
      const wasWoken = await woken;
      if (!wasWoken || peer.signal.aborted || this.#now() >= deadline) {
        if (!peer.signal.aborted) {
          const last = await this.#o.store.findReply(peer.name ?? name, question.id);
          if (last) return answer(last);
        }
        return {
          reply: {
            message: `No reply to ${shortId(question.id)} yet`,
            messages: [],
            message_id: question.id,
            timed_out: true,
          },
        };
      }
    }
  }

  /** Where a message the caller sent is: queued, delivered, read, replied. */
  async receipt(req: ReceiptRequest, name: string): Promise<HandlerResult> {
    const r = toReceipt(await this.resolve(req.message_id, name, "sent"));
    return { reply: { message: `${r.short_id} to ${r.to}: ${r.state}`, receipt: r } };
  }

  /** The conversation a message belongs to, oldest first (for its parties only). */
  async thread(req: ThreadRequest, name: string): Promise<HandlerResult> {
    const m = await this.resolve(req.message_id, name, "either");
    const rootId = m.threadId ?? m.id;
    const root = rootId === m.id
      ? m
      : (await this.#o.store.findMessages(rootId, name, 1))[0] ?? { ...m, id: rootId };
    const limit = req.limit ?? DEFAULT_THREAD_LIMIT;
    const all = await this.#o.store.thread({ id: rootId, from: root.from, to: root.to }, limit);
    // A party of one message of a thread sees the messages of its own parties only.
    const messages = fitReply(
      all.filter((x) => x.from === name || x.to === name).map(toWire),
      this.#o.maxFrame,
    );
    return {
      reply: {
        message: `${messages.length} messages in thread ${shortId(rootId)}`,
        thread_id: rootId,
        thread_short: shortId(rootId),
        messages,
      },
    };
  }

  /** Queues messages the broker makes (rename notices); full queues are skipped. */
  async queueAll(messages: StoredMessage[]): Promise<void> {
    if (messages.length === 0) return;
    const outcomes = await this.#o.store.enqueue(messages, this.#o.queueCap);
    outcomes.forEach((o, i) => o.ok && this.#delivered(messages[i]));
  }
}
