/**
 * A line diff in unified format, for `setup --dry-run` to show what it would
 * change. Common leading and trailing lines are set aside first, so the
 * quadratic part only sees the changed middle (small for setup's edits).
 *
 * @module
 */

/** Lines of context around each change, as in `diff -u`. */
const CONTEXT = 3;

/** Above this many cells the middle is shown as one removal and one addition. */
const MAX_CELLS = 4_000_000;

type Op = { kind: " " | "-" | "+"; line: string };

/**
 * Returns a unified diff of two texts, or `""` when they are equal.
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
  const a = splitLines(before);
  const b = splitLines(after);
  const ops = diffLines(a, b);
  let out = `--- ${fromLabel}\n+++ ${toLabel}\n`;
  for (const hunk of hunks(ops)) out += hunk;
  return out;
}

function splitLines(text: string): string[] {
  if (text === "") return [];
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  else lines[lines.length - 1] += "\n\\ No newline at end of file";
  return lines.map((l) => l.replace(/\r$/, ""));
}

function diffLines(a: string[], b: string[]): Op[] {
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA--;
    endB--;
  }
  const ops: Op[] = a.slice(0, start).map((line) => ({ kind: " ", line }));
  ops.push(...middle(a.slice(start, endA), b.slice(start, endB)));
  ops.push(...a.slice(endA).map((line): Op => ({ kind: " ", line })));
  return ops;
}

/** Longest-common-subsequence diff of the changed middle. */
function middle(a: string[], b: string[]): Op[] {
  if ((a.length + 1) * (b.length + 1) > MAX_CELLS) {
    return [
      ...a.map((line): Op => ({ kind: "-", line })),
      ...b.map((line): Op => ({ kind: "+", line })),
    ];
  }
  const width = b.length + 1;
  const lcs = new Uint32Array((a.length + 1) * width);
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lcs[i * width + j] = a[i] === b[j]
        ? lcs[(i + 1) * width + j + 1] + 1
        : Math.max(lcs[(i + 1) * width + j], lcs[i * width + j + 1]);
    }
  }
  const ops: Op[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      ops.push({ kind: " ", line: a[i++] });
      j++;
    } else if (
      j < b.length && (i === a.length || lcs[i * width + j + 1] >= lcs[(i + 1) * width + j])
    ) {
      ops.push({ kind: "+", line: b[j++] });
    } else {
      ops.push({ kind: "-", line: a[i++] });
    }
  }
  // Show removals before additions within each run of changes, as diff -u does.
  return reorderRuns(ops);
}

function reorderRuns(ops: Op[]): Op[] {
  const out: Op[] = [];
  let removed: Op[] = [];
  let added: Op[] = [];
  const flush = () => {
    out.push(...removed, ...added);
    removed = [];
    added = [];
  };
  for (const op of ops) {
    if (op.kind === "-") removed.push(op);
    else if (op.kind === "+") added.push(op);
    else {
      flush();
      out.push(op);
    }
  }
  flush();
  return out;
}

function* hunks(ops: Op[]): Generator<string> {
  const changed = ops.flatMap((op, i) => (op.kind === " " ? [] : [i]));
  let k = 0;
  while (k < changed.length) {
    const first = Math.max(0, changed[k] - CONTEXT);
    let last = changed[k];
    while (k + 1 < changed.length && changed[k + 1] - last <= 2 * CONTEXT + 1) last = changed[++k];
    k++;
    const end = Math.min(ops.length - 1, last + CONTEXT);
    let oldStart = 1;
    let newStart = 1;
    for (let i = 0; i < first; i++) {
      if (ops[i].kind !== "+") oldStart++;
      if (ops[i].kind !== "-") newStart++;
    }
    const slice = ops.slice(first, end + 1);
    const oldCount = slice.filter((op) => op.kind !== "+").length;
    const newCount = slice.filter((op) => op.kind !== "-").length;
    const body = slice.map((op) => `${op.kind}${op.line}\n`).join("");
    yield `@@ -${range(oldStart, oldCount)} +${range(newStart, newCount)} @@\n${body}`;
  }
}

/** diff -u writes `start,count`, with the start one less when the count is 0. */
function range(start: number, count: number): string {
  if (count === 0) return `${start - 1},0`;
  return count === 1 ? `${start}` : `${start},${count}`;
}
