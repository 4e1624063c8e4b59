/** Claim paths: the overlap of two paths or globs, table by table, both ways round. */

import assert from "node:assert/strict";
import {
  checkClaimPath,
  claimsOverlap,
  GlobBudget,
  MAX_GLOB_WORK,
} from "../../lib/protocol/globs.ts";
import { IpcError } from "../../lib/protocol/errors.ts";

const OVERLAP: [string, string][] = [
  ["src/a.ts", "src/a.ts"],
  ["src", "src/a.ts"], // a plain path covers its subtree
  ["src", "src/x/y/z.ts"],
  ["src/**", "src/a.ts"],
  ["src/**", "src/x/y/z.ts"],
  ["src/**", "src"],
  ["**", "README.md"],
  ["**/*.ts", "a.ts"],
  ["**/*.ts", "src/x/a.ts"],
  ["src/*.ts", "src/a.ts"],
  ["src/*.ts", "src/*"],
  ["src/*.ts", "src/a.*"],
  ["src/*.ts", "*/*.ts"],
  ["src/*.ts", "src/**/*.ts"],
  ["src/**/test.ts", "src/a/b/*.ts"],
  ["src/x/**", "src/*/y.ts"],
  ["a/**/b", "a/b/c"], // a/b/c/b: a plain path covers its subtree
  ["src/?.ts", "src/a.ts"],
  ["src/[abc].ts", "src/b.ts"],
  ["src/[a-c].ts", "src/[c-e].ts"],
  ["src/[!a].ts", "src/b.ts"],
  ["src/[!a].ts", "src/[ab].ts"],
  ["src/{a,b}.ts", "src/b.ts"],
  ["src/{lib,test}/**", "src/test/x.ts"],
  ["a/**/b", "a/b"],
  ["a/**/b", "a/x/y/b"],
  ["**/b", "a/*/b"],
  ["*.md", "README.md"],
  ["docs", "docs/**/*.png"],
  ["src/a.ts", "src/a.ts/**"],
];

const APART: [string, string][] = [
  ["src/a.ts", "src/b.ts"],
  ["src/a.ts", "lib/a.ts"],
  ["src/*.ts", "src/x/**"], // * never crosses a "/"
  ["src/*.ts", "src/x/a.ts"],
  ["src/*.ts", "src/*.js"],
  ["src/*.ts", "lib/**"],
  ["src/**", "lib/**"],
  ["src", "srcx"], // a plain path covers its subtree, not its prefix siblings
  ["src", "src.ts"],
  ["src/?.ts", "src/ab.ts"],
  ["src/[abc].ts", "src/d.ts"],
  ["src/[a-c].ts", "src/[d-f].ts"],
  ["src/[!a].ts", "src/a.ts"],
  ["src/[!a-z].ts", "src/[a-z].ts"],
  ["src/{a,b}.ts", "src/c.ts"],
  ["a/**/b", "a/*.ts"],
  ["src/x/**", "src/*"], // files directly in src vs files below src/x
  ["**/*.ts", "**/*.js"],
  ["*.md", "docs/README.md"],
  ["docs/*", "docs/x/y"],
  ["a/\\*.ts", "a/b.ts"], // an escaped star is a literal
];

Deno.test("claimsOverlap: paths and globs that can name a common file", () => {
  for (const [a, b] of OVERLAP) {
    assert.equal(claimsOverlap(a, b), true, `${a} vs ${b}`);
    assert.equal(claimsOverlap(b, a), true, `${b} vs ${a}`);
  }
});

Deno.test("claimsOverlap: paths and globs that cannot", () => {
  for (const [a, b] of APART) {
    assert.equal(claimsOverlap(a, b), false, `${a} vs ${b}`);
    assert.equal(claimsOverlap(b, a), false, `${b} vs ${a}`);
  }
});

Deno.test("claimsOverlap: a literal star matches only itself", () => {
  assert.equal(claimsOverlap("a/\\*.ts", "a/*.ts"), true);
  assert.equal(claimsOverlap("a/[*].ts", "a/\\*.ts"), true);
});

Deno.test("checkClaimPath: escapes and junk are refused with stable codes", () => {
  for (const p of ["../x", "a/../../b", "/etc/passwd", "C:/x", "a//b", "./a", "a/./b", ""]) {
    assert.throws(() => checkClaimPath(p), (e) => {
      assert.ok(e instanceof IpcError);
      assert.equal(e.code, p === "" ? "E_BAD_FIELD" : "E_PATH_ESCAPE", p);
      return true;
    });
  }
  assert.throws(() => checkClaimPath("a\u0000b"), (e) => (e as IpcError).code === "E_BAD_FIELD");
  assert.throws(
    () => checkClaimPath("x".repeat(513)),
    (e) => (e as IpcError).code === "E_BAD_FIELD",
  );
  assert.equal(checkClaimPath("src/**/*.ts"), "src/**/*.ts");
  assert.equal(checkClaimPath("a..b/c"), "a..b/c");
});

Deno.test("checkClaimPath: every limit is checked when the path is claimed", () => {
  // Runs of ** are folded: the same files, a fraction of the work.
  assert.equal(checkClaimPath("**/**/**/a.js"), "**/a.js");
  assert.equal(checkClaimPath("src/**/**"), "src/**");
  assert.equal(checkClaimPath("**/".repeat(120) + "a.js"), "**/a.js");
  assert.equal(checkClaimPath("a/**/b/**/c"), "a/**/b/**/c");
  const refused = (p: string, limit: RegExp) =>
    assert.throws(() => checkClaimPath(p), (e) => {
      assert.ok(e instanceof IpcError);
      assert.equal(e.code, "E_BAD_FIELD");
      assert.match(e.message, limit);
      return true;
    });
  // 32 alternatives: refused at once (it used to be stored, and fail every later overlap test).
  refused("{a,b}/{c,d}/{e,f}/{g,h}/{i,j}", /more than 16 alternatives/);
  assert.equal(checkClaimPath("{a,b}/{c,d}/{e,f}/{g,h}"), "{a,b}/{c,d}/{e,f}/{g,h}");
  // An automaton past MAX_GLOB_TOKENS steps over its alternatives.
  refused("{a,b}{c,d}{e,f}{g,h}/" + "x".repeat(70) + "*", /at most 1024/);
  // More than 32 wildcards (each multiplies an overlap test's states).
  refused("*a".repeat(33), /33 wildcards over its alternatives, at most 32/);
  refused("{a,b}{c,d}{e,f}{g,h}/" + "*x".repeat(3), /48 wildcards/);
  assert.equal(checkClaimPath("*a".repeat(32)), "*a".repeat(32));
  assert.equal(checkClaimPath("src/**/*.{ts,tsx}"), "src/**/*.{ts,tsx}");
});

Deno.test("claimsOverlap: a stored path that would fail today's checks never throws", () => {
  const old = "{a,b}/{c,d}/{e,f}/{g,h}/{i,j}"; // stored before alternatives were checked at claim time
  assert.equal(claimsOverlap(old, "a/c/e/g/i"), true);
  assert.equal(claimsOverlap(old, "b/d/f/h/j/k.ts"), true);
  assert.equal(claimsOverlap(old, "a/c/e/g/x"), false);
  assert.equal(claimsOverlap(old, "src/**"), false);
  // Far past them: overlaps what is under its literal prefix (the safe side).
  const huge = "x/" + "{a,b}".repeat(10);
  assert.equal(claimsOverlap(huge, "x/q"), true);
  assert.equal(claimsOverlap(huge, "y/q"), false);
});

Deno.test("claimsOverlap: one request's matching work is bounded and refused past MAX_GLOB_WORK", () => {
  const a = "*a".repeat(250);
  const b = "*a".repeat(249) + "*b";
  const budget = new GlobBudget();
  const t0 = performance.now();
  assert.throws(() => claimsOverlap(a, b, budget), (e) => {
    assert.ok(e instanceof IpcError);
    assert.equal(e.code, "E_BAD_FIELD");
    assert.match(e.message, new RegExp(`more than ${MAX_GLOB_WORK} steps`));
    assert.deepEqual(e.details, { limit: MAX_GLOB_WORK });
    return true;
  });
  const ms = performance.now() - t0;
  // It stops soon after the limit (the count is settled every ~1,000 steps).
  assert.ok(budget.spent < MAX_GLOB_WORK + 5_000, `spent ${budget.spent}`);
  assert.ok(ms < 500, `took ${ms} ms`);
  // The budget is shared: many cheap tests add up too.
  const shared = new GlobBudget(1_000);
  for (let i = 0; i < 1_000; i++) claimsOverlap(`a/${i}`, `b/${i}`, shared);
  assert.throws(
    () => claimsOverlap("a", "b", shared),
    (e) => (e as IpcError).code === "E_BAD_FIELD",
  );
  // Ordinary pairs are cheap: 10,000 checks of a glob against a file well within one budget.
  const ordinary = new GlobBudget();
  for (let i = 0; i < 1_000; i++) {
    claimsOverlap(`src/m${i % 50}/**/*.ts`, `src/m${i % 7}/a.ts`, ordinary);
  }
  assert.ok(ordinary.spent < MAX_GLOB_WORK / 2, `spent ${ordinary.spent}`);
});
