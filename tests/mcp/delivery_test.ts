import assert from "node:assert/strict";
import type { JSONRPCMessage } from "../../lib/deps.ts";
import { DeliveryLedger, onResponseWritten } from "../../lib/mcp/delivery.ts";

function ledger(fail = { now: false }) {
  const acked: string[][] = [];
  const l = new DeliveryLedger((ids) => {
    if (fail.now) return Promise.reject(new Error("broker gone"));
    acked.push(ids);
    return Promise.resolve();
  });
  return { l, acked, fail };
}

Deno.test("delivery: held ids are hidden and acknowledged only once written", async () => {
  const { l, acked } = ledger();
  l.hold(7, ["a", "b"]);
  assert.ok(l.hidden("a") && l.hidden("b"));
  assert.deepEqual(acked, []);
  l.written(7, true);
  await l.settled();
  assert.deepEqual(acked, [["a", "b"]]);
  assert.equal(l.hidden("a"), false);
  assert.equal(l.pending, 0);
});

Deno.test("delivery: an error response or a cancelled request releases without ack", async () => {
  const { l, acked } = ledger();
  l.hold(1, ["a"]);
  l.written(1, false);
  const abort = new AbortController();
  l.hold("r2", ["b"], abort.signal);
  abort.abort();
  l.written("r2", true); // too late: nothing held any more
  l.hold(3, ["c"], abort.signal); // already cancelled: nothing to hold
  assert.equal(l.hidden("c"), false);
  l.written(3, true);
  await l.settled();
  assert.deepEqual(acked, []);
  assert.equal(l.hidden("a"), false);
  assert.equal(l.hidden("b"), false);
});

Deno.test("delivery: a failed ack keeps the ids hidden and retries", async () => {
  const { l, acked, fail } = ledger();
  fail.now = true;
  l.hold(1, ["a"]);
  l.written(1, true);
  await l.settled();
  assert.ok(l.hidden("a"), "written to the assistant: never shown again");
  fail.now = false;
  await l.flush();
  assert.deepEqual(acked, [["a"]]);
  assert.equal(l.hidden("a"), false);
});

Deno.test("delivery: onResponseWritten reports responses after send resolves, not requests", async () => {
  const order: string[] = [];
  const transport = {
    async send(m: JSONRPCMessage) {
      await new Promise((r) => setTimeout(r, 0)); // the write completes on a later turn
      order.push(`sent ${"id" in m ? m.id : "-"}`);
    },
  };
  onResponseWritten(transport, (id, ok) => order.push(`written ${id} ${ok}`));
  await transport.send({ jsonrpc: "2.0", id: 1, result: {} });
  await transport.send({ jsonrpc: "2.0", id: 2, error: { code: -1, message: "x" } });
  await transport.send({ jsonrpc: "2.0", id: 3, method: "ping" });
  await transport.send({ jsonrpc: "2.0", method: "notifications/x" });
  assert.deepEqual(order, [
    "sent 1",
    "written 1 true",
    "sent 2",
    "written 2 false",
    "sent 3",
    "sent -",
  ]);
});
