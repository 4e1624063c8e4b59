/**
 * Everything the broker keeps survives a restart on the same data dir:
 * sessions (same tokens), queues, renames with their forwarding and cooldown.
 */
import assert from "node:assert/strict";
import { RawClient, testBroker } from "../_helpers.ts";

Deno.test("sessions, queues, renames and forwards survive a broker restart", async () => {
  const dataDir = await Deno.makeTempDir();
  let tokenA: string, tokenB: string;
  {
    await using tb = await testBroker({ dataDir });
    await using a = await RawClient.connect(tb.port);
    await using b = await RawClient.connect(tb.port);
    tokenA = (await a.request({ action: "register", instance_id: "a", auth_token: tb.auth("a") }))
      .session_token as string;
    tokenB = (await b.request({ action: "register", instance_id: "b", auth_token: tb.auth("b") }))
      .session_token as string;
    assert.equal((await b.request({ action: "rename", new_id: "bee" })).status, "ok");
    for (const i of [1, 2, 3]) {
      await a.request({ action: "send", to_id: "bee", message: { content: `m${i}`, data: { i } } });
    }
    await a.request({ action: "send", to_id: "nobody-yet", message: { content: "future" } });
  }
  {
    await using tb = await testBroker({ dataDir });
    await using a = await RawClient.connect(tb.port);
    await using b = await RawClient.connect(tb.port);
    // Same tokens, no re-registration.
    assert.equal((await a.request({ action: "whoami", session_token: tokenA })).instance_id, "a");
    assert.equal((await b.request({ action: "whoami", session_token: tokenB })).instance_id, "bee");
    const q = await b.request({ action: "check" });
    const texts = (q.messages as { message: { content: string } }[]).map((m) => m.message.content);
    assert.deepEqual(texts.slice(-3), ["m1", "m2", "m3"]);
    // Forwarding and the rename cooldown persisted.
    const fwd = await a.request({ action: "send", to_id: "b", message: { content: "x" } });
    assert.equal(fwd.message, "Message forwarded from b to bee");
    assert.equal((await b.request({ action: "rename", new_id: "bea" })).code, "E_RATE_LIMITED");
    // The future queue waits for its owner.
    await using n = await RawClient.connect(tb.port);
    const reg = await n.request({
      action: "register",
      instance_id: "nobody-yet",
      auth_token: tb.auth("nobody-yet"),
    });
    assert.equal(reg.queued, 1);
  }
  await Deno.remove(dataDir, { recursive: true });
});
