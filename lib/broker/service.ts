/**
 * The broker's front desk: dispatches each action, establishes who is asking
 * (registration, sessions, which names are online) and keeps the instance
 * rules (list, rename with forwarding, unregister, status). What happens to
 * messages is in `mailbox.ts`. Transport-free: connections (framed or legacy)
 * hand it typed requests with the {@linkcode Peer} they came from, and write
 * what it returns. State lives in the {@linkcode Store}; this file holds only
 * what is live and caches that die with the process.
 *
 * @module
 */

import { IpcError } from "../protocol/errors.ts";
import { LIMITS, TTLS } from "../defaults.ts";
import type {
  MessageBody,
  RegisterRequest,
  RenameRequest,
  Request,
  WireInstance,
  WireMessage,
} from "../protocol/messages.ts";
import { isReservedName } from "../protocol/validate.ts";
import type {
  ClaimRecord,
  HistoryQuery,
  InstanceRecord,
  MessageRecord,
  Store,
  StoredMessage,
} from "../state/store.ts";
import { VERSION } from "../version.ts";
import {
  type AgentActivity,
  type Reach,
  reachOf,
  readAllActivity,
} from "../state/agent_records.ts";
import {
  authToken,
  brokerProof,
  constantTimeEqual,
  newSessionToken,
  sessionHash,
} from "../protocol/auth.ts";
import { BrokerEvents } from "./events.ts";
import { QuietMarkers } from "./quiet_markers.ts";
import { WaiterRegistry } from "./waiters.ts";
import { WaitQuota } from "./wait_quota.ts";
import { AuthLimiter, rateLimited } from "./auth_limiter.ts";
import { type LargeText, readLargeText } from "./large_messages.ts";
import { Mailbox } from "./mailbox.ts";
import { ClaimDesk } from "./claims.ts";
import type { HandlerResult, Peer } from "./peer.ts";
import { newMessageId } from "./wire_messages.ts";

/** One hour: the least time between two renames of one instance. */
export const RENAME_COOLDOWN_MS = TTLS.renameCooldownMs;
/** Two hours: how long an old name forwards to the new one. */
export const FORWARD_MS = TTLS.forwardMs;
/** Seven days: how long a queue with no live session is kept. */
export const UNCLAIMED_QUEUE_MS = TTLS.unclaimedQueueMs;

/** The least time between two activity records of one connection. */
const TOUCH_EVERY_MS = 100;
/** Token hashes the service remembers at most (then it starts again). */
const TOKEN_HASHES_MAX = 4096;

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

/** The broker's rules. */
export class BrokerService {
  readonly events: BrokerEvents;
  readonly waiters = new WaiterRegistry();
  /** Pending waits per session and per process. */
  readonly waitQuota = new WaitQuota(LIMITS.maxWaitsPerSession, LIMITS.maxWaitsPerPeer);
  /** The hooks' quiet markers in the data dir. */
  readonly quiet: QuietMarkers;
  readonly startedAt: number;
  /** The web console's address (without token), shown by `status`; set by whoever starts the console. */
  consoleUrl?: string;
  readonly #o: ServiceOptions;
  readonly #now: () => number;
  readonly #limiter: AuthLimiter;
  readonly #mail: Mailbox;
  readonly #claims: ClaimDesk;
  /**
   * Hashes of tokens shown lately, across connections: a legacy client shows
   * its token on a new connection per request, and an HMAC each time was a
   * tenth of the broker's time under legacy load. Whether a token is valid
   * is still the store's answer; this only spares the hashing.
   */
  readonly #hashes = new Map<string, string>();
  /** The last token each connection showed, with its hash. */
  readonly #shown = new WeakMap<Peer, { token: string; hash: string }>();
  /** Connected peers bound to a name. */
  readonly #online = new Map<string, Set<Peer>>();
  /** Names whose registration is in progress, and by whom. */
  readonly #registering = new Map<string, Peer>();
  #connections = 0;
  #stopping = false;

  constructor(options: ServiceOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#limiter = new AuthLimiter(this.#now);
    this.events = options.events ?? new BrokerEvents();
    this.quiet = new QuietMarkers({
      dataDir: options.dataDir,
      depth: (name) => options.store.depth(name),
    });
    this.#mail = new Mailbox({
      store: options.store,
      dataDir: options.dataDir,
      queueCap: options.queueCap,
      maxFrame: options.maxFrame,
      waiters: this.waiters,
      quota: this.waitQuota,
      quiet: this.quiet,
      events: this.events,
      isOnline: (name) => this.#online.has(name),
      now: this.#now,
    });
    this.#claims = new ClaimDesk(options.store, this.#now);
    this.startedAt = this.#now();
  }

  /** The store's kind ("sqlite", "nats"), as `status` reports it. */
  get storeKind(): string {
    return this.#o.store.kind;
  }

  /** Delivered and queued messages, newest first, with filters (the console's feed and search). */
  history(query: HistoryQuery): Promise<MessageRecord[]> {
    return this.#o.store.history(query);
  }

  /**
   * The conversation of message `id` (sent or received by `party`), oldest
   * first: the console's thread view, which sees every conversation.
   */
  async threadOf(id: string, party: string, limit = 200): Promise<MessageRecord[]> {
    const [m] = await this.#o.store.findMessages(id, party, 1);
    if (!m) throw new IpcError("E_NOT_FOUND", `No message "${id}" of "${party}"`);
    const rootId = m.threadId ?? m.id;
    const root = rootId === m.id
      ? m
      : (await this.#o.store.findMessages(rootId, party, 1))[0] ?? { ...m, id: rootId };
    return await this.#o.store.thread({ id: rootId, from: root.from, to: root.to }, limit);
  }

  /** Every known instance as the store keeps it (the console's list). */
  instanceRecords(): Promise<InstanceRecord[]> {
    return this.#o.store.instances();
  }

  /** Live file claims under every root (the console's list). */
  liveClaims(): Promise<ClaimRecord[]> {
    return this.#claims.live();
  }

  /**
   * What the assistants' hooks report (awake or idle, wakes) by instance name, from the data
   * dir, each with how its session is reached (`reach`: undefined where no hook ran here).
   */
  async activity(): Promise<Map<string, AgentActivity & { reach?: Reach }>> {
    const all = await readAllActivity(this.#o.dataDir);
    return new Map([...all].map(([name, a]) => [name, { ...a, reach: reachOf(a) }]));
  }

  /** The full text of large message `msg`, wherever this broker keeps it. */
  largeText(msg: Pick<StoredMessage, "large">): Promise<LargeText> {
    return readLargeText(msg, this.#o.store, this.#o.dataDir);
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
    this.quiet.close();
  }

  /** Handles one request. Throws {@linkcode IpcError} for error replies. */
  async handle(req: Request, peer: Peer): Promise<HandlerResult> {
    if (this.#stopping) throw new IpcError("E_SHUTTING_DOWN", "Broker is shutting down: retry");
    switch (req.action) {
      case "ping":
        return {
          reply: {
            message: "pong",
            broker: "agent-ipc",
            version: VERSION,
            ...(req.nonce ? { proof: brokerProof(this.#o.secret, req.nonce) } : {}),
          },
        };
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
    const name = this.#known(req.session_token, peer) ??
      await this.#authenticate(req.session_token, peer);
    switch (req.action) {
      case "send":
        return await this.#mail.send(req, name);
      case "broadcast":
        return await this.#mail.broadcast(req, name);
      case "check":
        return await this.#mail.check(req, name, peer);
      case "ack":
        return await this.#mail.ack(req, name, peer);
      case "wait":
        return await this.#mail.wait(req, name, peer);
      case "reply":
        return await this.#mail.reply(req, name);
      case "wait_reply":
        return await this.#mail.waitReply(req, name, peer);
      case "receipt":
        return await this.#mail.receipt(req, name);
      case "thread":
        return await this.#mail.thread(req, name);
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
      case "claim":
        return await this.#claims.claim(req, name);
      case "release":
        return await this.#claims.release(req, name);
      case "claims":
        return await this.#claims.list(req, name);
    }
  }

  // --- identity ----------------------------------------------------------

  /**
   * The name of a connection that shows the session it has shown before (or
   * none, on a connection with a session): every request of a busy client,
   * answered without an `await`. Undefined when {@linkcode #authenticate}
   * must decide.
   */
  #known(token: string | undefined, peer: Peer): string | undefined {
    const name = peer.name;
    if (name === undefined || peer.legacy) return undefined;
    if (token !== undefined && token !== "") {
      const memo = this.#shown.get(peer);
      if (memo?.token !== token || peer.tokenHash !== memo.hash) return undefined;
      this.#touch(peer, name);
    }
    return name;
  }

  /**
   * Records that `name` was active, at most every {@linkcode TOUCH_EVERY_MS}
   * per connection: "last seen" is shown to the second and judged by the
   * minute, and a touch per request was a promise and three map writes.
   */
  #touch(peer: Peer, name: string): void {
    const now = this.#now();
    if (
      peer.touchedAt !== undefined && now - peer.touchedAt < TOUCH_EVERY_MS && now >= peer.touchedAt
    ) return;
    peer.touchedAt = now;
    this.#o.store.touch(name, now).catch(() => {});
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
      this.#touch(peer, peer.name);
      return peer.name;
    }
    if (this.#limiter.limited(peer, false)) throw rateLimited();
    const name = await this.#o.store.sessionName(hash);
    if (name === null) {
      if (this.#limiter.failed(peer)) throw rateLimited();
      throw new IpcError(
        "E_SESSION",
        'Unknown or expired session: register again ("agent-ipc register NAME")',
      );
    }
    this.#bind(peer, name, hash);
    this.#touch(peer, name);
    return name;
  }

  /**
   * The session hash of `token`, computed once per connection and token: an
   * HMAC per request cost a seventh of the broker's time under load.
   */
  #hashOf(peer: Peer, token: string): string {
    const memo = this.#shown.get(peer);
    if (memo?.token === token) return memo.hash;
    let hash = this.#hashes.get(token);
    if (hash === undefined) {
      hash = sessionHash(token, this.#o.secret);
      if (this.#hashes.size >= TOKEN_HASHES_MAX) this.#hashes.clear();
      this.#hashes.set(token, hash);
    }
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
    if (isReservedName(name)) {
      throw new IpcError("E_RESERVED_NAME", `Name "${name}" is reserved: pick another name`);
    }
    // Under a flood of failures, learn who is asking before judging, so the
    // flooder's failures count against itself and nobody else is refused.
    if (peer.ownerKey === undefined && peer.owner && (peer.failures > 0 || this.#limiter.hot)) {
      await peer.owner();
    }
    if (this.#limiter.limited(peer, true)) throw rateLimited();
    const expected = authToken(name, this.#o.secret);
    if (!constantTimeEqual(req.auth_token.toLowerCase(), expected)) {
      // Every failure is charged to its peer (a failure may wait for the lookup).
      if (peer.ownerKey === undefined) await peer.owner?.();
      if (this.#limiter.failed(peer)) throw rateLimited();
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

  // --- messages (rules in mailbox.ts) -----------------------------------------

  /**
   * Queues one message from `from` to `to` (resolving forwards), writing large
   * content to a file. Used by the web console (as `human`).
   */
  deliver(
    from: string,
    to: string,
    body: MessageBody,
  ): Promise<{ message: WireMessage; forwardedFrom?: string; future: boolean }> {
    return this.#mail.deliver(from, to, body);
  }

  /**
   * Wakes waiters of `name` (a message arrived through another broker): its
   * plain waits, and the `wait_reply`s of `replies`; every one when unknown.
   */
  notify(name: string, replies?: readonly string[]): void {
    if (replies === undefined) this.waiters.wakeAll(name);
    else if (replies.length === 0) this.waiters.wake(name);
    else for (const r of replies) this.waiters.wake(name, r);
    this.quiet.arrived(name);
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
    if (isReservedName(to)) {
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
    this.quiet.renamed(name, to);
    await this.#claims.renamed(name, to);
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
    await this.#mail.queueAll(others);
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
    await this.#claims.unregistered(name);
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
    // Where the broker runs (pid, data dir, host, console) only to a session:
    // anyone on the machine may connect and ask.
    const name = peer ? await this.#authenticate(token, peer) : undefined;
    const broker: Record<string, unknown> = {
      port: o.port,
      version: VERSION,
      uptime_s: Math.round((this.#now() - this.startedAt) / 1000),
      store: o.store.kind,
      connections: this.#connections,
      waiting: this.waiters.size,
      // The console's address (no token: that is in the data dir).
      console_url: this.consoleUrl,
    };
    if (name !== undefined) {
      Object.assign(broker, {
        host: o.host,
        pid: Deno.pid,
        data_dir: o.dataDir,
        store_location: o.store.location,
        host_name: o.hostName,
      });
      if (o.store.health) {
        // A cluster in trouble is what status is asked about: say so, don't fail.
        broker.store_health = await o.store.health().catch((e) => ({
          error: e instanceof Error ? e.message : String(e),
        }));
      }
    }
    const reply: Record<string, unknown> = {
      message: `agent-ipc ${VERSION} on port ${o.port}`,
      broker,
    };
    if (name !== undefined) {
      // Instances and queue depths only for registered callers.
      const list = await this.#list();
      reply.instance_id = name;
      reply.instances = list.instances;
    }
    return reply;
  }
}
