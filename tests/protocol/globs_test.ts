/** Claim paths: the overlap of two paths or globs, table by table, both ways round. */

import assert from "node:assert/strict";
import { checkClaimPath, claimsOverlap } from "../../lib/protocol/globs.ts";
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

Deno.test("claimsOverlap: brace explosions are refused", () => {
  const p = "{a,b}{c,d}{e,f}{g,h}{i,j}";
  assert.throws(() => claimsOverlap(p, "x"), (e) => (e as IpcError).code === "E_BAD_FIELD");
});

Deno.test("claimsOverlap: a pathological pair is answered quickly, on the safe side", () => {
  const a = ("*" + "a".repeat(30)).repeat(16);
  const b = ("*" + "a".repeat(31)).repeat(16);
  const t0 = performance.now();
  claimsOverlap(a, b);
  claimsOverlap(b, a);
  const ms = performance.now() - t0;
  assert.ok(ms < 1000, `took ${ms} ms`);
  // Ordinary pairs are cheap: 10,000 checks well under a second.
  const t1 = performance.now();
  for (let i = 0; i < 10_000; i++) claimsOverlap(`src/m${i % 50}/**/*.ts`, `src/m${i % 7}/a.ts`);
  assert.ok(performance.now() - t1 < 1000);
});
