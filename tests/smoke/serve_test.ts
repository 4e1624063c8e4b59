/**
 * The smoke suite's source server publishes main.ts and lib/ only, and
 * refuses every path that leaves them.
 */

import assert from "node:assert/strict";
import { servedPath, serveSources } from "./_smoke.ts";

Deno.test("servedPath publishes main.ts, lib/**/*.ts and the console page only", () => {
  assert.equal(servedPath("/main.ts"), "main.ts");
  assert.equal(servedPath("/lib/web/page/index.html"), "lib/web/page/index.html");
  assert.equal(servedPath("/lib/cli/run.ts"), "lib/cli/run.ts");
  assert.equal(servedPath("/lib/state/_sqlite_schema.ts"), "lib/state/_sqlite_schema.ts");
  for (
    const refused of [
      "/",
      "/deno.json",
      "/deno.lock",
      "/tests/smoke/smoke.ts",
      "/.git/config",
      "/lib/",
      "/lib/../deno.json",
      "/lib/%2e%2e/deno.json",
      "/lib%2f..%2fdeno.json",
      "/lib/./cli/run.ts",
      "/lib//cli/run.ts",
      "/lib/..%5c..%5cetc/passwd.ts",
      "/lib/cli/run.ts%00",
      "/lib/%zz.ts",
      "/main.ts/",
      "/lib/cli/run.js",
      "/lib/web/page/../../deno.json",
      "/lib/cli/page.html",
    ]
  ) {
    assert.equal(servedPath(refused), null, refused);
  }
});

Deno.test("serveSources answers main.ts and refuses the rest over HTTP", async () => {
  await using server = await serveSources();
  const main = await fetch(`${server.url}main.ts`);
  assert.equal(main.status, 200);
  assert.match(main.headers.get("content-type") ?? "", /typescript/);
  assert.match(await main.text(), /runCli/);
  const config = await fetch(`${server.url}deno.json`);
  assert.equal(config.status, 403);
  await config.body?.cancel();
  const missing = await fetch(`${server.url}lib/nothing_here.ts`);
  assert.equal(missing.status, 404);
  await missing.body?.cancel();
  assert.deepEqual([...server.served], ["main.ts"]);
  assert.deepEqual(server.refused, ["/deno.json", "/lib/nothing_here.ts"]);
});
