/**
 * A line diff in unified format, for `setup --dry-run` to show what it would
 * change: the `diff` package finds the hunks, this module prints them as
 * `diff -u` does.
 *
 * @module
 */

import { structuredPatch } from "../deps.ts";

/**
 * Returns a unified diff of two texts (three lines of context), or `""` when
 * they are equal.
 *
 * @example
 * ```ts
 * unifiedDiff("a\nb\n", "a\nc\n", "x.json (before)", "x.json (after)");
 * // "--- x.json (before)\n+++ x.json (after)\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n"
 * ```
 */
export function unifiedDiff(
  before: string,
  after: string,
  fromLabel: string,
  toLabel: string,
): string {
  if (before === after) return "";
  const patch = structuredPatch(fromLabel, toLabel, before, after, "", "", {
    context: 3,
    stripTrailingCr: true,
  });
  let out = `--- ${fromLabel}\n+++ ${toLabel}\n`;
  for (const hunk of patch.hunks) {
    const from = range(hunk.oldStart, hunk.oldLines);
    const to = range(hunk.newStart, hunk.newLines);
    out += `@@ -${from} +${to} @@\n${hunk.lines.map((line) => `${line}\n`).join("")}`;
  }
  return out;
}

/** diff -u writes `start,count`, `start` alone for one line, and start 0 for an empty side. */
function range(start: number, count: number): string {
  if (count === 0) return `${start === 0 ? 0 : start - 1},0`;
  return count === 1 ? `${start}` : `${start},${count}`;
}
