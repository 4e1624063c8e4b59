/**
 * The broker's rules: what each action does, who may do it, and what it
 * answers. Transport-free: connections (framed or legacy) hand it typed
 * requests with the {@linkcode Peer} they came from, and write what it returns.
 * State lives in the {@linkcode Store}; this file holds only what is live
 * (which names are online, who waits) and caches that die with the process.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { IpcError } from "../protocol/errors.ts";
import type {
  AckRequest,
  BroadcastRequest,
  CheckRequest,
  MessageBody,
  RegisterRequest,
  RenameRequest,
  Request,
  SendRequest,
  WaitRequest,
  WireInstance,
  WireMessage,
} from "../protocol/messages.ts";
import { RESERVED_NAMES } from "../protocol/validate.ts";
import type { Store, StoredMessage } from "../state/store.ts";
import { VERSION } from "../version.ts";
import { authToken, constantTimeEqual, newSessionToken, sessionHash } from "./auth.ts";
import { BrokerEvents } from "./events.ts";
import { LARGE_MESSAGE_BYTES, largeInline, writeLargeMessage } from "./large_messages.ts";
import { WaiterRegistry } from "./waiters.ts";

/** One hour: the least time between two renames of one instance. */
export const RENAME_COOLDOWN_MS = 3_600_000;
/** Two hours: how long an old name forwards to the new one. */
export const FORWARD_MS = 7_200_000;
/** Seven days: how long a queue with no live session is kept. */
export const UNCLAIMED_QUEUE_MS = 7 * 24 * 3_600_000;
/** Default number of messages one `check` returns. */
export const DEFAULT_CHECK_LIMIT = 100;
/** Default `wait` timeout. */
export const DEFAULT_WAIT_MS = 30_000;
/** A legacy client reads one reply of at most 64 KiB. */
export const LEGACY_REPLY_MAX = 64 * 1024 - 1;

/** A connection as the rules see it. */
export interface Peer {
  readonly id: number;
  readonly legacy: boolean;
  /** The name this connection's session belongs to, once it has shown one. */
  name?: string;
  /** The hash of the session token it showed. */
  tokenHash?: string;
  /** Failed register or session attempts on this connection. */
  failures: number;
  /** Aborted when the connection closes. */
  readonly signal: AbortSignal;
}

/** A reply body (the connection adds `id`) and work to do once it is written. */
export interface HandlerResult {
  reply: Record<string, unknown>;
  /** Run after the reply was written to the socket (legacy check-and-clear). */
  afterWrite?: () => Promise<void>;
}

/** What the service needs to know. */
export interface ServiceOptions {
  store: Store;
  secret: string;
  dataDir: string;
  queueCap: number;
  maxFrame: number;
  host: string;
  port: number;
  /** Host name shown in `list` (NATS: many hosts share one registry). */
  hostName?: string;
  events?: BrokerEvents;
  now?: () => number;
}

const FAILURE_WINDOW_MS = 1_000;
const FAILURES_PER_WINDOW = 50;
const FAILURES_PER_CONNECTION = 20;

let idCounter = 0;
const idPrefix = crypto.getRandomValues(new Uint32Array(1))[0].toString(36).padStart(7, "0");

/** A new message id: time-ordered, unique across brokers (random per-process prefix). */
export function newMessageId(now: number = Date.now()): string {
  idCounter = (idCounter + 1) % 2_176_782_336;
  return `${now.toString(36)}-${idPrefix}${idCounter.toString(36).padStart(6, "0")}`;
}

/**
 * Bytes `m` takes in a reply, or an upper bound: short content is bounded
 * without serialising it (JSON escapes cost at most 6 bytes a code unit).
 */
export function wireBytes(m: WireMessage): number {
  const c = m.message.content;
  let n = 400 + (c.length <= 4096 ? 6 * c.length : Buffer.byteLength(JSON.stringify(c)));
  if (m.message.data !== undefined) n += Buffer.byteLength(JSON.stringify(m.message.data));
  if (m.large) n += Buffer.byteLength(JSON.stringify(m.large.path)) + 40;
  return n;
}

/** The first of `messages` whose wire forms fit in `budget` bytes; at least one. */
export function fitReply(messages: WireMessage[], budget: number): WireMessage[] {
  let total = 0;
  for (let i = 0; i < messages.length; i++) {
    total += wireBytes(messages[i]);
    if (total > budget && i > 0) return messages.slice(0, i);
  }
  return messages;
}

let isoTime = NaN;
let isoText = "";

/**
 * `new Date(ms).toISOString()`, remembered for the last `ms` asked: the
 * messages of one reply mostly share their millisecond, and building a Date
 * per message was most of what turning them into wire form cost.
 */
function isoOf(ms: number): string {
  if (ms !== isoTime) {
    isoText = new Date(ms).toISOString();
    isoTime = ms;
  }
  return isoText;
}

/** Turns a stored message into its wire form. */
export function toWire(m: StoredMessage): WireMessage {
  const w: WireMessage = {
    id: m.id,
    from: m.from,
    to: m.to,
    timestamp: isoOf(m.time),
    message: m.data === undefined ? { content: m.content } : { content: m.content, data: m.data },
  };
  if (m.large) w.large = m.large;
  return w;
}

const utf8 = new TextEncoder();

/** The broker's rules. */
export class BrokerService {
  readonly events: BrokerEvents;
  readonly waiters = new WaiterRegistry();
  readonly startedAt: number;
  /** The web console's address (without token), shown by `status`; set by the broker. */
  consoleUrl?: string;
  readonly #o: ServiceOptions;
  readonly #now: () => number;
  /** The last token each connection showed, with its hash. */
  readonly #shown = new WeakMap<Peer, { token: string; hash: string }>();
  /** Connected peers bound to a name. */
  readonly #online = new Map<string, Set<Peer>>();
  /** Names whose registration is in progress, and by whom. */
  readonly #registering = new Map<string, Peer>();
  #failureWindowStart = 0;
  #failuresInWindow = 0;
  #connections = 0;
  #stopping = false;

  constructor(options: ServiceOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.events = options.events ?? new BrokerEvents();
    this.startedAt = this.#now();
  }

  /** The store behind the service. */
  get store(): Store {
    return this.#o.store;
  }

  /** Names with a connected session. */
  get onlineNames(): string[] {
    return [...this.#online.keys()];
  }

  /** Counts a connection in (for `status`). */
  attach(): void {
    this.#connections++;
  }

  /** Forgets a closed connection: its name may go offline. */
  detach(peer: Peer): void {
    this.#connections--;
    this.#unbind(peer);
  }

  /** Stops accepting new work; blocked waits answer with no messages. */
  stop(): void {
    this.#stopping = true;
    this.waiters.clear();
  }

  /** Handles one request. Throws {@linkcode IpcError} for error replies. */
  async handle(req: Request, peer: Peer): Promise<HandlerResult> {
    if (this.#stopping) throw new IpcError("E_SHUTTING_DOWN", "Broker is shutting down: retry");
    switch (req.action) {
      case "ping":
        return { reply: { message: "pong", broker: "agent-ipc", version: VERSION } };
      case "register":
        return await this.#register(req, peer);
      case "status":
        return {
          reply: await this.#status(
            req.session_token || peer.name ? peer : undefined,
            req.session_token,
          ),
        };
    }
    const name = await this.#authenticate(req.session_token, peer);
    switch (req.action) {
      case "send":
        return await this.#send(req, name);
      case "broadcast":
        return await this.#broadcast(req, name);
      case "check":
        return await this.#check(req, name, peer);
      case "ack":
        return await this.#ack(req, name);
      case "wait":
        return await this.#wait(req, name, peer);
      case "list":
        return { reply: await this.#list() };
      case "rename":
        return await this.#rename(req, name, peer);
      case "whoami":
        return {
          reply: {
            message: `You are ${name}`,
            instance_id: name,
            queued: await this.#o.store.depth(name),
          },
        };
      case "unregister":
        return await this.#unregister(name, peer);
    }
  }

  // --- identity ----------------------------------------------------------

  #failed(peer: Peer): boolean {
    peer.failures++;
    this.#windowFailures();
    this.#failuresInWindow++;
    return this.#failuresInWindow > FAILURES_PER_WINDOW || peer.failures > FAILURES_PER_CONNECTION;
  }

  #windowFailures(): number {
    const now = this.#now();
    if (now - this.#failureWindowStart > FAILURE_WINDOW_MS) {
      this.#failureWindowStart = now;
      this.#failuresInWindow = 0;
    }
    return this.#failuresInWindow;
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
  #limited(peer: Peer, global: boolean): boolean {
    if (peer.failures >= FAILURES_PER_CONNECTION) return true;
    return global && this.#windowFailures() >= FAILURES_PER_WINDOW;
  }

  #rateLimited(): IpcError {
    return new IpcError("E_RATE_LIMITED", "Too many failed attempts: wait a second and retry");
  }

  async #authenticate(token: string | undefined, peer: Peer): Promise<string> {
    if (token === undefined || token === "") {
      if (!peer.legacy && peer.name) return peer.name;
      throw new IpcError(
        "E_SESSION",
        'Not registered: run "agent-ipc register NAME" (or the register tool) first',
      );
    }
    const hash = this.#hashOf(peer, token);
    if (peer.tokenHash === hash && peer.name) {
      this.#o.store.touch(peer.name, this.#now()).catch(() => {});
      return peer.name;
    }
    if (this.#limited(peer, false)) throw this.#rateLimited();
    const name = await this.#o.store.sessionName(hash);
    if (name === null) {
      if (this.#failed(peer)) throw this.#rateLimited();
      throw new IpcError(
        "E_SESSION",
        'Unknown or expired session: register again ("agent-ipc register NAME")',
      );
    }
    this.#bind(peer, name, hash);
    this.#o.store.touch(name, this.#now()).catch(() => {});
    return name;
  }

  /**
   * The session hash of `token`, computed once per connection and token: an
   * HMAC per request cost a seventh of the broker's time under load.
   */
  #hashOf(peer: Peer, token: string): string {
    const memo = this.#shown.get(peer);
    if (memo?.token === token) return memo.hash;
    const hash = sessionHash(token, this.#o.secret);
    this.#shown.set(peer, { token, hash });
    return hash;
  }

  #bind(peer: Peer, name: string, tokenHash: string): void {
    if (peer.name !== name) this.#unbind(peer);
    peer.name = name;
    peer.tokenHash = tokenHash;
    if (peer.legacy) return; // legacy connections last one request: never "online"
    let set = this.#online.get(name);
    if (!set) {
      this.#online.set(name, set = new Set());
      this.events.emit({ type: "online", name });
    }
    set.add(peer);
  }

  #unbind(peer: Peer): void {
    const name = peer.name;
    if (!name) return;
    const set = this.#online.get(name);
    if (set?.delete(peer) && set.size === 0) {
      this.#online.delete(name);
      this.events.emit({ type: "offline", name });
    }
  }

  /** True when `name` is held by a connected session other than `peer`'s. */
  #heldByOther(name: string, peer?: Peer): boolean {
    const set = this.#online.get(name);
    if (!set) return false;
    for (const p of set) if (p !== peer) return true;
    return false;
  }

  async #register(req: RegisterRequest, peer: Peer): Promise<HandlerResult> {
    const name = req.instance_id;
    if (RESERVED_NAMES.has(name)) {
      throw new IpcError("E_RESERVED_NAME", `Name "${name}" is reserved: pick another name`);
    }
    if (this.#limited(peer, true)) throw this.#rateLimited();
    const expected = authToken(name, this.#o.secret);
    if (!constantTimeEqual(req.auth_token.toLowerCase(), expected)) {
      if (this.#failed(peer)) throw this.#rateLimited();
      throw new IpcError(
        "E_AUTH",
        `Wrong auth_token for "${name}": it must be the hex SHA-256 of "${name}:<secret>" ` +
          "(the secret is IPC_SHARED_SECRET or the data dir's secret file)",
      );
    }
    const claimant = this.#registering.get(name);
    if (this.#heldByOther(name, peer) || (claimant !== undefined && claimant !== peer)) {
      throw new IpcError(
        "E_NAME_TAKEN",
        `Name "${name}" is in use by a connected instance: pick another name, or stop that instance first`,
      );
    }
    const token = newSessionToken();
    const hash = sessionHash(token, this.#o.secret);
    // Claim the name while the store works: a concurrent register of it must
    // not pass the check above and revoke this one's session in its turn.
    this.#registering.set(name, peer);
    let queued: number;
    try {
      ({ queued } = await this.#o.store.register(name, hash, this.#now(), {
        revokeOthers: true,
        host: this.#o.hostName,
      }));
    } finally {
      if (this.#registering.get(name) === peer) this.#registering.delete(name);
    }
    // Sessions of this name on dead connections are revoked: forget their caches.
    this.#bind(peer, name, hash);
    this.events.emit({ type: "registered", name });
    return {
      reply: {
        message: queued > 0
          ? `Registered ${name} with ${queued} queued messages`
          : `Registered ${name}`,
        session_token: token,
        instance_id: name,
        queued,
      },
    };
  }

  // --- messages ------------------------------------------------------------

  /**
   * Queues one message from `from` to `to` (resolving forwards), writing large
   * content to a file. Used by `send` and by the web console (as `human`).
   */
  async deliver(
    from: string,
    to: string,
    body: MessageBody,
  ): Promise<{ message: WireMessage; forwardedFrom?: string; future: boolean }> {
    this.#checkData(body);
    const now = this.#now();
    let target = to;
    let forwardedFrom: string | undefined;
    // A name connected here has a live session: it neither forwards nor is a
    // future name, so the store is not asked (a read per send under load).
    const online = this.#online.has(to);
    const record = online ? undefined : await this.#o.store.instance(to);
    if (!online && (!record || record.sessions === 0)) {
      const fwd = await this.#o.store.forward(to, now);
      if (fwd) {
        forwardedFrom = to;
        target = fwd;
      }
    }
    const future = forwardedFrom ? false : record === null;
    const stored = await this.#store(from, target, body, now);
    return { message: toWire(stored), forwardedFrom, future };
  }

  async #store(from: string, to: string, body: MessageBody, now: number): Promise<StoredMessage> {
    const id = newMessageId(now);
    const msg: StoredMessage = { id, from, to, time: now, content: body.content };
    if (body.data !== undefined) msg.data = body.data;
    if (body.content.length > LARGE_MESSAGE_BYTES / 4) {
      const bytes = utf8.encode(body.content).length;
      if (bytes > LARGE_MESSAGE_BYTES) {
        const depth = await this.#o.store.depth(to);
        if (depth >= this.#o.queueCap) throw this.#queueFull(to);
        const { path, inline } = await this.#saveLarge({
          id,
          from,
          to,
          time: now,
          content: body.content,
          bytes,
        });
        msg.content = inline;
        msg.large = { path, size: bytes };
      }
    }
    const [outcome] = await this.#o.store.enqueue([msg], this.#o.queueCap);
    if (!outcome.ok) throw this.#queueFull(to);
    this.#delivered(msg);
    return msg;
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
    this.waiters.wake(msg.to);
    if (this.events.active) this.events.emit({ type: "message", message: toWire(msg) });
  }

  /** Wakes waiters of `name` (a message arrived through another broker). */
  notify(name: string): void {
    this.waiters.wake(name);
  }

  async #send(req: SendRequest, from: string): Promise<HandlerResult> {
    if (req.to_id === "all" || req.to_id === "*") {
      return await this.#broadcast({ action: "broadcast", message: req.message }, from);
    }
    if (req.to_id === "system") {
      throw new IpcError("E_RESERVED_NAME", `Cannot send to "system"`);
    }
    const { message, forwardedFrom, future } = await this.deliver(from, req.to_id, req.message);
    const text = forwardedFrom
      ? `Message forwarded from ${forwardedFrom} to ${message.to}`
      : future
      ? `Message queued for ${message.to} (not yet registered)`
      : "Message sent";
    return {
      reply: {
        message: text,
        message_id: message.id,
        to_id: message.to,
        queued_for_future: future,
        ...(message.large ? { large: message.large } : {}),
      },
    };
  }

  async #broadcast(req: BroadcastRequest, from: string): Promise<HandlerResult> {
    this.#checkData(req.message);
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
      return m;
    });
    const outcomes = msgs.length ? await this.#o.store.enqueue(msgs, this.#o.queueCap) : [];
    const delivered: string[] = [];
    const missed: string[] = [];
    outcomes.forEach((o, i) => {
      if (o.ok) {
        delivered.push(msgs[i].to);
        this.#delivered(msgs[i]);
      } else missed.push(msgs[i].to);
    });
    const text = `Broadcast to ${delivered.length} instances` +
      (missed.length ? ` (missed, queue full: ${missed.join(", ")})` : "");
    return { reply: { message: text, delivered, missed } };
  }

  async #check(req: CheckRequest, name: string, peer: Peer): Promise<HandlerResult> {
    const limit = req.limit ?? DEFAULT_CHECK_LIMIT;
    if (peer.legacy) return await this.#legacyCheck(name, limit);
    const messages = await this.#o.store.peek(name, limit, this.#o.maxFrame / 2);
    // The store counts content only: data and escapes could push the reply past
    // what a client reads, and a reply it cannot read would block its queue.
    const wire = fitReply(messages.map(toWire), this.#o.maxFrame);
    if (req.ack && wire.length) await this.#ackIds(name, wire.map((m) => m.id));
    const remaining = await this.#o.store.depth(name);
    return {
      reply: {
        message: wire.length ? `${wire.length} messages` : "No new messages",
        messages: wire,
        acked: req.ack === true,
        remaining,
      },
    };
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
    if (acked.length && this.events.active) this.events.emit({ type: "acked", name, ids: acked });
    return acked;
  }

  async #ack(req: AckRequest, name: string): Promise<HandlerResult> {
    const acked = await this.#ackIds(name, req.ids);
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

  async #wait(req: WaitRequest, name: string, peer: Peer): Promise<HandlerResult> {
    const check: CheckRequest = { action: "check", ack: req.ack, limit: req.limit };
    const first = await this.#check(check, name, peer);
    if ((first.reply.messages as unknown[]).length > 0 || peer.legacy) return first;
    const timeout = req.timeout_ms ?? DEFAULT_WAIT_MS;
    if (timeout === 0 || peer.signal.aborted) return { reply: { ...first.reply, timed_out: true } };
    const woken = await new Promise<boolean>((resolve) => {
      const cancel = this.waiters.add({
        name,
        deadline: this.#now() + timeout,
        settle: (w) => {
          peer.signal.removeEventListener("abort", onAbort);
          resolve(w);
        },
      });
      const onAbort = () => {
        cancel();
        resolve(false);
      };
      peer.signal.addEventListener("abort", onAbort, { once: true });
    });
    if (peer.signal.aborted) return { reply: { message: "Connection closed", messages: [] } };
    const current = peer.name ?? name; // a rename while waiting moves the waiter
    const result = await this.#check(check, current, peer);
    if (!woken) result.reply.timed_out = (result.reply.messages as unknown[]).length === 0;
    return result;
  }

  // --- instances -----------------------------------------------------------

  async #list(): Promise<Record<string, unknown>> {
    const now = this.#now();
    const instances: WireInstance[] = (await this.#o.store.instances())
      .filter((i) => i.sessions > 0)
      .map((i) => {
        const w: WireInstance = {
          id: i.name,
          last_seen: new Date(i.lastSeen).toISOString(),
          online: this.#online.has(i.name) ||
            (i.host !== undefined && i.host !== this.#o.hostName && now - i.lastSeen < 120_000),
          queued: i.queued,
        };
        if (i.host) w.host = i.host;
        return w;
      });
    return { message: `${instances.length} instances`, instances };
  }

  async #rename(req: RenameRequest, name: string, peer: Peer): Promise<HandlerResult> {
    if (req.old_id !== undefined && req.old_id !== name) {
      throw new IpcError(
        "E_AUTH",
        `You are "${name}": you can only rename yourself, not "${req.old_id}"`,
      );
    }
    const to = req.new_id;
    if (to === name) throw new IpcError("E_BAD_FIELD", `You are already "${name}"`);
    if (RESERVED_NAMES.has(to)) {
      throw new IpcError("E_RESERVED_NAME", `Name "${to}" is reserved: pick another name`);
    }
    const now = this.#now();
    const me = await this.#o.store.instance(name);
    if (me?.lastRenameAt !== undefined && now - me.lastRenameAt < RENAME_COOLDOWN_MS) {
      const minutes = Math.ceil((RENAME_COOLDOWN_MS - (now - me.lastRenameAt)) / 60_000);
      throw new IpcError(
        "E_RATE_LIMITED",
        `One rename per hour: "${name}" can rename again in ${minutes} minutes`,
      );
    }
    if (this.#heldByOther(to)) {
      throw new IpcError("E_NAME_TAKEN", `Name "${to}" is in use by a connected instance`);
    }
    await this.#o.store.rename(name, to, now, now + FORWARD_MS);
    // Move live state: every connection of the old name, and its waiters.
    const peers = this.#online.get(name);
    this.#online.delete(name);
    if (peers) {
      this.#online.set(to, peers);
      for (const p of peers) p.name = to;
    }
    peer.name = to;
    this.waiters.rename(name, to);
    this.events.emit({ type: "renamed", from: name, to });
    // Tell everybody else, from "system".
    const others = (await this.#o.store.instances())
      .filter((i) => i.sessions > 0 && i.name !== to)
      .map((i): StoredMessage => ({
        id: newMessageId(now),
        from: "system",
        to: i.name,
        time: now,
        content: `${name} renamed to ${to}`,
        data: { event: "rename", old_id: name, new_id: to },
      }));
    if (others.length) {
      const outcomes = await this.#o.store.enqueue(others, this.#o.queueCap);
      outcomes.forEach((o, i) => o.ok && this.#delivered(others[i]));
    }
    return {
      reply: {
        message: `Renamed ${name} to ${to}`,
        old_id: name,
        new_id: to,
        instance_id: to,
        forward_until: new Date(now + FORWARD_MS).toISOString(),
      },
    };
  }

  async #unregister(name: string, peer: Peer): Promise<HandlerResult> {
    const hash = peer.tokenHash;
    if (hash) await this.#o.store.removeSession(hash);
    // Other connections that showed the same token cached it: revoke it there too.
    for (const p of [...(this.#online.get(name) ?? [])]) {
      if (p === peer || p.tokenHash !== hash) continue;
      this.#unbind(p);
      p.name = undefined;
      p.tokenHash = undefined;
    }
    this.#unbind(peer);
    peer.name = undefined;
    peer.tokenHash = undefined;
    this.events.emit({ type: "unregistered", name });
    return { reply: { message: `Unregistered ${name}`, instance_id: name } };
  }

  async #status(
    peer: Peer | undefined,
    token: string | undefined,
  ): Promise<Record<string, unknown>> {
    const o = this.#o;
    const broker = {
      host: o.host,
      port: o.port,
      pid: Deno.pid,
      version: VERSION,
      uptime_s: Math.round((this.#now() - this.startedAt) / 1000),
      data_dir: o.dataDir,
      store: o.store.kind,
      store_location: o.store.location,
      connections: this.#connections,
      waiting: this.waiters.size,
      host_name: o.hostName,
      console_url: this.consoleUrl,
    };
    const reply: Record<string, unknown> = {
      message: `agent-ipc ${VERSION} on ${o.host}:${o.port}`,
      broker,
    };
    if (peer) {
      // Instances and queue depths only for registered callers.
      const name = await this.#authenticate(token, peer);
      const list = await this.#list();
      reply.instance_id = name;
      reply.instances = list.instances;
    }
    return reply;
  }
}
