/**
 * The console's JSON endpoints: history (feed, conversation and search are
 * one query with filters), instances with their renames, the full text of a
 * large message (looked up by message id, read by the broker), and compose
 * (sending as `human`). Everything goes through the broker's service: the
 * console never touches the store or the data dir itself.
 *
 * @module
 */

import type { Peer } from "../broker/peer.ts";
import type { BrokerService } from "../broker/service.ts";
import { IpcError } from "../protocol/errors.ts";
import type { WireMessage } from "../protocol/messages.ts";
import { shortId, shortIdOf } from "../protocol/short_id.ts";
import { isReservedName, NAME_PATTERN } from "../protocol/validate.ts";
import type { HistoryQuery, MessageRecord, StoredMessage } from "../state/store.ts";
import { securityHeaders } from "./_guard.ts";

/** The name the person at the console sends as. */
export const HUMAN = "human";
/** Most messages one history request returns. */
export const MAX_LIMIT = 500;
/** Longest message the console sends (characters). */
export const MAX_COMPOSE = 512 * 1024;
/** A message id as `newMessageId` makes them: base-36 time, dash, base-36 suffix. */
const MESSAGE_ID = /^([0-9a-z]{1,11})-([0-9a-z]{1,24})$/;

/** A JSON answer with the security headers. */
export function json(status: number, body: unknown): Response {
  const headers = securityHeaders({ "content-type": "application/json; charset=utf-8" });
  return new Response(JSON.stringify(body), { status, headers });
}

/** A JSON error answer: `{error: {code, message}}`. */
export function jsonError(status: number, code: string, message: string): Response {
  return json(status, { error: { code, message } });
}

/** The HTTP status of an IpcError code. */
export function statusOf(e: IpcError): number {
  switch (e.code) {
    case "E_QUEUE_FULL":
    case "E_RATE_LIMITED":
      return 429;
    case "E_SHUTTING_DOWN":
    case "E_UNAVAILABLE":
      return 503;
    case "E_STORE":
      return 500;
    case "E_NOT_FOUND":
      return 404;
    default:
      return 400;
  }
}

/** A message as the page reads it. */
export interface PageMessage {
  id: string;
  /** What every view shows and `reply`, `thread`, `receipt` take. */
  short_id: string;
  from: string;
  to: string;
  /** Unix ms. */
  time: number;
  content: string;
  data?: Record<string, unknown>;
  large?: { path: string; size: number; url: string };
  urgent?: true;
  reply_to?: string;
  reply_to_short?: string;
  thread_id?: string;
  quote?: string;
  /** Its receipt (Unix ms): the ticks. Queued when none is set. */
  delivered_at?: number;
  read_at?: number;
  replied_at?: number;
}

function conversationFields(
  p: PageMessage,
  m: { urgent?: boolean; replyTo?: string; threadId?: string; quote?: string },
): void {
  if (m.urgent) p.urgent = true;
  if (m.replyTo !== undefined) {
    p.reply_to = m.replyTo;
    p.reply_to_short = shortId(m.replyTo);
  }
  if (m.threadId !== undefined) p.thread_id = m.threadId;
  if (m.quote !== undefined) p.quote = m.quote;
}

/** Turns a stored message (with its receipt, when known) into what the page reads. */
export function pageMessage(m: MessageRecord): PageMessage {
  const p: PageMessage = {
    id: m.id,
    short_id: shortId(m.id),
    from: m.from,
    to: m.to,
    time: m.time,
    content: m.content,
  };
  if (m.data !== undefined) p.data = m.data;
  if (m.large) p.large = { ...m.large, url: `/api/messages/${m.id}/content` };
  conversationFields(p, m);
  if (m.deliveredAt !== undefined) p.delivered_at = m.deliveredAt;
  if (m.readAt !== undefined) p.read_at = m.readAt;
  if (m.repliedAt !== undefined) p.replied_at = m.repliedAt;
  return p;
}

/** Turns a message as the broker's events carry it into what the page reads. */
export function pageMessageFromWire(w: WireMessage): PageMessage {
  const p: PageMessage = {
    id: w.id,
    short_id: shortIdOf(w),
    from: w.from,
    to: w.to,
    time: Date.parse(w.timestamp),
    content: w.message.content,
  };
  if (w.message.data !== undefined) p.data = w.message.data;
  if (w.large) p.large = { ...w.large, url: `/api/messages/${w.id}/content` };
  conversationFields(p, {
    urgent: w.urgent,
    replyTo: w.reply_to,
    threadId: w.thread_id,
    quote: w.quote,
  });
  return p;
}

function bad(message: string): IpcError {
  return new IpcError("E_BAD_FIELD", message);
}

function nameParam(url: URL, key: string): string | undefined {
  const v = url.searchParams.get(key)?.trim();
  if (!v) return undefined;
  if (!NAME_PATTERN.test(v)) throw bad(`Invalid name in "${key}": use 1 to 32 of A-Z a-z 0-9 _ -`);
  return v;
}

function timeParam(url: URL, key: string): number | undefined {
  const v = url.searchParams.get(key)?.trim();
  if (!v) return undefined;
  const n = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  if (!Number.isFinite(n)) throw bad(`Invalid time in "${key}": give Unix ms or an ISO date`);
  return n;
}

/** Reads history filters from a query string. Throws E_BAD_FIELD. */
export function historyQuery(url: URL): HistoryQuery {
  const q: HistoryQuery = {};
  const text = url.searchParams.get("q")?.trim();
  if (text) {
    if (text.length > 500) throw bad("Search text is longer than 500 characters");
    q.text = text;
  }
  q.from = nameParam(url, "from");
  q.to = nameParam(url, "to");
  const a = nameParam(url, "a");
  const b = nameParam(url, "b");
  if ((a === undefined) !== (b === undefined)) {
    throw bad(`Give both "a" and "b" for a conversation`);
  }
  if (a && b) q.between = [a, b];
  q.since = timeParam(url, "since");
  q.until = timeParam(url, "until");
  const before = url.searchParams.get("before");
  if (before) {
    if (!MESSAGE_ID.test(before)) throw bad(`Invalid message id in "before"`);
    q.beforeId = before;
  }
  const limit = url.searchParams.get("limit");
  q.limit = 100;
  if (limit) {
    const n = Number(limit);
    if (!Number.isInteger(n) || n < 1 || n > MAX_LIMIT) {
      throw bad(`Invalid "limit": a whole number from 1 to ${MAX_LIMIT}`);
    }
    q.limit = n;
  }
  for (const k of Object.keys(q) as (keyof HistoryQuery)[]) if (q[k] === undefined) delete q[k];
  return q;
}

/** `GET /api/messages`: history, newest first, with filters. */
export async function listMessages(service: BrokerService, url: URL): Promise<Response> {
  const query = historyQuery(url);
  const limit = query.limit!;
  // One more than asked tells the page whether older messages exist.
  const rows = await service.history({ ...query, limit: limit + 1, receipts: true });
  return json(200, {
    messages: rows.slice(0, limit).map(pageMessage),
    more: rows.length > limit,
  });
}

/** `GET /api/thread?id=ID&party=NAME`: the conversation of a message, oldest first. */
export async function threadMessages(service: BrokerService, url: URL): Promise<Response> {
  const id = url.searchParams.get("id") ?? "";
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) throw bad(`Give "id", a message id`);
  const party = nameParam(url, "party");
  if (!party) throw bad(`Give "party", the sender or recipient of the message`);
  const rows = await service.threadOf(id, party);
  return json(200, { messages: rows.map(pageMessage) });
}

/** `GET /api/claims`: the live file claims of every agent, by root and path. */
export async function listClaims(service: BrokerService): Promise<Response> {
  const claims = (await service.liveClaims()).map((c) => ({
    root: c.root,
    path: c.path,
    holder: c.holder,
    shared: c.shared,
    reason: c.reason ?? null,
    claimed_at: c.createdAt,
    expires_at: c.expiresAt,
  }));
  return json(200, { claims });
}

/** One instance as the page reads it. */
export interface PageInstance {
  name: string;
  online: boolean;
  /** Has a live session (registered); false once unregistered or revoked. */
  registered: boolean;
  last_seen: number;
  created_at: number;
  queued: number;
  host?: string;
  last_rename_at?: number;
  /** Earlier names, newest first. */
  renamed_from: { name: string; at: number }[];
  /** What its assistant's hooks last said: in a turn (awake) or waiting (idle), and the last wake. */
  activity?: {
    state: "awake" | "idle";
    since: number;
    last_wake?: number;
    /** Messages are shown to its model at prompts and tool calls. */
    attention: boolean;
    /** How an idle session is woken (claude-socket, codex-queue, asyncRewake, ...). */
    wake: string;
    last_wake_via?: string;
  };
}

/** `GET /api/instances`: every known instance with its renames. */
export async function listInstances(
  service: BrokerService,
  liveRenames: readonly { from: string; to: string; at: number }[],
  hostName: string | undefined,
): Promise<Response> {
  const now = Date.now();
  const activity = await service.activity();
  const records = await service.instanceRecords();
  // Renames are announced to the others by "system" messages; history keeps them.
  const notices = await service.history({ from: "system", limit: 2_000 });
  const seen = new Set<string>();
  const renames: { from: string; to: string; at: number }[] = [];
  const add = (from: string, to: string, at: number) => {
    const key = `${from}>${to}@${Math.floor(at / 1000)}`;
    if (seen.has(key)) return;
    seen.add(key);
    renames.push({ from, to, at });
  };
  for (const m of notices) {
    const d = m.data;
    if (d?.event === "rename" && typeof d.old_id === "string" && typeof d.new_id === "string") {
      add(d.old_id, d.new_id, m.time);
    }
  }
  for (const r of liveRenames) add(r.from, r.to, r.at);
  renames.sort((x, y) => y.at - x.at);
  const online = new Set(service.onlineNames);
  const instances: PageInstance[] = records.map((r) => {
    const i: PageInstance = {
      name: r.name,
      online: online.has(r.name) ||
        (r.sessions > 0 && r.host !== undefined && r.host !== hostName &&
          now - r.lastSeen < 120_000),
      registered: r.sessions > 0,
      last_seen: r.lastSeen,
      created_at: r.createdAt,
      queued: r.queued,
      renamed_from: renames.filter((x) => x.to === r.name).map((x) => ({
        name: x.from,
        at: x.at,
      })),
    };
    if (r.host) i.host = r.host;
    if (r.lastRenameAt !== undefined) i.last_rename_at = r.lastRenameAt;
    const a = activity.get(r.name);
    const reach = a?.reach;
    if (a && reach) {
      i.activity = { state: a.state, since: a.since, attention: reach.attention, wake: reach.wake };
      if (a.last_wake) i.activity.last_wake = a.last_wake;
      if (reach.last_wake_via) i.activity.last_wake_via = reach.last_wake_via;
    }
    return i;
  });
  instances.sort((x, y) =>
    Number(y.online) - Number(x.online) || Number(y.registered) - Number(x.registered) ||
    y.last_seen - x.last_seen
  );
  return json(200, { instances, now });
}

/** The stored message with id `id`, or null. The id's prefix is its time. */
export async function findMessage(
  service: BrokerService,
  id: string,
): Promise<StoredMessage | null> {
  const m = MESSAGE_ID.exec(id);
  if (!m) return null;
  const time = parseInt(m[1], 36);
  const rows = await service.history({ since: time, until: time, limit: 10_000 });
  return rows.find((r) => r.id === id) ?? null;
}

/**
 * `GET /api/messages/:id/content`: the full text of a large message, as the
 * broker reads it (from its store, or from a file inside its
 * `<data-dir>/large-messages`).
 */
export async function largeContent(service: BrokerService, id: string): Promise<Response> {
  const msg = await findMessage(service, id);
  if (!msg) return jsonError(404, "E_NOT_FOUND", `No message "${id}" in history`);
  if (!msg.large) return jsonError(404, "E_NOT_FOUND", `Message "${id}" is not a large message`);
  const large = await service.largeText(msg);
  if ("missing" in large) {
    const why = large.inStore
      ? "The content of this message is gone (expired or removed)"
      : large.missing === "elsewhere"
      ? "The file of this message is not on this host"
      : "The file of this message is gone (expired or removed)";
    return jsonError(404, "E_NOT_FOUND", why);
  }
  const headers = securityHeaders({
    "content-type": "text/plain; charset=utf-8",
    "content-disposition": `inline; filename="${id}.md"`,
  });
  // Opened in a tab of its own: sandboxed, so even a sniffing browser runs nothing.
  headers.set("content-security-policy", "default-src 'none'; sandbox");
  return new Response(large.text, { headers });
}

/** The console's own peer: a connection bound to `human`, so the broker's rules apply. */
export function humanPeer(signal: AbortSignal): Peer {
  return { id: 0, legacy: false, name: HUMAN, failures: 0, signal };
}

/** Reads a JSON body of at most `max` bytes. Throws E_BAD_FIELD. */
export async function readJson(req: Request, max: number): Promise<Record<string, unknown>> {
  if (!(req.headers.get("content-type") ?? "").toLowerCase().startsWith("application/json")) {
    throw bad(`Send a JSON body ("content-type: application/json")`);
  }
  const declared = Number(req.headers.get("content-length") ?? "0");
  if (declared > max) throw bad(`Body is larger than ${max} bytes`);
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (req.body) {
    for await (const chunk of req.body) {
      size += chunk.length;
      if (size > max) throw bad(`Body is larger than ${max} bytes`);
      chunks.push(chunk);
    }
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) all.set(c, at), at += c.length;
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(all));
  } catch {
    throw bad("Body is not valid JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw bad("Body must be a JSON object");
  }
  return value as Record<string, unknown>;
}

/**
 * `POST /api/send` `{to, content}`: sends as `human` to one instance, or to
 * every registered instance when `to` is "all". Goes through the broker's
 * `send`/`broadcast` rules (forwards, queue caps, large messages).
 */
export async function compose(
  service: BrokerService,
  body: Record<string, unknown>,
  signal: AbortSignal,
): Promise<Response> {
  const { to, content, urgent, reply_to } = body;
  if (typeof content !== "string") throw bad(`Give "content" (text)`);
  if (urgent !== undefined && typeof urgent !== "boolean") throw bad(`"urgent" is true or false`);
  if (reply_to !== undefined) {
    // A reply as `human` to a message sent to `human`: it goes to that message's sender.
    if (typeof reply_to !== "string") throw bad(`"reply_to" is a message id`);
    if (content.trim() === "") throw bad("The message is empty");
    if (content.length > MAX_COMPOSE) {
      throw bad(`The message is longer than ${MAX_COMPOSE} characters`);
    }
    const { reply } = await service.handle(
      {
        action: "reply",
        message_id: reply_to,
        message: { content },
        ...(urgent ? { urgent: true } : {}),
      },
      humanPeer(signal),
    );
    return json(200, {
      message: reply.message,
      id: reply.message_id,
      to: reply.to_id,
      reply_to: reply.reply_to,
    });
  }
  if (typeof to !== "string") {
    throw bad(`Give "to" (an instance name or "all") and "content" (text)`);
  }
  if (content.trim() === "") throw bad("The message is empty");
  if (content.length > MAX_COMPOSE) {
    throw bad(`The message is longer than ${MAX_COMPOSE} characters`);
  }
  const all = to === "all" || to === "*";
  if (!all) {
    if (!NAME_PATTERN.test(to)) throw bad(`Invalid recipient "${to.slice(0, 40)}"`);
    if (isReservedName(to)) {
      throw new IpcError("E_RESERVED_NAME", `Cannot send to "${to}": it is a reserved name`);
    }
  }
  const request = all ? { action: "broadcast" as const, message: { content } } : {
    action: "send" as const,
    to_id: to,
    message: { content },
    ...(urgent ? { urgent: true } : {}),
  };
  const { reply } = await service.handle(request, humanPeer(signal));
  const out: Record<string, unknown> = { message: reply.message };
  if (all) {
    out.delivered = reply.delivered;
    out.missed = reply.missed;
  } else {
    out.id = reply.message_id;
    out.to = reply.to_id;
    out.queued_for_future = reply.queued_for_future;
  }
  return json(200, out);
}
