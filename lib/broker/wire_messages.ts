/**
 * Messages in their wire form: ids the broker gives them, the stored-to-wire
 * conversion, and the sizing that keeps every reply within what its client
 * can read (legacy 64 KiB, framed the frame cap).
 *
 * @module
 */

import { Buffer } from "node:buffer";
import type { WireMessage, WireReceipt } from "../protocol/messages.ts";
import { shortId } from "../protocol/short_id.ts";
import type { MessageRecord, StoredMessage } from "../state/store.ts";

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
  if (m.reply_to !== undefined) n += 200 + 6 * (m.quote?.length ?? 0);
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
let isoSecond = NaN;
let isoPrefix = "";
/** The last millisecond `isoOf` builds by hand: 9999-12-31T23:59:59.999Z (later years take a sign). */
const ISO_MAX_MS = 253_402_300_799_999;

/**
 * `new Date(ms).toISOString()`, built from the text of its second, which is
 * remembered: a backlog's messages mostly share a second but not a
 * millisecond, and a Date per message was most of what turning them into
 * wire form cost (26 of 44 ms for 30,000 messages in the backlog bench).
 */
function isoOf(ms: number): string {
  if (ms === isoTime) return isoText;
  if (!Number.isInteger(ms) || ms < 0 || ms > ISO_MAX_MS) return new Date(ms).toISOString();
  const milli = ms % 1000;
  const second = ms - milli;
  if (second !== isoSecond) {
    isoPrefix = new Date(second).toISOString().slice(0, 20); // "YYYY-MM-DDTHH:MM:SS."
    isoSecond = second;
  }
  isoText = isoPrefix + (milli < 10 ? "00" : milli < 100 ? "0" : "") + milli + "Z";
  isoTime = ms;
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
    short_id: shortId(m.id),
  };
  if (m.large) w.large = m.large;
  if (m.urgent) w.urgent = true;
  if (m.replyTo !== undefined) {
    w.reply_to = m.replyTo;
    w.reply_to_short = shortId(m.replyTo);
  }
  if (m.threadId !== undefined) w.thread_id = m.threadId;
  if (m.quote !== undefined) w.quote = m.quote;
  return w;
}

/** The receipt of a message as its sender sees it. */
export function toReceipt(r: MessageRecord): WireReceipt {
  const iso = (ms: number) => new Date(ms).toISOString();
  const out: WireReceipt = {
    message_id: r.id,
    short_id: shortId(r.id),
    to: r.to,
    state: r.repliedAt !== undefined
      ? "replied"
      : r.readAt !== undefined
      ? "read"
      : r.deliveredAt !== undefined
      ? "delivered"
      : "queued",
    queued_at: iso(r.time),
  };
  if (r.deliveredAt !== undefined) out.delivered_at = iso(r.deliveredAt);
  if (r.readAt !== undefined) out.read_at = iso(r.readAt);
  if (r.repliedAt !== undefined) out.replied_at = iso(r.repliedAt);
  if (r.replyId !== undefined) out.reply_id = r.replyId;
  return out;
}
