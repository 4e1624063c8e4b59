/**
 * Short message ids: the 7-character form every view shows next to a
 * message (`k3x9a0q`), which commands accept in place of the full id. A pure
 * function of the full id, so the broker, the stores and the clients agree
 * without asking each other; the broker resolves one back among the messages
 * its caller sent or received (see README, "Wire protocol").
 *
 * @module
 */

/** Crockford's base-32 digits, lower case (no i, l, o, u: nothing to misread). */
const DIGITS = "0123456789abcdefghjkmnpqrstvwxyz";

/** Length of a short id. */
export const SHORT_ID_LENGTH = 7;

/** A short id: 7 of Crockford's base-32 digits. */
export const SHORT_ID_PATTERN = /^[0-9a-hjkmnp-tv-z]{7}$/;

/**
 * The short id of a message id: 35 bits of two FNV-1a hashes of it.
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
  // 32 bits of a and 3 of b: 7 digits of 5 bits.
  let out = "";
  for (let i = 0; i < 6; i++) out += DIGITS[(a >>> (5 * i)) & 31];
  return out + DIGITS[(a >>> 30) | ((b & 7) << 2)];
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

/** The first `max` characters of `text` on one line, with an ellipsis when cut. */
export function excerpt(text: string, max = 80): string {
  const line = text.replace(/\s+/g, " ").trim();
  return line.length <= max ? line : `${line.slice(0, max - 1)}…`;
}
