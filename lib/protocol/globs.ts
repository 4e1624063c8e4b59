/**
 * Claim paths: their checks, and whether two of them can name a common file.
 *
 * A claim path is POSIX, relative to a repository root, and may be a glob:
 * `*` (any characters but `/`), `?` (one of them), `[a-z]` / `[!a-z]` (one
 * of a class), `{a,b}` (alternatives), `**` as a whole segment (any number of
 * directories, none included), `\` escapes the next character. A path
 * without glob characters also covers everything below it, so claiming `src`
 * claims `src/a.ts`. Two claims overlap when some path matches both: each is
 * compiled to a small automaton and their product is searched for a state
 * where both accept, so `src/*.ts` and `src/x/**` do not overlap while
 * `src/**` and `src/a.ts` do. Pure: no I/O.
 *
 * Bounded work: every limit of a path (length, alternatives, wildcards, automaton size)
 * is checked when it is claimed ({@linkcode checkClaimPath}, which also folds
 * runs of `**` segments into one), and the overlap tests of one request draw
 * on one {@linkcode GlobBudget}: past it the request is refused with
 * `E_BAD_FIELD` naming the limit, so no request can hold the broker's event
 * loop for more than a few milliseconds. A stored path never makes a request
 * fail on its own: one stored by an older version, which checked less, is
 * still matched (within the budget), and one far past the limits counts as
 * overlapping, the safe side of a lease.
 *
 * @module
 */

import { LIMITS } from "../defaults.ts";
import { IpcError } from "./errors.ts";

/** Longest claim path, characters. */
export const MAX_CLAIM_PATH = LIMITS.maxClaimPathChars;
/** Most alternatives a `{a,b}` expansion may produce. */
const MAX_ALTERNATIVES = 16;
/** Most automaton steps (tokens, over all alternatives) one claim path compiles to. */
export const MAX_GLOB_TOKENS = 1024;
/**
 * Most wildcards (`*`, `**`, `?`, `[…]`, over all alternatives) in one claim
 * path. Real claims use a handful (`src/**` + `/*.{ts,tsx}`: 4); each one
 * multiplies the states an overlap test with another glob can visit.
 */
export const MAX_GLOB_WILDCARDS = 32;
/**
 * Most steps of glob matching one request may take: a plain path against a
 * plain path is one step, a search of two globs' automata 20 plus one per
 * product state visited and character set compared. A step is 10-120 ns on
 * our (busy) 2-core machines, so a request stops within a few ms: e.g. 100
 * plain paths against 1,000 claims, or 30 requested globs against 100 globs.
 */
export const MAX_GLOB_WORK = 100_000;
/** What one search of two automata costs before its first state (its buffers). */
const SEARCH_STEPS = 20;

/**
 * The glob matching work one request may still do. Shared by every overlap
 * test the request makes; {@linkcode claimsOverlap} throws `E_BAD_FIELD`
 * once it is spent.
 *
 * @example
 * ```ts
 * const budget = new GlobBudget();
 * claimsOverlap("src/**", "src/a.ts", budget); // true
 * budget.spent; // 7
 * ```
 */
export class GlobBudget {
  readonly limit: number;
  spent = 0;

  constructor(limit = MAX_GLOB_WORK) {
    this.limit = limit;
  }

  /** Counts `n` more steps; throws `E_BAD_FIELD` past the limit. */
  spend(n: number): void {
    this.spent += n;
    if (this.spent > this.limit) {
      throw new IpcError(
        "E_BAD_FIELD",
        `Matching these claim paths against the claims held here needs more than ` +
          `${this.limit} steps of glob matching, the limit of one request: claim fewer ` +
          `or simpler globs (fewer "**", "*" and "{a,b}")`,
        { limit: this.limit },
      );
    }
  }
}

/** Folds runs of `**` segments into one (`a/**` + `/**` + `/b` is `a/**` + `/b`): same files, less work. */
export function foldGlobstars(path: string): string {
  if (!path.includes("**/**")) return path;
  const out: string[] = [];
  for (const seg of path.split("/")) {
    if (seg === "**" && out[out.length - 1] === "**") continue;
    out.push(seg);
  }
  return out.join("/");
}

/**
 * Throws `E_PATH_ESCAPE` unless `path` is a clean relative path inside its
 * root (no `..`, no leading `/`, no empty or `.` segment) and `E_BAD_FIELD`
 * when it is too long, holds a control character, expands to more than 16
 * alternatives, has more than {@linkcode MAX_GLOB_WILDCARDS} wildcards or
 * compiles to more than {@linkcode MAX_GLOB_TOKENS} steps.
 * Returns the path with runs of `**` segments folded into one.
 *
 * @example
 * ```ts
 * checkClaimPath("src/**"); // "src/**"
 * checkClaimPath("src/**" + "/**" + "/a.ts"); // "src/**" + "/a.ts"
 * checkClaimPath("../etc"); // throws E_PATH_ESCAPE
 * ```
 */
export function checkClaimPath(path: string): string {
  if (path.length === 0 || path.length > MAX_CLAIM_PATH) {
    throw new IpcError("E_BAD_FIELD", `A claim path must be 1 to ${MAX_CLAIM_PATH} characters`);
  }
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u001f]/.test(path)) {
    throw new IpcError(
      "E_BAD_FIELD",
      `Claim path ${JSON.stringify(path)} holds a control character`,
    );
  }
  if (path.startsWith("/") || /^[A-Za-z]:/.test(path)) {
    throw new IpcError(
      "E_PATH_ESCAPE",
      `Claim path "${path}" is absolute: give it relative to the repository root`,
    );
  }
  for (const seg of path.split("/")) {
    if (seg === "..") {
      throw new IpcError("E_PATH_ESCAPE", `Claim path "${path}" leaves the repository root`);
    }
    if (seg === "" || seg === ".") {
      throw new IpcError(
        "E_PATH_ESCAPE",
        `Claim path "${path}" is not normalised (empty or "." segment)`,
      );
    }
  }
  const folded = foldGlobstars(path);
  if (isGlob(folded)) {
    const alternatives = expandBraces(folded);
    if (alternatives === null) {
      throw new IpcError(
        "E_BAD_FIELD",
        `Claim path "${path}" expands to more than ${MAX_ALTERNATIVES} alternatives`,
        { limit: MAX_ALTERNATIVES },
      );
    }
    const compiledAlternatives = alternatives.map(compile);
    const tokens = compiledAlternatives.reduce((n, t) => n + t.length + 1, 0);
    const wildcards = compiledAlternatives.reduce(
      (n, t) => n + t.filter((k) => k.kind !== "char" || k.set.kind !== "lit").length,
      0,
    );
    if (wildcards > MAX_GLOB_WILDCARDS) {
      throw new IpcError(
        "E_BAD_FIELD",
        `Claim path "${path}" has ${wildcards} wildcards over its alternatives, at most ` +
          `${MAX_GLOB_WILDCARDS}`,
        { limit: MAX_GLOB_WILDCARDS },
      );
    }
    if (tokens > MAX_GLOB_TOKENS) {
      throw new IpcError(
        "E_BAD_FIELD",
        `Claim path "${path}" is too complex a glob: ${tokens} steps over its alternatives, ` +
          `at most ${MAX_GLOB_TOKENS}`,
        { limit: MAX_GLOB_TOKENS },
      );
    }
  }
  return folded;
}

/** True when `path` uses glob syntax (else it is a plain path, covering what is below it). */
export function isGlob(path: string): boolean {
  return /[*?[{\\]/.test(path);
}

// --- automata ----------------------------------------------------------------

/** A set of characters: a literal, any but `/`, or a class. */
type CharSet =
  | { kind: "lit"; c: string }
  | { kind: "any" }
  | { kind: "class"; ranges: [number, number][]; negated: boolean };

/** One step of a pattern. */
type Token =
  | { kind: "char"; set: CharSet }
  | { kind: "star" } // any run of non-`/` characters
  | { kind: "dirs" } // `**/`: nothing, or a run of characters ending in `/`
  | { kind: "tail" } // trailing `**`: any run of characters
  | { kind: "subtree" }; // after a plain path: nothing, or `/` and anything

function has(set: CharSet, code: number): boolean {
  if (code === 47) return set.kind === "lit" && set.c === "/";
  switch (set.kind) {
    case "lit":
      return set.c.codePointAt(0) === code;
    case "any":
      return true;
    case "class": {
      const inside = set.ranges.some(([lo, hi]) => code >= lo && code <= hi);
      return inside !== set.negated;
    }
  }
}

type ClassSet = { ranges: [number, number][]; negated: boolean };

/** Whether some character is in both sets (`any` and classes never hold `/`). */
function meet(a: CharSet, b: CharSet): boolean {
  if (a.kind === "lit") return has(b, a.c.codePointAt(0)!);
  if (b.kind === "lit") return has(a, b.c.codePointAt(0)!);
  if (a.kind === "any" && b.kind === "any") return true;
  if (a.kind === "any" || b.kind === "any") {
    const other = (a.kind === "any" ? b : a) as ClassSet;
    return other.negated || other.ranges.some(([lo, hi]) => hi > lo || lo !== 47);
  }
  const [x, y] = [a, b] as ClassSet[];
  if (x.negated && y.negated) return true;
  if (!x.negated && !y.negated) {
    return x.ranges.some(([l1, h1]) => y.ranges.some(([l2, h2]) => l1 <= h2 && l2 <= h1));
  }
  // One positive, one negated: a character of the positive ranges outside the negated ones.
  const pos = x.negated ? y : x;
  const neg = x.negated ? x : y;
  for (const [lo, hi] of pos.ranges) {
    let c = lo;
    while (c <= hi) {
      const cover = neg.ranges.find(([l, h]) => c >= l && c <= h);
      if (cover) c = cover[1] + 1;
      else if (c === 47) c++;
      else return true;
    }
  }
  return false;
}
/** Expands `{a,b}` alternatives (nested too); null past `max`. */
function expandBraces(p: string, max = MAX_ALTERNATIVES): string[] | null {
  let depth = 0;
  let open = -1;
  for (let i = 0; i < p.length; i++) {
    const c = p[i];
    if (c === "\\") {
      i++;
      continue;
    }
    if (c === "{") {
      if (depth++ === 0) open = i;
    } else if (c === "}" && depth > 0 && --depth === 0) {
      const inner = p.slice(open + 1, i);
      const parts: string[] = [];
      let d = 0;
      let start = 0;
      for (let j = 0; j < inner.length; j++) {
        const ch = inner[j];
        if (ch === "\\") j++;
        else if (ch === "{") d++;
        else if (ch === "}") d--;
        else if (ch === "," && d === 0) {
          parts.push(inner.slice(start, j));
          start = j + 1;
        }
      }
      parts.push(inner.slice(start));
      if (parts.length === 1) continue; // `{x}` is literal
      const head = p.slice(0, open);
      const rest = p.slice(i + 1);
      const out: string[] = [];
      for (const part of parts) {
        const inner = expandBraces(head + part + rest, max);
        if (inner === null) return null;
        out.push(...inner);
        if (out.length > max) return null;
      }
      return out;
    }
  }
  return [p];
}

function parseClass(p: string, at: number): { set: CharSet; next: number } | null {
  let i = at + 1;
  let negated = false;
  if (p[i] === "!" || p[i] === "^") {
    negated = true;
    i++;
  }
  const ranges: [number, number][] = [];
  let first = true;
  while (i < p.length && (p[i] !== "]" || first)) {
    first = false;
    let c = p[i];
    if (c === "\\" && i + 1 < p.length) c = p[++i];
    let lo = c.codePointAt(0)!;
    let hi = lo;
    if (p[i + 1] === "-" && i + 2 < p.length && p[i + 2] !== "]") {
      let e = p[i + 2];
      i += 2;
      if (e === "\\" && i + 1 < p.length) e = p[++i];
      hi = e.codePointAt(0)!;
      if (hi < lo) [lo, hi] = [hi, lo];
    }
    ranges.push([lo, hi]);
    i++;
  }
  if (i >= p.length) return null; // no closing `]`: a literal `[`
  return { set: { kind: "class", ranges, negated }, next: i + 1 };
}

/** Compiles one brace-free pattern. A plain path gets a `/**` tail (it covers its subtree). */
function compile(p: string): Token[] {
  const out: Token[] = [];
  const segs = p.split("/");
  const glob = isGlob(p);
  segs.forEach((seg, si) => {
    const last = si === segs.length - 1;
    if (seg === "**") {
      out.push(last ? { kind: "tail" } : { kind: "dirs" });
      return;
    }
    for (let i = 0; i < seg.length; i++) {
      const c = seg[i];
      if (c === "\\" && i + 1 < seg.length) {
        out.push({ kind: "char", set: { kind: "lit", c: seg[++i] } });
      } else if (c === "*") {
        while (seg[i + 1] === "*") i++;
        out.push({ kind: "star" });
      } else if (c === "?") {
        out.push({ kind: "char", set: { kind: "any" } });
      } else if (c === "[") {
        const cls = parseClass(seg, i);
        if (cls) {
          out.push({ kind: "char", set: cls.set });
          i = cls.next - 1;
        } else out.push({ kind: "char", set: { kind: "lit", c } });
      } else {
        out.push({ kind: "char", set: { kind: "lit", c } });
      }
    }
    if (!last) out.push({ kind: "char", set: { kind: "lit", c: "/" } });
  });
  if (!glob) out.push({ kind: "subtree" });
  return out;
}

/**
 * An automaton state: `i` is the position in the tokens; `inner` is true
 * once a `dirs`, `tail` or `subtree` token has consumed a character.
 */
interface State {
  i: number;
  inner: boolean;
}

type Edge = { set: CharSet; to: State };

const SLASH: CharSet = { kind: "lit", c: "/" };
const ANY_CHAR: CharSet = { kind: "any" };

/** States reachable without consuming (epsilon closure). */
function closure(tokens: Token[], s: State): State[] {
  const out: State[] = [s];
  let st = s;
  // Only a token not yet entered may be skipped; every skippable kind can match nothing.
  while (!st.inner && st.i < tokens.length && tokens[st.i].kind !== "char") {
    st = { i: st.i + 1, inner: false };
    out.push(st);
  }
  return out;
}

/** Consuming edges out of one state; "any character" is `any` (not `/`) or `/`. */
function edges(tokens: Token[], st: State): Edge[] {
  const t = tokens[st.i];
  if (!t) return [];
  const inside = { i: st.i, inner: true };
  switch (t.kind) {
    case "char":
      return [{ set: t.set, to: { i: st.i + 1, inner: false } }];
    case "star":
      return [{ set: ANY_CHAR, to: st }];
    case "tail":
      return [{ set: ANY_CHAR, to: inside }, { set: SLASH, to: inside }];
    case "subtree":
      return st.inner
        ? [{ set: ANY_CHAR, to: inside }, { set: SLASH, to: inside }]
        : [{ set: SLASH, to: inside }];
    case "dirs":
      // The run starts with a non-`/` character; any `/` inside it may end it.
      return st.inner
        ? [
          { set: ANY_CHAR, to: inside },
          { set: SLASH, to: inside },
          { set: SLASH, to: { i: st.i + 1, inner: false } },
        ]
        : [{ set: ANY_CHAR, to: inside }];
  }
}

function accepts(tokens: Token[], st: State): boolean {
  if (st.i === tokens.length) return true;
  const t = tokens[st.i].kind;
  return st.inner && (t === "tail" || t === "subtree");
}

/** An automaton with numbered states (`i * 2 + inner`), closures and edges precomputed. */
interface Nfa {
  size: number;
  closure: number[][];
  edges: { set: CharSet; to: number }[][];
  accept: Uint8Array;
}

const num = (st: State) => st.i * 2 + (st.inner ? 1 : 0);

function toNfa(tokens: Token[]): Nfa {
  const size = (tokens.length + 1) * 2;
  const nfa: Nfa = { size, closure: [], edges: [], accept: new Uint8Array(size) };
  for (let n = 0; n < size; n++) {
    const st = { i: n >> 1, inner: (n & 1) === 1 };
    nfa.closure.push(closure(tokens, st).map(num));
    nfa.edges.push(edges(tokens, st).map((e) => ({ set: e.set, to: num(e.to) })));
    if (accepts(tokens, st)) nfa.accept[n] = 1;
  }
  return nfa;
}

/** The cost of comparing two character sets (classes compare range by range). */
function meetCost(a: CharSet, b: CharSet): number {
  return (a.kind === "class" ? a.ranges.length : 1) * (b.kind === "class" ? b.ranges.length : 1);
}

/** Product spaces up to this many states are marked in a byte array, larger ones in a set. */
const DENSE_STATES = 1 << 22;

function overlapNfa(a: Nfa, b: Nfa, budget: GlobBudget): boolean {
  // A byte per product state would be a.size * b.size bytes (a megabyte for two long globs,
  // zeroed first, charged to the budget): past 4 MiB the visited states go in a set.
  const space = a.size * b.size;
  const dense = space <= DENSE_STATES ? new Uint8Array(space) : null;
  const sparse = dense ? null : new Set<number>();
  const queue: number[] = [];
  let work = SEARCH_STEPS + (dense ? space >> 12 : 0);
  const push = (x: number, y: number) => {
    for (const cx of a.closure[x]) {
      for (const cy of b.closure[y]) {
        work++;
        const k = cx * b.size + cy;
        if (dense) {
          if (dense[k]) continue;
          dense[k] = 1;
        } else {
          if (sparse!.has(k)) continue;
          sparse!.add(k);
        }
        queue.push(k);
      }
    }
  };
  try {
    push(0, 0);
    for (let head = 0; head < queue.length; head++) {
      // Settle the count now and then, so a spent budget stops the search early.
      if (work > 1000) {
        budget.spend(work);
        work = 0;
      }
      const x = Math.floor(queue[head] / b.size);
      const y = queue[head] % b.size;
      if (a.accept[x] && b.accept[y]) return true;
      for (const ex of a.edges[x]) {
        for (const ey of b.edges[y]) {
          work += meetCost(ex.set, ey.set);
          if (meet(ex.set, ey.set)) push(ex.to, ey.to);
        }
      }
    }
    return false;
  } finally {
    budget.spend(work);
  }
}

/** The characters before the first glob character (unescaped), and whether that is all. */
type Prefix = { prefix: string; whole: boolean };

const prefixes = new Map<string, Prefix>();

function literalPrefix(p: string): Prefix {
  let r = prefixes.get(p);
  if (r === undefined) {
    const at = p.search(/[*?[{\\]/);
    r = at < 0 ? { prefix: p, whole: true } : { prefix: p.slice(0, at), whole: false };
    if (prefixes.size > 10_000) prefixes.clear();
    prefixes.set(p, r);
  }
  return r;
}

const compiled = new Map<string, Nfa[] | null>();

/**
 * How far past the claim-time limits a stored path (from an older version,
 * which checked less) is still compiled: its matching counts against the
 * budget like any other. Past this it overlaps everything under its prefix.
 */
const STORED_SLACK = 4;

/** The automata of `p`'s alternatives; null when it is far past the limits. */
function compileAll(p: string, budget: GlobBudget): Nfa[] | null {
  let c = compiled.get(p);
  if (c === undefined) {
    const folded = foldGlobstars(p);
    const alternatives = expandBraces(folded, MAX_ALTERNATIVES * STORED_SLACK);
    const tokens = alternatives?.map(compile) ?? null;
    const size = tokens?.reduce((n, t) => n + t.length + 1, 0) ?? Infinity;
    c = size > MAX_GLOB_TOKENS * STORED_SLACK ? null : tokens!.map(toNfa);
    budget.spend(Math.min(size, MAX_GLOB_TOKENS * STORED_SLACK)); // (compiled once, then cached)
    if (compiled.size > 10_000) compiled.clear();
    compiled.set(p, c);
  }
  return c;
}

/**
 * True when some path matches both claim paths `a` and `b` (see the module
 * doc for the syntax; a plain path covers its subtree). The work counts
 * against `budget` (by default one of its own): past it, `E_BAD_FIELD`.
 * A stored path far past the limits of {@linkcode checkClaimPath} overlaps
 * everything under its literal prefix.
 *
 * @example
 * ```ts
 * claimsOverlap("src/**", "src/a.ts"); // true
 * claimsOverlap("src/*.ts", "src/x/**"); // false
 * ```
 */
export function claimsOverlap(a: string, b: string, budget = new GlobBudget()): boolean {
  budget.spend(1);
  if (a === b) return true;
  // Cheap answers first: most claims are plain paths, or globs under different directories.
  const pa = literalPrefix(a);
  const pb = literalPrefix(b);
  if (pa.whole && pb.whole) {
    return a.length > b.length
      ? a.charCodeAt(b.length) === 47 && a.startsWith(b)
      : b.charCodeAt(a.length) === 47 && b.startsWith(a);
  }
  if (!pa.prefix.startsWith(pb.prefix) && !pb.prefix.startsWith(pa.prefix)) return false;
  const xs = compileAll(a, budget);
  const ys = compileAll(b, budget);
  if (xs === null || ys === null) return true;
  for (const x of xs) {
    for (const y of ys) if (overlapNfa(x, y, budget)) return true;
  }
  return false;
}
