/**
 * Short message ids: the 7-character form every view shows next to a
 * message (`k3x9a0q`), which commands accept in place of the full id. A pure
 * function of the full id, so the broker, the stores and the clients agree
 * without asking each other; the broker resolves one back among the messages
 * its caller sent or received (see docs/protocol.md).
 *
 * @module
 */

import { cutText } from "./peer_text.ts";

/** Crockford's base-32 digits, lower case (no i, l, o, u: nothing to misread). */
const DIGITS = "0123456789abcdefghjkmnpqrstvwxyz";
const CODES = Uint8Array.from(DIGITS, (d) => d.charCodeAt(0));

/** A short id: 7 of Crockford's base-32 digits. */
export const SHORT_ID_PATTERN = /^[0-9a-hjkmnp-tv-z]{7}$/;

/** Short ids count seconds modulo 2^25 (about 388 days, longer than any history is kept). */
const SECONDS_WRAP = 2 ** 25;

/**
 * The Unix ms a broker-made message id starts with (base 36, before the "-"),
 * or NaN. Parsed by hand: a RegExp test and a slice per message were a
 * tenth of the broker's cost of turning a message into wire form.
 */
function idTime(id: string): number {
  const dash = id.indexOf("-");
  if (dash < 1 || dash > 12) return NaN;
  let ms = 0;
  for (let i = 0; i < dash; i++) {
    const c = id.charCodeAt(i);
    const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 122 ? c - 87 : -1;
    if (d < 0) return NaN;
    ms = ms * 36 + d;
  }
  // Past 10 digits the sum is inexact: round as parseInt does, as ever.
  return dash > 10 ? parseInt(id.slice(0, dash), 36) : ms;
}

/**
 * The short id of a message id: five digits of the second the id was made
 * (its time-ordered prefix, modulo 2^25) and two of a hash of it. The time
 * lets a store find the message by its short id through the index of ids it
 * has anyway (the ids of that second), so sends pay for no index of their
 * own: a random short-id index cost half the SQLite store's throughput by
 * dirtying a page per insert. An id without a time gets hashed digits only.
 *
 * @example
 * ```ts
 * shortId("mwqgzdmn-k3x9a0q000001"); // 7 characters, the same everywhere
 * ```
 */
export function shortId(id: string): string {
  let a = 0x811c9dc5;
  let b = 0x9e3779b9;
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
  }
  a = fmix(a);
  b = fmix(b ^ a);
  const ms = idTime(id);
  const sec = Number.isFinite(ms) ? Math.floor(ms / 1000) % SECONDS_WRAP : b % SECONDS_WRAP;
  // sec < 2^25: five 5-bit digits, most significant first; one flat string.
  return String.fromCharCode(
    CODES[(sec >>> 20) & 31],
    CODES[(sec >>> 15) & 31],
    CODES[(sec >>> 10) & 31],
    CODES[(sec >>> 5) & 31],
    CODES[sec & 31],
    CODES[a & 31],
    CODES[(a >>> 5) & 31],
  );
}

/** A message's short id: the one it carries (`short_id`), else {@linkcode shortId} of its id. */
export function shortIdOf(m: { id: string; short_id?: string }): string {
  return m.short_id ?? shortId(m.id);
}

/**
 * The id range (`[from, to)`, compared as strings) holding the broker-made
 * ids whose short id can be `ref`: those made in the second it names, the
 * latest such second not after `now`. Ids are `<ms in base 36>-…` with a
 * fixed-width time, so string order is time order.
 */
export function shortIdRange(ref: string, now: number = Date.now()): { from: string; to: string } {
  let sec = 0;
  for (let i = 0; i < 5; i++) sec = sec * 32 + DIGITS.indexOf(ref[i]);
  const nowS = Math.floor(now / 1000);
  const t = nowS - (((nowS - sec) % SECONDS_WRAP) + SECONDS_WRAP) % SECONDS_WRAP;
  return { from: (t * 1000).toString(36), to: ((t + 1) * 1000).toString(36) };
}

/** MurmurHash3's finaliser: every input bit reaches every output bit. */
function fmix(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** True when `ref` has the form of a short id (a full id never has). */
export function isShortId(ref: string): boolean {
  return SHORT_ID_PATTERN.test(ref);
}

/**
 * The first `max` characters of `text` on one line, with an ellipsis when cut
 * (on a grapheme boundary: never half of a surrogate pair).
 */
export function excerpt(text: string, max = 80): string {
  const line = text.replace(/\s+/g, " ").trim();
  return line.length <= max ? line : `${cutText(line, max - 1)}…`;
}
