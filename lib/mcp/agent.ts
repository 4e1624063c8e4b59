/**
 * The MCP server's seat on the message bus: one {@linkcode AgentClient} with
 * role "host" (it joins the broker or wins the election and hosts it, and
 * after the host dies it re-elects and resumes the same session), the name
 * it registers at start-up, the delivery ledger, and the reads every tool
 * shares (visible unread messages, the unread notice).
 *
 * @module
 */

import { AgentClient, type AgentClientOptions, type Session } from "../client/agent_client.ts";
import { IpcError } from "../protocol/errors.ts";
import type { WireMessage } from "../protocol/messages.ts";
import { logger } from "../log.ts";
import { isAlive } from "../process_alive.ts";
import {
  type AgentRecord,
  pruneDeadRecords,
  type Reach,
  reachOf,
  readActivity,
  readOwnRecord,
  releaseSession,
  removeAgentRecord,
  writeAgentRecord,
} from "../state/agent_records.ts";
import { DeliveryLedger } from "./delivery.ts";
import { unreadNotice } from "./format.ts";

const log = logger("mcp");

/** How much of the queue one read looks at. */
export const PEEK_LIMIT = 100;

/** What the agent tells its observers (the resources). */
export type AgentEvent =
  | { type: "connected"; hosting: boolean }
  | { type: "lost" }
  | { type: "session"; session: Session | null };

/** Agent settings. */
export interface McpAgentOptions {
  /**
   * Client settings; `role`, `autoReregister` and `onEvent` are set here: the
   * agent hosts the broker when it wins the election if given `hostBroker`.
   */
  client: Omit<AgentClientOptions, "role" | "autoReregister" | "onEvent">;
  /**
   * Registered at start-up (`--name`, `IPC_INSTANCE`); when a live session
   * holds it, the first free of `NAME-2` … `NAME-9` instead.
   */
  name?: string;
  /**
   * The assistant this server runs for (its parent process): the session is
   * recorded under it in the data dir, for that assistant's hooks.
   */
  assistant?: { pid: number; sessionId?: string };
}

/** How many numbered names (`NAME-2` …) a start-up name may fall back to. */
export const NAME_FALLBACKS = 8;

/** Unread messages as the assistant sees them (held and delivered ones left out). */
export interface Unread {
  /** Visible messages, oldest first (at most {@linkcode PEEK_LIMIT}). */
  messages: WireMessage[];
  /** How many visible messages wait in all. */
  count: number;
}

/** The MCP server's client of the broker. */
export class McpAgent implements AsyncDisposable {
  readonly ledger: DeliveryLedger;
  readonly #o: McpAgentOptions;
  #client: AgentClient | undefined;
  #connecting: Promise<AgentClient> | undefined;
  /** A start-up name not registered yet (the broker was unreachable or the name taken). */
  #pendingName: string | undefined;
  #lastError: string | undefined;
  /** Why the session has its name (for whoami). */
  #how = "";
  #recorded: Promise<void> = Promise.resolve();
  /** The assistant's session id, once known (environment, or a tool call's `_meta`). */
  #sessionId: string | undefined;
  /** The registered session last recorded (re-recorded when the session id is learnt). */
  #session: Session | null = null;
  /** The records of dead servers of this assistant were removed (once, at the first record). */
  #pruned = false;
  /** When this server started: stable across re-registrations (hooks bind by it). */
  readonly #startedAt = new Date().toISOString();
  #hosting = false;
  #closed = false;
  #starting: Promise<void> | undefined;
  #registering: Promise<void> | undefined;
  readonly #listeners = new Set<(e: AgentEvent) => void>();

  constructor(options: McpAgentOptions) {
    this.#o = options;
    this.#pendingName = options.name;
    this.#sessionId = options.assistant?.sessionId;
    this.ledger = new DeliveryLedger(async (ids) => {
      const c = await this.client();
      await c.ack(ids);
    });
  }

  /** Adds an observer; returns the function that removes it. */
  on(listener: (e: AgentEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #emit(e: AgentEvent): void {
    for (const l of this.#listeners) {
      try {
        l(e);
      } catch { /* observers must not break the agent */ }
    }
  }

  /** The registered name, if any. */
  get name(): string | undefined {
    return this.#client?.session?.name;
  }

  /** True while this process hosts the broker. */
  get hosting(): boolean {
    return this.#hosting && this.#client?.hostedBroker !== undefined;
  }

  /** True while connected to a broker. */
  get connected(): boolean {
    return this.#client?.connected ?? false;
  }

  /** The last connection or start-up registration failure, if any. */
  get lastError(): string | undefined {
    return this.#lastError;
  }

  /** Where the broker is expected. */
  get address(): string {
    return `${this.#o.client.host}:${this.#o.client.port}`;
  }

  /**
   * Connects (electing a broker if needed) and registers the start-up name.
   * Never throws: failures are logged and retried by the next tool call.
   */
  start(): Promise<void> {
    return this.#starting ??= (async () => {
      try {
        await this.client();
        await this.#registerPending();
      } catch (e) {
        log.warn(`start-up: ${(e as Error).message}`);
      }
    })();
  }

  /** Resolves once start-up (connecting, registering the start-up name) is over. */
  async ready(): Promise<void> {
    await this.#starting;
  }

  /** The connected client; connects on first use and after a failed attempt. */
  client(): Promise<AgentClient> {
    if (this.#closed) return Promise.reject(new IpcError("E_UNAVAILABLE", "Server is stopping"));
    if (this.#client) return Promise.resolve(this.#client);
    return this.#connecting ??= AgentClient.connect({
      ...this.#o.client,
      role: this.#o.client.hostBroker ? "host" : "none",
      autoReregister: true,
      onEvent: (e) => this.#onClientEvent(e),
    }).then(
      async (c) => {
        if (this.#closed) {
          await c.close();
          throw new IpcError("E_UNAVAILABLE", "Server is stopping");
        }
        this.#client = c;
        this.#lastError = undefined;
        return c;
      },
      (e) => {
        this.#lastError = (e as Error).message;
        throw e;
      },
    ).finally(() => this.#connecting = undefined);
  }

  #onClientEvent(e: Parameters<NonNullable<AgentClientOptions["onEvent"]>>[0]): void {
    switch (e.type) {
      case "connected":
        this.#hosting = e.hosting;
        log.info(
          e.hosting
            ? `hosting the broker on ${this.address}`
            : `joined the broker on ${this.address}`,
        );
        void this.ledger.flush();
        this.#emit({ type: "connected", hosting: e.hosting });
        break;
      case "lost":
        log.warn(`broker connection lost: ${e.reason}; re-electing`);
        this.#emit({ type: "lost" });
        break;
      case "session":
        log.info(e.session ? `registered as ${e.session.name}` : "not registered");
        this.#record(e.session);
        this.#emit({ type: "session", session: e.session });
        break;
    }
  }

  /** Why the session has its name: "as configured", or the name that was taken. */
  get how(): string {
    return this.#how;
  }

  /** How the session `name` is reached, from what its hooks recorded (undefined: no hooks ran). */
  async reach(name: string): Promise<Reach | undefined> {
    return reachOf(await readActivity(this.#o.client.dataDir, name));
  }

  /** The assistant's session id, if known. */
  get sessionId(): string | undefined {
    return this.#sessionId;
  }

  /**
   * Learns the assistant's session id from a request's `_meta` (Codex names
   * its thread in every tool call): the record then carries it, so the hooks
   * of that session, and only those, find this server.
   */
  learnSessionId(id: string): void {
    if (!id || id === this.#sessionId) return;
    log.info(`the assistant's session is ${id}`);
    this.#sessionId = id;
    if (this.#session) this.#record(this.#session);
  }

  /** Records the session for the assistant's hooks (or removes the record). */
  #record(session: Session | null): void {
    this.#session = session;
    const a = this.#o.assistant;
    if (!a) return;
    const dataDir = this.#o.client.dataDir;
    this.#recorded = this.#recorded.then(async () => {
      if (!session) return await removeAgentRecord(dataDir, a.pid, Deno.pid);
      // A hook may have bound this server to its session already: keep that until told.
      const own = this.#sessionId === undefined
        ? await readOwnRecord(dataDir, a.pid, Deno.pid)
        : undefined;
      const record: AgentRecord = {
        name: session.name,
        token: session.token,
        assistant_pid: a.pid,
        mcp_pid: Deno.pid,
        how: this.#how || "registered by the assistant",
        started: this.#startedAt,
      };
      if (this.#sessionId !== undefined) {
        record.session_id = this.#sessionId;
        record.session_from = "assistant";
      } else if (own?.session_id) {
        record.session_id = own.session_id;
        record.session_from = own.session_from;
      }
      if (!this.#pruned) {
        this.#pruned = true;
        await pruneDeadRecords(dataDir, a.pid, Deno.pid, isAlive);
      }
      await writeAgentRecord(dataDir, record);
      if (record.session_from === "assistant") {
        await releaseSession(dataDir, a.pid, Deno.pid, record.session_id!);
      }
    }).catch((e) => log.warn(`cannot record the session for hooks: ${(e as Error).message}`));
  }

  /**
   * Registers the start-up name, or, when a live session holds it, the first
   * free numbered one: two windows of one assistant with one config get two
   * names, and neither takes the other's.
   */
  async #registerStartName(name: string): Promise<void> {
    for (let i = 1; i <= NAME_FALLBACKS + 1; i++) {
      const candidate = i === 1 ? name : `${name}-${i}`;
      this.#how = i === 1 ? "as configured" : `"${name}" is in use by a live session`;
      try {
        await this.register(candidate);
        return;
      } catch (e) {
        if (!(e instanceof IpcError) || e.code !== "E_NAME_TAKEN" || i > NAME_FALLBACKS) throw e;
      }
    }
  }

  #registerPending(): Promise<void> {
    const name = this.#pendingName;
    if (!name) return Promise.resolve();
    return this.#registering ??= this.#registerStartName(name).then(
      () => {},
      (e) => {
        this.#lastError = `registering as "${name}" failed: ${(e as Error).message}`;
        throw new IpcError(e instanceof IpcError ? e.code : "E_INTERNAL", this.#lastError);
      },
    ).finally(() => this.#registering = undefined);
  }

  /** Registers `name`, giving up a previous, different name first. */
  async register(name: string): Promise<{ name: string; queued: number }> {
    const c = await this.client();
    if (name !== this.#pendingName && !name.startsWith(`${this.#pendingName}-`)) {
      this.#how = "registered by the assistant";
    }
    const old = c.session?.name;
    if (old && old !== name) await c.unregister().catch(() => {});
    try {
      const r = await c.register(name);
      this.#pendingName = undefined;
      this.#lastError = undefined;
      return r;
    } catch (e) {
      if (old && old !== name) await c.register(old).catch(() => {});
      throw e;
    }
  }

  /**
   * The client, registered: retries a pending start-up registration, else
   * tells how to register.
   */
  async registered(): Promise<AgentClient> {
    const c = await this.client();
    if (c.session) return c;
    if (this.#pendingName) {
      await this.#registerPending();
      return c;
    }
    throw new IpcError(
      "E_SESSION",
      'Not registered on agent-ipc: call the register tool (or ipc "register as NAME") first',
    );
  }

  /** Visible unread messages, without acknowledging anything. */
  async unread(): Promise<Unread> {
    const c = await this.registered();
    await this.ledger.settled();
    const r = await c.check({ ack: false, limit: PEEK_LIMIT });
    return this.#visible(r.messages, r.remaining);
  }

  #visible(all: WireMessage[], depth: number): Unread {
    const messages = all.filter((m) => !this.ledger.hidden(m.id));
    return { messages, count: Math.max(messages.length, depth - (all.length - messages.length)) };
  }

  /**
   * Waits up to `timeoutMs` for visible messages (returns at once when some
   * wait). Messages still held by another request are skipped, not returned.
   */
  async waitUnread(timeoutMs: number, signal?: AbortSignal): Promise<Unread> {
    const c = await this.registered();
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      await this.ledger.settled();
      const left = Math.max(0, deadline - Date.now());
      const r = await c.wait({ timeoutMs: left, ack: false, limit: PEEK_LIMIT });
      const u = this.#visible(r.messages, r.messages.length);
      if (u.messages.length || r.messages.length === 0 || Date.now() >= deadline) {
        if (u.messages.length === 0) return u;
        // The wait reply has no depth: read it for the notice.
        const all = await c.check({ ack: false, limit: PEEK_LIMIT });
        return this.#visible(all.messages, all.remaining);
      }
      if (signal?.aborted) return { messages: [], count: 0 };
      // Only held messages wait: their acks are on the way.
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** "2 unread messages from fred, kai", or "" (also when that cannot be known). */
  async notice(): Promise<string> {
    if (!this.#client?.session) return "";
    try {
      const u = await this.unread();
      return unreadNotice(u.count, u.messages);
    } catch {
      return "";
    }
  }

  /** Leaves: acks what was written, closes the client (and the hosted broker). Safe twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.ledger.settled().catch(() => {});
    this.#closed = true;
    await this.#connecting?.catch(() => {});
    await this.#client?.close();
    const a = this.#o.assistant;
    await this.#recorded;
    if (a) await removeAgentRecord(this.#o.client.dataDir, a.pid, Deno.pid).catch(() => {});
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
