/**
 * History filtering in memory, for stores without a text index (NATS): the
 * {@linkcode HistoryQuery} fields other than paging and limit, and the
 * newest-first order.
 *
 * @module
 */

import type { HistoryQuery, StoredMessage } from "./store.ts";

/** FTS5 operators are not words to look for. */
const OPERATORS = new Set(["and", "or", "not", "near"]);

/** Words as FTS5's default tokenizer sees them: letters and digits, lower-cased. */
function words(text: string): string[] {
  return text.toLowerCase().normalize("NFKD").replace(/\p{M}/gu, "").match(/[\p{L}\p{N}]+\*?/gu) ??
    [];
}

/**
 * The terms of a text query: FTS5 syntax (quotes, parentheses, AND/OR/NOT)
 * is reduced to its words; a trailing `*` makes a prefix term.
 */
export function queryTerms(text: string): { word: string; prefix: boolean }[] {
  return words(text)
    .filter((w) => !OPERATORS.has(w.replace(/\*$/, "")))
    .map((w) =>
      w.endsWith("*") ? { word: w.slice(0, -1), prefix: true } : { word: w, prefix: false }
    );
}

/** True when `m` passes every filter of `q` (text: every term is a word of the content). */
export function matchesHistory(m: StoredMessage, q: HistoryQuery): boolean {
  if (q.from !== undefined && m.from !== q.from) return false;
  if (q.to !== undefined && m.to !== q.to) return false;
  if (q.between !== undefined) {
    const [a, b] = q.between;
    if (!((m.from === a && m.to === b) || (m.from === b && m.to === a))) return false;
  }
  if (q.since !== undefined && m.time < q.since) return false;
  if (q.until !== undefined && m.time > q.until) return false;
  if (q.text !== undefined) {
    const terms = queryTerms(q.text);
    if (terms.length > 0) {
      const have = words(m.content).map((w) => w.replace(/\*$/, ""));
      const set = new Set(have);
      const ok = terms.every((t) =>
        t.prefix ? have.some((w) => w.startsWith(t.word)) : set.has(t.word)
      );
      if (!ok) return false;
    }
  }
  return true;
}
