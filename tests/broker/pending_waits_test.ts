/**
 * Blocked `wait` and `wait_reply` against an in-process broker (issue 24,
 * item 4): a message touches only the waits it can satisfy (no store query
 * for every pending `wait_reply` of its recipient), pending waits are capped
 * per session and per process with E_LIMIT, and a connection that closes
 * ends its waits and frees its slot at once.
 */
import assert from "node:assert/strict";
import { RawClient, testBroker } from "../_helpers.ts";
import { waitFor } from "../_wait.ts";
import { LIMITS } from "../../lib/defaults.ts";
import { openSqliteStore } from "../../lib/state/sqlite_store.ts";

const opts = { sanitizeOps: true, sanitizeResources: true };

async function registered(port: number, auth: (n: string) => string, name: string) {
  const c = await RawClient.connect(port);
  const r = await c.request({ action: "register", instance_id: name, auth_token: auth(name) });
  assert.equal(r.status, "ok", JSON.stringify(r));
  return c;
}

Deno.test(
  "an ordinary message runs no query for its recipient's pending wait_reply",
  opts,
  async () => {
    const dir = await Deno.makeTempDir();
    const real = await openSqliteStore(`${dir}/agent-ipc.db`);
    let lookups = 0;
    const counted = new Proxy(real, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver);
        if (prop !== "findReply") return typeof v === "function" ? v.bind(target) : v;
        return (...args: Parameters<typeof real.findReply>) => {
          lookups++;
          return real.findReply(...args);
        };
      },
    });
    await using tb = await testBroker({ dataDir: dir, openedStore: counted });
    using _cleanup = { [Symbol.dispose]: () => Deno.removeSync(dir, { recursive: true }) };
    await using ann = await registered(tb.port, tb.auth, "ann");
    await using ben = await registered(tb.port, tb.auth, "ben");
    const asks = 200;
    const questions: string[] = [];
    for (let i = 0; i < asks; i++) {
      const q = await ann.request({ action: "send", to_id: "ben", message: { content: `q${i}` } });
      questions.push(q.message_id as string);
    }
    for (let i = 0; i < asks; i++) {
      await ann.send({
        id: `w${i}`,
        action: "wait_reply",
        message_id: questions[i],
        timeout_ms: 60_000,
      });
    }
    await waitFor(() => tb.broker.service.waiters.size === asks, {
      what: "every wait_reply parked",
    });
    const before = lookups;
    for (let i = 0; i < 150; i++) {
      const r = await ben.request({ action: "send", to_id: "ann", message: { content: `m${i}` } });
      assert.equal(r.status, "ok");
    }
    // Before: every message woke all 200, each re-registered and queried (30,000 queries).
    assert.equal(lookups - before, 0, "queries for 150 ordinary messages");
    assert.equal(tb.broker.service.waiters.size, asks);

    // A reply wakes its own wait_reply only: one query, one answer.
    const r = await ben.request({
      action: "reply",
      message_id: questions[7],
      message: { content: "a7" },
    });
    assert.equal(r.status, "ok", JSON.stringify(r));
    const answered = await ann.next();
    assert.equal(answered?.id, "w7");
    assert.equal(answered?.timed_out, false);
    assert.equal(lookups - before, 1);
    assert.equal(tb.broker.service.waiters.size, asks - 1);
  },
);

Deno.test(
  "pending waits are capped per session with E_LIMIT; wait and wait_reply count together",
  opts,
  async () => {
    await using tb = await testBroker();
    await using ann = await registered(tb.port, tb.auth, "ann");
    await using ben = await registered(tb.port, tb.auth, "ben");
    const cap = LIMITS.maxWaitsPerSession;
    const q = await ann.request({ action: "send", to_id: "ben", message: { content: "q" } });
    for (let i = 0; i < cap - 10; i++) {
      await ann.send({
        id: `r${i}`,
        action: "wait_reply",
        message_id: q.message_id,
        timeout_ms: 60_000,
      });
    }
    await waitFor(() => tb.broker.service.waiters.size === cap - 10, { what: "wait_reply parked" });
    for (let i = 0; i < 20; i++) {
      await ann.send({ id: `w${i}`, action: "wait", timeout_ms: 60_000 });
    }
    // The ten over the cap answer at once, with E_LIMIT and the limit.
    const refused: Record<string, unknown>[] = [];
    for (let i = 0; i < 10; i++) refused.push((await ann.next())!);
    for (const r of refused) {
      assert.equal(r.code, "E_LIMIT", JSON.stringify(r));
      assert.equal(r.limit, cap);
      assert.equal(r.scope, "session");
      assert.match(String(r.id), /^w1\d$/, "the last ten (plain waits) are refused");
    }
    assert.equal(tb.broker.service.waiters.size, cap);
    // Another session is not affected.
    const other = await ben.request({ action: "wait", timeout_ms: 10 });
    assert.equal(other.status, "ok", JSON.stringify(other));
    // Once one answers, a slot is free again.
    await ben.request({
      action: "send",
      to_id: "ann",
      message: { content: "wake the plain waits" },
    });
    for (let i = 0; i < 10; i++) assert.equal((await ann.next())?.status, "ok");
    const again = await ann.request({ action: "wait", timeout_ms: 10 });
    assert.equal(again.status, "ok", JSON.stringify(again));
  },
);

Deno.test("pending waits are capped per process across its sessions", opts, async () => {
  await using tb = await testBroker();
  const per = LIMITS.maxWaitsPerSession;
  const full = LIMITS.maxWaitsPerPeer / per;
  const clients: RawClient[] = [];
  try {
    for (let s = 0; s <= full; s++) clients.push(await registered(tb.port, tb.auth, `p${s}`));
    for (const c of clients.slice(0, full)) {
      for (let i = 0; i < per; i++) await c.send({ id: i, action: "wait", timeout_ms: 60_000 });
    }
    await waitFor(() => tb.broker.service.waiters.size === LIMITS.maxWaitsPerPeer, {
      what: "the process's share of waits parked",
    });
    // A fresh session of the same process, under its own cap, is over the process's.
    const last = clients[full];
    for (let i = 0; i < 10; i++) await last.send({ id: i, action: "wait", timeout_ms: 60_000 });
    for (let i = 0; i < 10; i++) {
      const r = await last.next();
      assert.equal(r?.code, "E_LIMIT", JSON.stringify(r));
      assert.equal(r?.scope, "process");
      assert.equal(r?.limit, LIMITS.maxWaitsPerPeer);
    }
    assert.equal(tb.broker.service.waiters.size, LIMITS.maxWaitsPerPeer);
  } finally {
    for (const c of clients) c.close();
  }
  await waitFor(() => tb.broker.service.waiters.size === 0, { what: "the waits to end" });
});

Deno.test("closed connections end their waits and free their slots at once", opts, async () => {
  // 8 slots: the first 4 are let in freely; past them one process holds at most 2.
  await using tb = await testBroker({ maxConnections: 8 });
  const clients: RawClient[] = [];
  for (let i = 0; i < 4; i++) {
    const c = await registered(tb.port, tb.auth, `w${i}`);
    clients.push(c);
    if (i % 2 === 0) await c.send({ id: 1, action: "wait", timeout_ms: 300_000 });
    else {
      const q = await c.request({ action: "send", to_id: "zed", message: { content: "q" } });
      await c.send({ id: 1, action: "wait_reply", message_id: q.message_id, timeout_ms: 300_000 });
    }
  }
  await waitFor(() => tb.broker.service.waiters.size === 4, { what: "four waits parked" });
  for (const c of clients) c.close();
  await waitFor(() => tb.broker.service.waiters.size === 0, {
    what: "the closed connections' waits to end",
    timeout: 3000,
  });
  assert.equal(tb.broker.service.waitQuota.pending, 0);
  // Their slots are free: a new connection of this process gets in (it got
  // E_BUSY while the dead connections held them for 300 s).
  await waitFor(async () => {
    await using fresh = await RawClient.connect(tb.port);
    const r = await fresh.request({ action: "ping" });
    return r.status === "ok";
  }, { what: "a ping on a new connection", timeout: 3000, interval: 100 });
});
