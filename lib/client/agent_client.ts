/**
 * The client every front end uses (CLI, MCP server, benchmark, tests): one
 * method per action, the session carried for you, and self-healing: when the
 * broker's connection drops it re-runs the election at once (jittered), binds
 * its session on the new broker, re-registers if allowed and needed, and
 * retries the request that was cut off.
 *
 * @module
 */

import { IpcError } from "../protocol/errors.ts";
import type {
  JsonObject,
  OkReply,
  WireClaim,
  WireInstance,
  WireMessage,
  WireReceipt,
} from "../protocol/messages.ts";
import { MAX_WAIT_MS } from "../protocol/validate.ts";
import { authToken } from "../protocol/auth.ts";
import { readSecret } from "../state/data_dir.ts";
import { logger } from "../log.ts";
import { connectOrElect, type ElectionOptions, type HostedBroker } from "./election.ts";
import type { FramedClient } from "./framed_client.ts";

const log = logger("client");

/** A session: the name and the token the broker gave it. */
export interface Session {
  name: string;
  token: string;
}

/** Something that happened to the client's link with the broker. */
export type ClientEvent =
  | { type: "connected"; hosting: boolean }
  | { type: "lost"; reason: string }
  | { type: "session"; session: Session | null };

/** Client settings. */
export interface AgentClientOptions extends Omit<ElectionOptions, "signal"> {
  /** IPC_SHARED_SECRET; otherwise read from the data dir when registering. */
  secret?: string;
  /** A saved session to resume. */
  session?: Session;
  /** Register again by itself when the broker no longer knows the session. */
  autoReregister?: boolean;
  /** Told of connection changes and of new or lost sessions. */
  onEvent?: (event: ClientEvent) => void;
  /** How many times a request cut off by a lost broker is retried (default 5). */
  retries?: number;
}

/** A request on a client that was closed (by its owner: how every command ends). */
export class ClientClosedError extends IpcError {
  constructor() {
    super("E_UNAVAILABLE", "Client closed");
    this.name = "ClientClosedError";
  }
}

/** The result of `send`. */
export interface SendResult {
  message: string;
  messageId: string;
  /** The short id every view shows (see `short_id.ts`). */
  shortId: string;
  to: string;
  queuedForFuture: boolean;
  large?: { path: string; size: number };
}

/** The result of `reply`. */
export interface ReplyResult extends SendResult {
  /** The id of the message answered, and of its thread. */
  replyTo: string;
  threadId: string;
}

/** Options of `send` and `reply`. */
export interface SendOptions {
  data?: JsonObject;
  /** Shown first in the recipient's check, flagged everywhere. */
  urgent?: boolean;
}

/** The result of `ask`: the question's ids and the reply, or none on timeout. */
export interface AskResult {
  question: SendResult;
  reply?: WireMessage;
}

let clientIdCounter = 0;
const clientIdPrefix = Array.from(
  crypto.getRandomValues(new Uint8Array(8)),
  (b) => (b % 36).toString(36),
).join("");

/**
 * A fresh idempotency key: base-36 time, a random per-process part (41 bits)
 * and a counter, e.g. `mwqgzdmn-k3x9a0qz000001`.
 */
export function newClientId(): string {
  // Time first, then a per-process random part and a counter: unique, and in
  // increasing order, so the store's key index grows at its end (a random key
  // per send halved the broker's throughput by scattering B-tree inserts).
  clientIdCounter = (clientIdCounter + 1) % 2_176_782_336;
  return `${Date.now().toString(36)}-${clientIdPrefix}${
    clientIdCounter.toString(36).padStart(6, "0")
  }`;
}

function sendResult(r: OkReply): SendResult {
  return {
    message: r.message,
    messageId: String(r.message_id),
    shortId: String(r.short_id),
    to: String(r.to_id),
    queuedForFuture: r.queued_for_future === true,
    large: r.large as SendResult["large"],
  };
}

/** A client of the broker. */
export class AgentClient implements AsyncDisposable {
  readonly #o: AgentClientOptions;
  #conn: FramedClient | undefined;
  #hosted: HostedBroker | undefined;
  #connecting: Promise<FramedClient> | undefined;
  #session: Session | undefined;
  #closed = false;
  readonly #abort = new AbortController();

  private constructor(options: AgentClientOptions) {
    this.#o = options;
    this.#session = options.session;
  }

  /** Connects (electing a broker if needed) and resumes the given session, if any. */
  static async connect(options: AgentClientOptions): Promise<AgentClient> {
    const client = new AgentClient(options);
    await client.#ensure();
    return client;
  }

  /** The current session, if registered. */
  get session(): Session | undefined {
    return this.#session;
  }

  /** The registered name, if any. */
  get name(): string | undefined {
    return this.#session?.name;
  }

  /** The broker this process hosts, if it won the election. */
  get hostedBroker(): HostedBroker | undefined {
    return this.#hosted;
  }

  /** True while connected. */
  get connected(): boolean {
    return this.#conn !== undefined && !this.#conn.isClosed;
  }

  #emit(event: ClientEvent): void {
    try {
      this.#o.onEvent?.(event);
    } catch { /* observers must not break the client */ }
  }

  #setSession(s: Session | undefined): void {
    this.#session = s;
    this.#emit({ type: "session", session: s ?? null });
  }

  #ensure(): Promise<FramedClient> {
    if (this.#closed) return Promise.reject(new ClientClosedError());
    if (this.#conn && !this.#conn.isClosed) return Promise.resolve(this.#conn);
    return this.#connecting ??= this.#elect().finally(() => this.#connecting = undefined);
  }

  async #elect(): Promise<FramedClient> {
    const { client, hosted } = await connectOrElect({
      ...this.#o,
      brokerSecret: () =>
        this.#o.secret ? Promise.resolve(this.#o.secret) : readSecret(this.#o.dataDir),
      secretSource: this.#o.secret ? "env" : "file",
      signal: this.#abort.signal,
    });
    if (this.#closed) {
      client.close();
      await hosted?.close();
      throw new ClientClosedError();
    }
    if (hosted) this.#hosted = hosted;
    this.#conn = client;
    this.#emit({ type: "connected", hosting: hosted !== undefined || this.#hosted !== undefined });
    client.closed.then(() => this.#lost(client));
    if (this.#session) await this.#resume(client);
    return client;
  }

  /** Binds the session on a (new) broker, re-registering when allowed and needed. */
  async #resume(client: FramedClient): Promise<void> {
    const s = this.#session!;
    try {
      await client.request({ action: "whoami", session_token: s.token });
    } catch (e) {
      if (!(e instanceof IpcError) || e.code !== "E_SESSION") throw e;
      if (!this.#o.autoReregister) {
        this.#setSession(undefined);
        return;
      }
      log.info(`session of ${s.name} unknown to the broker: registering again`);
      await this.#registerOn(client, s.name);
    }
  }

  #lost(client: FramedClient): void {
    if (this.#conn !== client || this.#closed) return;
    this.#conn = undefined;
    this.#emit({ type: "lost", reason: "connection to broker closed" });
    // Re-elect at once (the backoff inside is jittered) so the service comes back
    // even when this client has nothing to send.
    this.#ensure().catch((e) => {
      // Closed meanwhile: that is the owner's doing, not a failure to report.
      if (this.#closed || e instanceof ClientClosedError) return;
      log.warn(`re-election failed: ${(e as Error).message}`, { error: e });
    });
  }

  async #registerOn(client: FramedClient, name: string): Promise<OkReply> {
    const secret = this.#o.secret ?? await readSecret(this.#o.dataDir);
    if (!secret) {
      throw new IpcError(
        "E_AUTH",
        `No shared secret: set IPC_SHARED_SECRET or make sure "${this.#o.dataDir}/secret" is readable`,
      );
    }
    const reply = await client.request({
      action: "register",
      instance_id: name,
      auth_token: authToken(name, secret),
    });
    this.#setSession({ name, token: String(reply.session_token) });
    return reply;
  }

  /**
   * Sends one request with the session, retrying across a broker failover.
   * Throws IpcError with the broker's code on an error reply.
   */
  async call(body: Record<string, unknown>): Promise<OkReply> {
    const retries = this.#o.retries ?? 5;
    for (let attempt = 0;; attempt++) {
      const conn = await this.#ensure();
      const req = this.#session && body.action !== "register"
        ? { ...body, session_token: this.#session.token }
        : body;
      try {
        return await conn.request(req);
      } catch (e) {
        if (!(e instanceof IpcError) || attempt >= retries) throw e;
        if (e.code === "E_UNAVAILABLE" || e.code === "E_SHUTTING_DOWN") continue;
        if (e.code === "E_SESSION" && this.#o.autoReregister && this.#session) {
          await this.#registerOn(conn, this.#session.name);
          continue;
        }
        throw e;
      }
    }
  }

  /** Registers `name`; the session is kept (and reported through `onEvent`). */
  async register(name: string): Promise<{ name: string; queued: number; message: string }> {
    const retries = this.#o.retries ?? 5;
    for (let attempt = 0;; attempt++) {
      const conn = await this.#ensure();
      try {
        const reply = await this.#registerOn(conn, name);
        return { name, queued: Number(reply.queued ?? 0), message: reply.message };
      } catch (e) {
        if (e instanceof IpcError && e.code === "E_UNAVAILABLE" && attempt < retries) continue;
        throw e;
      }
    }
  }

  /**
   * Sends a message to one instance (or a future one). One `client_id` per
   * call, the same on every retry, so a send the broker stored before it died
   * is not stored again by the next broker.
   */
  async send(
    to: string,
    content: string,
    dataOrOptions?: JsonObject | SendOptions,
    opts: SendOptions = {},
  ): Promise<SendResult> {
    // `send(to, text, data)` stays as before; options ride in the last argument.
    const data = opts.data ?? (dataOrOptions as JsonObject | undefined);
    const r = await this.call({
      action: "send",
      to_id: to,
      message: data === undefined ? { content } : { content, data },
      client_id: newClientId(),
      ...(opts.urgent ? { urgent: true } : {}),
    });
    return sendResult(r);
  }

  /** Answers a received message (by id or short id): it goes to that message's sender. */
  async reply(messageId: string, content: string, opts: SendOptions = {}): Promise<ReplyResult> {
    const r = await this.call({
      action: "reply",
      message_id: messageId,
      message: opts.data === undefined ? { content } : { content, data: opts.data },
      client_id: newClientId(),
      ...(opts.urgent ? { urgent: true } : {}),
    });
    return { ...sendResult(r), replyTo: String(r.reply_to), threadId: String(r.thread_id) };
  }

  /**
   * Waits until a reply to `messageId` (a message this instance sent) is
   * queued, or `timeoutMs` passes; across broker failovers. The reply is not
   * acknowledged: call `ack` once it is shown (unacked, it comes back in
   * `check`). Returns undefined on timeout.
   */
  async waitReply(messageId: string, timeoutMs: number): Promise<WireMessage | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const left = deadline - Date.now();
      const r = await this.call({
        action: "wait_reply",
        message_id: messageId,
        timeout_ms: Math.max(0, Math.min(left, MAX_WAIT_MS)),
      });
      const got = (r.messages as WireMessage[] | undefined)?.[0];
      if (got) return got;
      // A broker that stopped (failover) answers early: ask the next one.
      if (deadline - Date.now() <= 0) return undefined;
    }
  }

  /**
   * Sends a question and waits for its reply (see `waitReply`). The question
   * stays queued on timeout; a later reply is delivered like any message.
   */
  async ask(
    to: string,
    content: string,
    timeoutMs: number,
    opts: SendOptions = {},
  ): Promise<AskResult> {
    const question = await this.send(to, content, undefined, opts);
    const reply = await this.waitReply(question.messageId, timeoutMs);
    return reply ? { question, reply } : { question };
  }

  /** The receipt of a message this instance sent (by id or short id). */
  async receipt(messageId: string): Promise<WireReceipt> {
    return (await this.call({ action: "receipt", message_id: messageId })).receipt as WireReceipt;
  }

  /** The conversation a message belongs to, oldest first. */
  async thread(
    messageId: string,
    limit?: number,
  ): Promise<{ threadId: string; messages: WireMessage[] }> {
    const r = await this.call({ action: "thread", message_id: messageId, limit });
    return { threadId: String(r.thread_id), messages: r.messages as WireMessage[] };
  }

  /** Sends a message to every other registered instance (idempotent across retries, as `send`). */
  async broadcast(
    content: string,
    data?: JsonObject,
  ): Promise<{ message: string; delivered: string[]; missed: string[] }> {
    const r = await this.call({
      action: "broadcast",
      message: data === undefined ? { content } : { content, data },
      client_id: newClientId(),
    });
    return {
      message: r.message,
      delivered: r.delivered as string[],
      missed: r.missed as string[],
    };
  }

  /**
   * Reads queued messages; with `ack` they leave the queue in the same step.
   * With `quietPid`, an empty queue leaves that assistant's hooks a quiet
   * marker (see `broker/quiet_markers.ts`).
   */
  async check(
    opts: { ack?: boolean; limit?: number; quietPid?: number } = {},
  ): Promise<{ messages: WireMessage[]; remaining: number }> {
    const r = await this.call({
      action: "check",
      ack: opts.ack ?? false,
      limit: opts.limit,
      ...(opts.quietPid === undefined ? {} : { quiet_pid: opts.quietPid }),
    });
    return { messages: r.messages as WireMessage[], remaining: Number(r.remaining ?? 0) };
  }

  /** Acknowledges delivered messages by id (`quietPid` as for {@linkcode check}). */
  async ack(ids: string[], opts: { quietPid?: number } = {}): Promise<number> {
    if (ids.length === 0) return 0;
    const r = await this.call({
      action: "ack",
      ids,
      ...(opts.quietPid === undefined ? {} : { quiet_pid: opts.quietPid }),
    });
    return Number(r.acked);
  }

  /** Waits up to `timeoutMs` for messages (returns at once when some are queued). */
  async wait(
    opts: { timeoutMs?: number; ack?: boolean; limit?: number } = {},
  ): Promise<{ messages: WireMessage[]; timedOut: boolean }> {
    const r = await this.call({
      action: "wait",
      timeout_ms: opts.timeoutMs,
      ack: opts.ack ?? false,
      limit: opts.limit,
    });
    return { messages: r.messages as WireMessage[], timedOut: r.timed_out === true };
  }

  /** Every registered instance. */
  async list(): Promise<WireInstance[]> {
    return (await this.call({ action: "list" })).instances as WireInstance[];
  }

  /** Renames this instance; the session follows. */
  async rename(newName: string): Promise<OkReply> {
    const r = await this.call({ action: "rename", new_id: newName });
    if (this.#session) this.#setSession({ ...this.#session, name: newName });
    return r;
  }

  /** This instance's name and queue depth. */
  async whoami(): Promise<{ name: string; queued: number }> {
    const r = await this.call({ action: "whoami" });
    return { name: String(r.instance_id), queued: Number(r.queued) };
  }

  /** Broker status (with instances when registered). */
  status(): Promise<OkReply> {
    return this.call({ action: "status" });
  }

  /**
   * Claims `paths` (relative to `root`: see `repo_paths.ts`) for this
   * instance. Throws IpcError `E_CLAIMED` (with `details.conflicts`) when any
   * overlaps another agent's claim; nothing is claimed then.
   */
  async claim(
    root: string,
    paths: string[],
    opts: { ttlMs?: number; shared?: boolean; reason?: string } = {},
  ): Promise<WireClaim[]> {
    const r = await this.call({
      action: "claim",
      root,
      paths,
      ttl_ms: opts.ttlMs,
      shared: opts.shared,
      reason: opts.reason,
    });
    return r.claims as WireClaim[];
  }

  /** Releases claims of this instance: `paths` under `root`, or all of them (under `root`). */
  async release(root?: string, paths?: string[]): Promise<WireClaim[]> {
    return (await this.call({ action: "release", root, paths })).released as WireClaim[];
  }

  /** Live claims of every agent (under `root`; overlapping `paths` when given). */
  async claims(root?: string, paths?: string[]): Promise<WireClaim[]> {
    return (await this.call({ action: "claims", root, paths })).claims as WireClaim[];
  }

  /** Revokes this session. */
  async unregister(): Promise<OkReply> {
    const r = await this.call({ action: "unregister" });
    this.#setSession(undefined);
    return r;
  }

  /** Disconnects; stops the hosted broker, if any. Safe twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#abort.abort();
    await this.#connecting?.catch(() => {});
    const conn = this.#conn;
    this.#conn = undefined;
    if (conn) {
      conn.close();
      await conn.closed;
    }
    await this.#hosted?.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
