/**
 * Messages in their wire form: ids the broker gives them, the stored-to-wire
 * conversion, and the sizing that keeps every reply within what its client
 * can read (legacy 64 KiB, framed the frame cap).
 *
 * @module
 */

import { Buffer } from "node:buffer";
import type { WireMessage } from "../protocol/messages.ts";
import type { StoredMessage } from "../state/store.ts";

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
