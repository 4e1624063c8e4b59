import assert from "node:assert/strict";
import { isAlive } from "../lib/process_alive.ts";

Deno.test("isAlive: this process is alive; a child that exited (and was reaped) is not", async () => {
  assert.equal(await isAlive(Deno.pid), true);
  const child = new Deno.Command("true", { stdout: "null", stderr: "null" }).spawn();
  await child.status;
  assert.equal(await isAlive(child.pid), false);
});
