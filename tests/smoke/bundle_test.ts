/**
 * `deno bundle` turns main.ts into one self-contained file that runs: the
 * fast part of the smoke suite (`deno task smoke` runs the full checks).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { VERSION } from "../../lib/version.ts";
import { bundleImports, bundleProgram, bundleVersion } from "./_smoke.ts";

Deno.test("deno bundle makes one file that prints the version offline", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ipc-bundle-test-" });
  try {
    const output = join(dir, "agent-ipc.js");
    await bundleProgram(output, dir);
    const entries = [];
    for await (const entry of Deno.readDir(dir)) entries.push(entry.name);
    assert.deepEqual(entries, ["agent-ipc.js"]);
    assert.equal(await bundleVersion(output, dir), `agent-ipc ${VERSION}`);
    // The console page's files are inlined (text imports): the longest line of
    // each without quotes (but ") or backslashes is in the bundle.
    const bundle = await Deno.readTextFile(output);
    for (const file of ["index.html", "app.css", "app.js", "favicon.svg"]) {
      const text = await Deno.readTextFile(new URL(`../../lib/web/page/${file}`, import.meta.url));
      const plain = text.split("\n").filter((l) => !/['`\\$]/.test(l));
      const longest = plain.reduce((a, l) => (l.length > a.length ? l : a), "");
      const escaped = longest.replaceAll('"', '\\"');
      assert.ok(longest.length > 20, file);
      assert.ok(bundle.includes(longest) || bundle.includes(escaped), `${file} is in the bundle`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bundleImports finds static and dynamic imports, not ones in comments", () => {
  const text = [
    `import { join } from "node:path";`,
    `import "npm:side-effect@1.0.0";`,
    `export { x } from "./x.js";`,
    `  const m = await import("node:crypto");`,
    ` * import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv';`,
    `// import("ajv")`,
    `  const s = "import of nothing";`,
  ].join("\n");
  assert.deepEqual(bundleImports(text), [
    "node:path",
    "npm:side-effect@1.0.0",
    "./x.js",
    "node:crypto",
  ]);
});
