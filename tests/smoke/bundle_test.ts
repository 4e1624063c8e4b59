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
