/**
 * What a peer may put in its text to leave its frame: the line breaks and
 * control characters every surface that shows peer text is tested with.
 *
 * @module
 */

/** Every line break Unicode knows (UAX #14 BK, CR, LF, NL), CRLF as one break. */
export const BREAKS = ["\n", "\r\n", "\r", "\v", "\f", "\u0085", "\u2028", "\u2029"];

/** Characters that move a terminal's cursor, ring it, or reorder what is read. */
export const CONTROLS = [
  "\x00",
  "\x07",
  "\x08",
  "\x1b",
  "\x7f",
  "\x9b", // C1 CSI: a one-byte escape sequence on some terminals
  "\u061c",
  "\u200e",
  "\u200f",
  "\u202a",
  "\u202b",
  "\u202c",
  "\u202d",
  "\u202e",
  "\u2066",
  "\u2067",
  "\u2068",
  "\u2069",
];

/** True when `s` holds no lone surrogate (what a strict JSON parser such as serde_json needs). */
export function wellFormed(s: string): boolean {
  return s.isWellFormed();
}
