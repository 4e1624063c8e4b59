import assert from "node:assert/strict";
import { WaiterRegistry } from "../../lib/broker/waiters.ts";
import { waitFor } from "../_wait.ts";

Deno.test("10,000 waiters with random deadlines expire in deadline order on one timer", async () => {
  const reg = new WaiterRegistry();
  const now = Date.now();
  const settled: number[] = [];
  for (let i = 0; i < 10_000; i++) {
    const deadline = now + 20 + Math.floor(Math.random() * 200);
    reg.add({ name: `n${i % 100}`, deadline, settle: (woken) => !woken && settled.push(deadline) });
  }
  assert.equal(reg.size, 10_000);
  await waitFor(() => settled.length === 10_000, { what: "every deadline" });
  for (let i = 1; i < settled.length; i++) assert.ok(settled[i] >= settled[i - 1]);
  assert.equal(reg.size, 0);
});

Deno.test("wake settles every waiter of a name once; cancel and rename work", () => {
  const reg = new WaiterRegistry();
  const log: string[] = [];
  const far = Date.now() + 60_000;
  reg.add({ name: "a", deadline: far, settle: (w) => log.push(`a1:${w}`) });
  reg.add({ name: "a", deadline: far, settle: (w) => log.push(`a2:${w}`) });
  const cancel = reg.add({ name: "b", deadline: far, settle: (w) => log.push(`b:${w}`) });
  reg.add({ name: "c", deadline: far, settle: (w) => log.push(`c:${w}`) });
  reg.wake("a");
  reg.wake("a");
  cancel();
  reg.wake("b");
  reg.rename("c", "d");
  reg.wake("c");
  assert.deepEqual(log, ["a1:true", "a2:true"]);
  reg.wake("d");
  assert.deepEqual(log, ["a1:true", "a2:true", "c:true"]);
  reg.add({ name: "e", deadline: far, settle: (w) => log.push(`e:${w}`) });
  reg.clear(); // shutdown: settles as timed out, stops the timer
  assert.deepEqual(log.at(-1), "e:false");
});
