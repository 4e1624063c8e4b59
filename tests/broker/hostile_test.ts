/**
 * Hostile input against a live in-process broker: a seeded fuzz run of both
 * framings, frames declaring 4 GiB, HTTP and WebSocket requests on the broker
 * port, a client that never reads its replies, a queue filled to its cap, and
 * messages built to block their recipient's queue (replies too large to read).
 * Unit-sized versions of the chaos suite's scenarios (tests/chaos/).
 */
import assert from "node:assert/strict";
import { AgentClient } from "../../lib/client/agent_client.ts";
import { encodeFrame, framePayload } from "../../lib/protocol/framing.ts";
import { legacyRequest, RawClient, testBroker } from "../_helpers.ts";
import { steady, waitFor } from "../_wait.ts";
import { LIMITS } from "../../lib/defaults.ts";
import { runFuzz } from "../chaos/_fuzz.ts";

const opts = { sanitizeOps: true, sanitizeResources: true };
const enc = new TextEncoder();

async function registered(port: number, auth: (n: string) => string, name: string) {
  const c = await RawClient.connect(port);
  const r = await c.request({ action: "register", instance_id: name, auth_token: auth(name) });
  assert.equal(r.status, "ok", JSON.stringify(r));
  return { c, token: r.session_token as string };
}

Deno.test("fuzz: 3,000 seeded frames in both framings; every reply has a code", opts, async () => {
  await using tb = await testBroker({ idleTimeoutMs: 2_000 });
  const { c: keeper, token: kt } = await registered(tb.port, tb.auth, "keeper");
  const { c: sender } = await registered(tb.port, tb.auth, "sender");
  const { c: fuzzer, token } = await registered(tb.port, tb.auth, "fuzzer");
  try {
    for (let i = 0; i < 5; i++) {
      const r = await sender.request({
        action: "send",
        to_id: "keeper",
        message: { content: `kept ${i} ✓`, data: { i } },
      });
      assert.equal(r.status, "ok");
    }
    const stats = await runFuzz({
      port: tb.port,
      seed: 20261121,
      frames: 3_000,
      maxFrame: 1024 * 1024,
      token,
      auth: tb.auth,
      batch: 100,
      legacyShare: 0.05,
      replyTimeoutMs: 5_000,
    });
    assert.deepEqual(stats.problems, []);
    assert.equal(stats.frames, 3_000);
    assert.ok(stats.legacy > 50 && stats.fatal > 0, JSON.stringify(stats));
    assert.equal(stats.codes.E_INTERNAL, undefined);
    // Still alive, and the fixture's data is intact.
    assert.equal((await keeper.request({ action: "ping" })).message, "pong");
    // Broadcasts and rename notices from the fuzzer's names reach everybody;
    // what "sender" queued must be there, whole and in order.
    type Msg = { id: string; from: string; message: { content: string; data: unknown } };
    const msgs: Msg[] = [];
    for (;;) {
      const got = await keeper.request({ action: "check", limit: 10_000, session_token: kt });
      const batch = got.messages as Msg[];
      if (batch.length === 0) break;
      msgs.push(...batch);
      await keeper.request({ action: "ack", ids: batch.map((m) => m.id) });
    }
    assert.ok(msgs.every((m) => m.from === "sender" || m.from === "system" || m.from[0] === "f"));
    assert.deepEqual(
      msgs.filter((m) => m.from === "sender").map((
        m,
      ) => [m.from, m.message.content, m.message.data]),
      [0, 1, 2, 3, 4].map((i) => ["sender", `kept ${i} ✓`, { i }]),
    );
  } finally {
    keeper.close();
    sender.close();
    fuzzer.close();
  }
});

Deno.test("a frame declaring 4 GiB (or 0, or 16 MiB) is refused at the header", opts, async () => {
  await using tb = await testBroker();
  for (const header of [[0xff, 0xff, 0xff, 0xff], [0, 0, 0, 0], [0x01, 0, 0, 0], [0, 0x10, 0, 1]]) {
    await using c = await RawClient.connect(tb.port);
    await c.write(Uint8Array.from(header));
    const r = await c.next();
    assert.equal(r?.status, "error");
    assert.equal(r?.code, "E_BAD_FRAME");
    assert.match(r?.message as string, /Frame length/);
    assert.equal(await c.closedWithin(2_000), true, "the connection is closed after a bad frame");
  }
  await using ok = await RawClient.connect(tb.port);
  assert.equal((await ok.request({ action: "ping" })).status, "ok");
});

Deno.test("HTTP and WebSocket requests on the broker port get nothing", opts, async () => {
  await using tb = await testBroker();
  const requests = [
    `POST /send HTTP/1.1\r\nHost: 127.0.0.1:${tb.port}\r\nContent-Type: application/json\r\n` +
    `Content-Length: 16\r\n\r\n{"action":"ping"}`,
    `GET / HTTP/1.1\r\nHost: 127.0.0.1:${tb.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
  ];
  for (const req of requests) {
    await using c = await RawClient.connect(tb.port);
    await c.write(req);
    assert.equal(await c.readToEnd(3_000), "", req.split("\r\n")[0]);
  }
  // A browser's fetch and WebSocket fail too.
  await assert.rejects(() =>
    fetch(`http://127.0.0.1:${tb.port}/`, { method: "POST", body: '{"action":"ping"}' })
  );
  const ws = new WebSocket(`ws://127.0.0.1:${tb.port}/`);
  const closed = new Promise((resolve) => ws.addEventListener("close", resolve));
  const outcome = await new Promise<string>((resolve) => {
    ws.onopen = () => resolve("open");
    ws.onerror = () => resolve("error");
    ws.onclose = () => resolve("close");
  });
  assert.notEqual(outcome, "open");
  ws.close();
  await closed;
});

Deno.test(
  "a client that never reads stops being read: the broker buffers a bounded amount",
  opts,
  async () => {
    await using tb = await testBroker();
    await using c = await RawClient.connect(tb.port);
    // 100,000 pings in 2.2 MB chunks, answered by ~6 MB of replies nobody reads.
    const one = encodeFrame({ action: "ping" });
    const chunk = new Uint8Array(one.length * 10_000);
    for (let i = 0; i < 10_000; i++) chunk.set(one, i * one.length);
    let written = 0;
    const writer = (async () => {
      for (let i = 0; i < 100; i++) {
        await c.write(chunk);
        written += chunk.length;
      }
    })().catch(() => {});
    await waitFor(() => written > 0, { what: "the first chunk to go out" });
    await steady(() => written, { quietMs: 300 });
    // The broker stopped reading once its write queue passed its cap, so our
    // writes stalled long before all 22 MB went out.
    assert.ok(written < 100 * chunk.length, `all ${written} bytes were accepted`);
    const status = await legacyRequest(tb.port, { action: "status" });
    assert.equal(status.status, "ok", "others are still served");
    c.close();
    await writer;
  },
);

Deno.test("pipelined waits that answer late cannot pile up without bound", opts, async () => {
  await using tb = await testBroker();
  const { c, token } = await registered(tb.port, tb.auth, "waiter");
  try {
    // 20,000 five-minute waits in one go: no reply bytes accumulate to stop
    // the reading, so only caps bound them: requests in the works per
    // connection, and pending waits per session (the rest: E_LIMIT at once).
    const one = encodeFrame({ action: "wait", timeout_ms: 300_000, session_token: token });
    const all = new Uint8Array(one.length * 20_000);
    for (let i = 0; i < 20_000; i++) all.set(one, i * one.length);
    const writing = c.write(all).catch(() => {});
    let most = 0;
    const keepMost = (n: number) => most = Math.max(most, n);
    const held = () => tb.broker.service.waiters.size;
    const cap = LIMITS.maxWaitsPerSession;
    await waitFor(() => keepMost(held()) >= cap, { what: `${cap} waits taken in` });
    await steady(held, { quietMs: 300, onRead: keepMost });
    assert.equal(most, cap, `${most} waits held at once`);
    assert.equal((await legacyRequest(tb.port, { action: "ping" })).status, "ok");
    c.close();
    await writing;
  } finally {
    c.close();
  }
});

Deno.test("a full queue refuses with E_QUEUE_FULL and drops nothing", opts, async () => {
  await using tb = await testBroker({ queueCap: 5 });
  const { c: a } = await registered(tb.port, tb.auth, "alice");
  const { c: b, token } = await registered(tb.port, tb.auth, "bob");
  try {
    for (let i = 0; i < 5; i++) {
      const r = await a.request({ action: "send", to_id: "bob", message: { content: `m${i}` } });
      assert.equal(r.status, "ok");
    }
    const full = await a.request({ action: "send", to_id: "bob", message: { content: "m5" } });
    assert.equal(full.code, "E_QUEUE_FULL");
    assert.equal(full.to_id, "bob");
    assert.match(full.message as string, /Queue of "bob" is full \(5 messages\)/);
    const large = await a.request({
      action: "send",
      to_id: "bob",
      message: { content: "big ".repeat(5_000) },
    });
    assert.equal(
      large.code,
      "E_QUEUE_FULL",
      "a large message is refused before its file is written",
    );
    const bc = await a.request({ action: "broadcast", message: { content: "all" } });
    assert.deepEqual(bc.missed, ["bob"]);
    const got = await b.request({ action: "check", session_token: token });
    assert.deepEqual(
      (got.messages as { message: { content: string } }[]).map((m) => m.message.content),
      ["m0", "m1", "m2", "m3", "m4"],
    );
    await b.request({ action: "ack", ids: (got.messages as { id: string }[]).map((m) => m.id) });
    const again = await a.request({ action: "send", to_id: "bob", message: { content: "m5" } });
    assert.equal(again.status, "ok", "room again once the recipient acknowledged");
  } finally {
    a.close();
    b.close();
  }
});

Deno.test(
  "big data cannot block a queue: replies stay readable, one message at least",
  opts,
  async () => {
    await using tb = await testBroker();
    const base = { host: "127.0.0.1", port: tb.port, dataDir: tb.dataDir, role: "none" as const };
    await using a = await AgentClient.connect(base);
    await using b = await AgentClient.connect(base);
    await a.register("alice");
    await b.register("bob");
    const big = "x".repeat(900_000);
    for (let i = 0; i < 3; i++) await a.send("bob", `m${i}`, { big });
    await a.send("bob", "small");
    // Together 2.7 MB: more than a client reads in one reply. Before the fix
    // every check failed ("bad reply frame") and bob could never read again.
    const seen: string[] = [];
    for (let round = 0; round < 10 && seen.length < 4; round++) {
      const { messages } = await b.check({ limit: 100 });
      assert.ok(messages.length >= 1);
      for (const m of messages) seen.push(m.message.content);
      await b.ack(messages.map((m) => m.id));
    }
    assert.deepEqual(seen, ["m0", "m1", "m2", "small"]);
  },
);

Deno.test("data whose numbers grow when re-serialised is refused, not queued", opts, async () => {
  await using tb = await testBroker();
  const { c: a, token } = await registered(tb.port, tb.auth, "alice");
  try {
    // 750 KB on the wire, 3.3 MB once the broker writes it back (9e20 -> 21 digits).
    const nums = "[" + Array(150_000).fill("9e20").join(",") + "]";
    const body = `{"id":1,"action":"send","to_id":"carol","session_token":"${token}",` +
      `"message":{"content":"n","data":{"n":${nums}}}}`;
    await a.write(framePayload(enc.encode(body)));
    const r = await a.next();
    assert.equal(r?.code, "E_TOO_LARGE", JSON.stringify(r).slice(0, 300));
    assert.match(r?.message as string, /message\.data/);
    // Broadcast takes the same check.
    const bbody = body.replace('"action":"send","to_id":"carol"', '"action":"broadcast"');
    await a.write(framePayload(enc.encode(bbody)));
    assert.equal((await a.next())?.code, "E_TOO_LARGE");
    const carol = await legacyRequest(tb.port, {
      action: "register",
      instance_id: "carol",
      auth_token: tb.auth("carol"),
    });
    assert.equal(carol.queued, 0, "nothing unreadable was queued");
  } finally {
    a.close();
  }
});

Deno.test("legacy check replies fit 64 KiB of bytes, not of characters", opts, async () => {
  await using tb = await testBroker();
  const { c: a } = await registered(tb.port, tb.auth, "alice");
  try {
    const data = { t: "漢".repeat(10_000) }; // 10,000 characters, 30,000 bytes
    for (let i = 0; i < 5; i++) {
      const r = await a.request({
        action: "send",
        to_id: "old",
        message: { content: `c${i}`, data },
      });
      assert.equal(r.status, "ok");
    }
    const reg = await legacyRequest(tb.port, {
      action: "register",
      instance_id: "old",
      auth_token: tb.auth("old"),
    });
    const seen: string[] = [];
    for (let round = 0; round < 10 && seen.length < 5; round++) {
      await using c = await RawClient.connect(tb.port);
      await c.write(JSON.stringify({ action: "check", session_token: reg.session_token }));
      const text = await c.readToEnd();
      const bytes = enc.encode(text).length;
      // The original client reads once, at most 64 KiB; the broker acks what it wrote.
      assert.ok(bytes < 65_536, `legacy reply of ${bytes} bytes`);
      for (const m of JSON.parse(text).messages) {
        assert.deepEqual(m.message.data, data);
        seen.push(m.message.content);
      }
      // Cleared once the reply was written: the next check starts after the ack.
      const left = 5 - seen.length;
      await waitFor(async () => await tb.broker.store.depth("old") === left, { what: "the ack" });
    }
    assert.deepEqual(seen, ["c0", "c1", "c2", "c3", "c4"]);
  } finally {
    a.close();
  }
});
