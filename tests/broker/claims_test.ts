/**
 * The broker's claim rules over the wire: validation codes, all-or-nothing,
 * holders without a session, two brokers on one NATS racing for one file.
 */

import assert from "node:assert/strict";
import { AgentClient } from "../../lib/client/agent_client.ts";
import { IpcError } from "../../lib/protocol/errors.ts";
import { dropExpiredClaims } from "../../lib/broker/claims.ts";
import { RawClient, testBroker } from "../_helpers.ts";
import { NATS_SKIP_REASON, startNatsServer } from "../_nats_server.ts";

function client(port: number, dataDir: string, secret?: string) {
  return AgentClient.connect({ host: "127.0.0.1", port, dataDir, role: "none", secret });
}

async function code(p: Promise<unknown>): Promise<string> {
  const e = await p.then(() => null, (e) => e);
  assert.ok(e instanceof IpcError, `expected an IpcError, got ${e}`);
  return e.code;
}

Deno.test("claim actions: validation codes on the wire", async () => {
  await using b = await testBroker();
  await using raw = await RawClient.connect(b.port);
  const reg = await raw.request({
    action: "register",
    instance_id: "ann",
    auth_token: b.auth("ann"),
  });
  const token = reg.session_token;
  const ask = (body: Record<string, unknown>) => raw.request({ session_token: token, ...body });
  const cases: [Record<string, unknown>, string][] = [
    [{ action: "claim", root: "/r", paths: ["../x"] }, "E_PATH_ESCAPE"],
    [{ action: "claim", root: "/r", paths: ["/etc/passwd"] }, "E_PATH_ESCAPE"],
    [{ action: "claim", root: "/r", paths: ["a//b"] }, "E_PATH_ESCAPE"],
    [{ action: "claim", root: "relative", paths: ["a"] }, "E_BAD_FIELD"],
    [{ action: "claim", paths: ["a"] }, "E_BAD_FIELD"],
    [{ action: "claim", root: "/r", paths: [] }, "E_BAD_FIELD"],
    [{ action: "claim", root: "/r", paths: [1] }, "E_BAD_FIELD"],
    [{ action: "claim", root: "/r", paths: ["a"], ttl_ms: 10 }, "E_BAD_FIELD"],
    [{ action: "claim", root: "/r", paths: ["a"], reason: "x".repeat(201) }, "E_BAD_FIELD"],
    [{ action: "release", paths: ["../a"] }, "E_PATH_ESCAPE"],
    [{ action: "claims", root: "/r", paths: "a" }, "E_BAD_FIELD"],
  ];
  for (const [body, want] of cases) {
    const r = await ask(body);
    assert.equal(r.status, "error", JSON.stringify(body));
    assert.equal(r.code, want, JSON.stringify(body));
  }
  await using fresh = await RawClient.connect(b.port);
  const noSession = await fresh.request({ action: "claims" });
  assert.equal(noSession.code, "E_SESSION");
  const ok = await ask({ action: "claim", root: "/r", paths: ["src/**"], reason: "why" });
  assert.equal(ok.status, "ok");
  assert.deepEqual(
    (ok.claims as Record<string, unknown>[]).map((c) => [c.path, c.holder, c.shared, c.reason]),
    [["src/**", "ann", false, "why"]],
  );
});

Deno.test("claim rules: all or nothing, holders without a session and expiry never block", async () => {
  await using b = await testBroker();
  await using ann = await client(b.port, b.dataDir);
  await using bob = await client(b.port, b.dataDir);
  await ann.register("ann");
  await bob.register("bob");
  await ann.claim("/r", ["src/a.ts"]);
  assert.equal(await code(bob.claim("/r", ["docs/x.md", "src/*"])), "E_CLAIMED");
  assert.deepEqual(await bob.claims("/r", ["docs/x.md"]), []);
  // Overlap filter of `claims`.
  assert.equal((await bob.claims("/r", ["src/a.ts"])).length, 1);
  assert.equal((await bob.claims("/r", ["src/b.ts"])).length, 0);
  assert.equal((await bob.claims("/other")).length, 0);

  // ann's session disappears without an unregister (revoked in the store): no longer blocks.
  const store = b.broker.store;
  assert.equal(await store.removeSession(await sessionHashOf(b, ann)), true);
  await bob.claim("/r", ["src/*"]);
  assert.deepEqual((await bob.claims("/r")).map((c) => c.holder), ["bob"]);

  // A lease runs out on its own: poll, no fixed sleep.
  await using cid = await client(b.port, b.dataDir);
  await cid.register("cid");
  await cid.claim("/r", ["lib/**"], { ttlMs: 1000 });
  assert.equal(await code(bob.claim("/r", ["lib/x.ts"])), "E_CLAIMED");
  const deadline = Date.now() + 5000;
  while ((await bob.claims("/r", ["lib/x.ts"])).length > 0) {
    assert.ok(Date.now() < deadline, "the 1 s claim never expired");
    await new Promise((r) => setTimeout(r, 50));
  }
  await bob.claim("/r", ["lib/x.ts"]);
});

Deno.test("dropExpiredClaims: the upkeep removes expired claims and keeps live ones", async () => {
  await using b = await testBroker();
  const store = b.broker.store;
  const c = (path: string, expiresAt: number) => ({
    root: "/up",
    path,
    holder: "ann",
    shared: false,
    createdAt: 0,
    expiresAt,
  });
  await store.updateClaims("/up", () => ({ next: [c("old", 1_000), c("new", 5_000)], result: 0 }));
  await store.updateClaims("/live", () => ({
    next: [{ ...c("x", 9_000), root: "/live" }],
    result: 0,
  }));
  assert.equal(await dropExpiredClaims(store, 2_000), 1);
  assert.deepEqual((await store.claims()).map((x) => `${x.root}:${x.path}`).sort(), [
    "/live:x",
    "/up:new",
  ]);
  assert.equal(await dropExpiredClaims(store, 2_000), 0);
});

/** The stored session hash of a connected client (through its token and the broker's secret). */
async function sessionHashOf(
  b: Awaited<ReturnType<typeof testBroker>>,
  c: AgentClient,
): Promise<string> {
  const { sessionHash } = await import("../../lib/protocol/auth.ts");
  return sessionHash(c.session!.token, b.secret);
}

Deno.test({
  name: "claims on two brokers sharing NATS: of racing exclusive claims exactly one wins",
  ignore: NATS_SKIP_REASON !== null,
  sanitizeOps: false, // the NATS client keeps timers until its close settles
  sanitizeResources: false,
  async fn() {
    await using nats = await startNatsServer();
    const secret = "two-brokers-claims";
    await using b1 = await testBroker({ store: nats.url, secret });
    await using b2 = await testBroker({ store: nats.url, secret });
    await using ann = await client(b1.port, b1.dataDir, secret);
    await using bob = await client(b2.port, b2.dataDir, secret);
    await ann.register("ann");
    await bob.register("bob");
    for (let i = 0; i < 10; i++) {
      const file = `src/f${i}.ts`;
      const results = await Promise.allSettled([
        ann.claim("/race", [file]),
        bob.claim("/race", [`src/*${i}.ts`]),
      ]);
      const won = results.filter((r) => r.status === "fulfilled").length;
      assert.equal(won, 1, `round ${i}: ${won} winners`);
      const lost = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
      assert.equal((lost.reason as IpcError).code, "E_CLAIMED");
    }
    assert.equal((await ann.claims("/race")).length, 10);
    // Released through one broker: gone in the other's view.
    await ann.release();
    const left = await bob.claims("/race");
    assert.ok(left.every((c) => c.holder === "bob"), JSON.stringify(left));
  },
});
