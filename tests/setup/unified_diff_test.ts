import assert from "node:assert/strict";
import { unifiedDiff } from "../../lib/setup/unified_diff.ts";

Deno.test("unifiedDiff is empty for equal texts", () => {
  assert.equal(unifiedDiff("a\nb\n", "a\nb\n", "x", "y"), "");
});

Deno.test("unifiedDiff writes hunks with three lines of context", () => {
  const before = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", ""].join("\n");
  const after = ["1", "2", "3", "4", "five", "6", "7", "8", "9", "10", "11", "12", "13", ""].join(
    "\n",
  );
  assert.equal(
    unifiedDiff(before, after, "a.json", "b.json"),
    `--- a.json
+++ b.json
@@ -2,7 +2,7 @@
 2
 3
 4
-5
+five
 6
 7
 8
@@ -10,3 +10,4 @@
 10
 11
 12
+13
`,
  );
});

Deno.test("unifiedDiff merges nearby changes into one hunk and handles new files", () => {
  assert.equal(
    unifiedDiff("a\nb\nc\nd\n", "A\nb\nc\nD\n", "x", "y"),
    "--- x\n+++ y\n@@ -1,4 +1,4 @@\n-a\n+A\n b\n c\n-d\n+D\n",
  );
  assert.equal(
    unifiedDiff("", "{\n}\n", "/dev/null", "y"),
    "--- /dev/null\n+++ y\n@@ -0,0 +1,2 @@\n+{\n+}\n",
  );
  assert.equal(unifiedDiff("x\n", "", "x", "y"), "--- x\n+++ y\n@@ -1 +0,0 @@\n-x\n");
});

Deno.test("unifiedDiff marks a missing final newline", () => {
  assert.equal(
    unifiedDiff("a\nb", "a\nb\n", "x", "y"),
    "--- x\n+++ y\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n",
  );
});
