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

Deno.test("a reply waiter wakes only for its reply; plain waiters for any message", () => {
  const reg = new WaiterRegistry();
  const log: string[] = [];
  const far = Date.now() + 60_000;
  for (let i = 0; i < 1000; i++) {
    reg.add({ name: "a", replyTo: `q${i}`, deadline: far, settle: (w) => log.push(`q${i}:${w}`) });
  }
  reg.add({ name: "a", deadline: far, settle: (w) => log.push(`any:${w}`) });
  reg.wake("a"); // an ordinary message
  assert.deepEqual(log, ["any:true"]);
  assert.equal(reg.size, 1000);
  reg.wake("a", "q7"); // a reply to q7
  assert.deepEqual(log, ["any:true", "q7:true"]);
  reg.rename("a", "b");
  reg.wake("a", "q8");
  assert.equal(log.length, 2, "moved by the rename");
  reg.wake("b", "q8");
  assert.deepEqual(log.at(-1), "q8:true");
  reg.wakeAll("b"); // a wake-up whose messages are unknown (another broker, older)
  assert.equal(log.length, 1000 + 1);
  assert.equal(reg.size, 0);
  assert.equal(reg.has("b"), false);
  reg.clear(); // stops the deadline timer
});

Deno.test("cancelled waiters do not pile up in the deadline heap", () => {
  const reg = new WaiterRegistry();
  const far = Date.now() + 60_000;
  // Cancel-and-retry churn: 100,000 waiters come and go, 10 stay.
  for (let i = 0; i < 10; i++) reg.add({ name: "x", deadline: far, settle: () => {} });
  for (let i = 0; i < 100_000; i++) {
    reg.add({ name: "y", replyTo: "q", deadline: far + i, settle: () => {} })();
  }
  assert.equal(reg.size, 10);
  assert.ok(reg.heapLength <= 200, `heap holds ${reg.heapLength} entries for 10 waiters`);
  reg.clear();
});
