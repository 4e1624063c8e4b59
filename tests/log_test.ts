import assert from "node:assert/strict";
import { throttle } from "../lib/log.ts";

Deno.test("throttle lets one report through per interval and counts the rest", async () => {
  const gate = throttle(50);
  const reports: number[] = [];
  for (let i = 0; i < 100; i++) gate((n) => reports.push(n));
  assert.deepEqual(reports, [0]);
  await new Promise((r) => setTimeout(r, 60));
  gate((n) => reports.push(n));
  assert.deepEqual(reports, [0, 99]);
});
