/**
 * "Did you mean …?": the nearest known words to a typo (`sned` → `send`,
 * `--urgnet` → `--urgent`, `bbo` → `bob`), and the message for an option
 * `node:util`'s `parseArgs` does not know, decided by the error's code (its
 * own text advises putting the option after `--`, which is wrong for a
 * typo). No I/O; shared by every command's parser.
 *
 * @module
 */

/**
 * Optimal string alignment distance: insertions, deletions, substitutions
 * and transpositions of two neighbours each cost 1 (`sned`/`send` is 1).
 */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, () => new Array<number>(cols).fill(0));
  for (let i = 0; i < rows; i++) d[i][0] = i;
  for (let j = 0; j < cols; j++) d[0][j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.length][b.length];
}

/**
 * The known words near `word`, nearest first (at most `max`): within a third
 * of the word's length (at least 1, at most 3 edits), compared without case;
 * a known word that starts with `word` (3 letters or more) counts as near too.
 *
 * @example
 * ```ts
 * nearest("sned", ["send", "check", "register"]); // ["send"]
 * ```
 */
export function nearest(word: string, known: Iterable<string>, max = 3): string[] {
  const w = word.toLowerCase();
  const limit = Math.min(3, Math.max(1, Math.floor(w.length / 3)));
  const scored: [string, number][] = [];
  for (const candidate of known) {
    const c = candidate.toLowerCase();
    if (c === w) continue;
    const d = editDistance(w, c);
    if (d <= limit) scored.push([candidate, d]);
    else if (w.length >= 3 && c.startsWith(w)) scored.push([candidate, limit + 0.5]);
  }
  scored.sort((x, y) => x[1] - y[1] || x[0].localeCompare(y[0]));
  return scored.slice(0, max).map(([c]) => c);
}

/** `" (did you mean send?)"`, `" (did you mean bob or bobby?)"`, or "" when nothing is near. */
export function didYouMean(word: string, known: Iterable<string>): string {
  const near = nearest(word, known);
  if (near.length === 0) return "";
  const list = near.length === 1
    ? near[0]
    : `${near.slice(0, -1).join(", ")} or ${near[near.length - 1]}`;
  return ` (did you mean ${list}?)`;
}

/**
 * The message for an error `parseArgs` threw, with a suggestion for an
 * unknown option; other parse errors keep their text.
 *
 * @example
 * ```ts
 * try { parseArgs({ args: ["--urgnet"], options: { urgent: { type: "boolean" } } }); }
 * catch (e) { parseErrorMessage(e, { urgent: { type: "boolean" } }); }
 * // "Unknown option '--urgnet' (did you mean --urgent?)"
 * ```
 */
export function parseErrorMessage(error: unknown, options: Record<string, unknown>): string {
  const e = error as { code?: string; message?: string };
  const text = String(e?.message ?? error);
  if (e?.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
    const m = /'(-{1,2}[^']*)'/.exec(text);
    const given = m ? m[1] : text;
    const flag = given.replace(/^-+/, "").split("=")[0];
    const known = Object.keys(options).map((o) => `--${o}`);
    return `Unknown option '${given}'${didYouMean(`--${flag}`, known)}`;
  }
  return text;
}
