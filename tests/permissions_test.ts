import assert from "node:assert/strict";
import { PERMISSION_FLAGS, RUN_FLAGS, V8_FLAGS } from "../lib/permissions.ts";

Deno.test("RUN_FLAGS are the permission flags, then the V8 flags", () => {
  assert.deepEqual(RUN_FLAGS, [...PERMISSION_FLAGS, V8_FLAGS]);
});

// Deno refuses to start with a V8 flag its V8 does not know: a Deno upgrade
// that drops one would stop every broker agent-ipc starts.
Deno.test("this Deno's V8 knows every flag of V8_FLAGS", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", V8_FLAGS, "console.log('ok')"],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, err);
  assert.equal(new TextDecoder().decode(out.stdout).trim(), "ok");
});

Deno.test("`deno task start` and `deno task ipc` run main.ts with RUN_FLAGS", async () => {
  const config = JSON.parse(
    await Deno.readTextFile(new URL("../deno.json", import.meta.url)),
  ) as { tasks: Record<string, string> };
  for (const task of ["start", "ipc"]) {
    const words = config.tasks[task].split(/\s+/);
    for (const flag of RUN_FLAGS) assert.ok(words.includes(flag), `${task} lacks ${flag}`);
  }
});
