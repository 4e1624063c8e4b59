/**
 * Every action and every error code over raw frames, against an in-process
 * broker on port 0.
 */
import assert from "node:assert/strict";
import { RawClient, testBroker } from "../_helpers.ts";
import { waitFor } from "../_wait.ts";

const opts = { sanitizeOps: true, sanitizeResources: true };

async function registered(port: number, auth: (n: string) => string, name: string) {
  const c = await RawClient.connect(port);
  const r = await c.request({ action: "register", instance_id: name, auth_token: auth(name) });
  assert.equal(r.status, "ok", JSON.stringify(r));
  return { c, token: r.session_token as string };
}

Deno.test(
  "register, send, check, ack, whoami, list, status, unregister over frames",
  opts,
  async () => {
    await using tb = await testBroker();
    const { c: a, token: ta } = await registered(tb.port, tb.auth, "alice");
    const { c: b, token: tbk } = await registered(tb.port, tb.auth, "bob");
    try {
      assert.match(ta, /^[A-Za-z0-9_-]{43}$/);
      const sent = await a.request({
        id: "s1",
        action: "send",
        to_id: "bob",
        from_id: "mallory", // ignored: identity comes from the session
        message: { content: "hi ✓", data: { n: 1, nested: { ok: true } } },
      });
      assert.equal(sent.id, "s1");
      assert.equal(sent.status, "ok");
      assert.equal(sent.message, "Message sent");
      assert.equal(typeof sent.message_id, "string");

      // check without ack leaves the message queued; ack removes it.
      const c1 = await b.request({ id: 2, action: "check", session_token: tbk });
      assert.equal(c1.id, 2);
      const msgs = c1.messages as Record<string, unknown>[];
      assert.equal(msgs.length, 1);
      assert.equal(msgs[0].from, "alice");
      assert.equal(msgs[0].to, "bob");
      assert.deepEqual(msgs[0].message, { content: "hi ✓", data: { n: 1, nested: { ok: true } } });
      assert.match(msgs[0].timestamp as string, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      const c2 = await b.request({ action: "check", session_token: tbk });
      assert.equal((c2.messages as unknown[]).length, 1, "unacked message comes back");
      const acked = await b.request({ action: "ack", ids: [msgs[0].id, "nope"] });
      assert.equal(acked.acked, 1);
      assert.deepEqual(acked.unknown, ["nope"]);
      const c3 = await b.request({ action: "check" });
      assert.deepEqual(c3.messages, []);

      // check with ack in one step
      await a.request({ action: "send", to_id: "bob", message: { content: "two" } });
      const c4 = await b.request({ action: "check", ack: true });
      assert.equal((c4.messages as unknown[]).length, 1);
      assert.deepEqual((await b.request({ action: "check" })).messages, []);

      const who = await a.request({ action: "whoami" });
      assert.equal(who.instance_id, "alice");
      const list = await a.request({ action: "list" });
      const ids = (list.instances as { id: string; online: boolean }[]).map((
        i,
      ) => [i.id, i.online]);
      assert.deepEqual(ids.sort(), [["alice", true], ["bob", true]]);

      const status = await a.request({ action: "status" });
      const broker = status.broker as Record<string, unknown>;
      assert.equal(broker.port, tb.port);
      assert.equal(broker.pid, Deno.pid);
      assert.equal(broker.store, "sqlite");
      assert.equal((status.instances as unknown[]).length, 2);

      const ping = await a.request({ action: "ping" });
      assert.equal(ping.broker, "agent-ipc");

      const un = await a.request({ action: "unregister", session_token: ta });
      assert.equal(un.status, "ok");
      const after = await a.request({ action: "whoami", session_token: ta });
      assert.equal(after.code, "E_SESSION");
    } finally {
      a.close();
      b.close();
    }
  },
);

Deno.test("wait blocks until a message arrives, and times out empty", opts, async () => {
  await using tb = await testBroker();
  const { c: a } = await registered(tb.port, tb.auth, "alice");
  const { c: b } = await registered(tb.port, tb.auth, "bob");
  try {
    await b.send({ id: "w", action: "wait", timeout_ms: 5000, ack: true });
    await waitFor(() => tb.broker.service.waiters.size === 1, { what: "the wait to park" });
    await a.request({ id: "s", action: "send", to_id: "bob", message: { content: "wake" } });
    const w = await b.next();
    assert.equal(w?.id, "w");
    assert.equal((w?.messages as { message: { content: string } }[])[0].message.content, "wake");
    const t0 = Date.now();
    const empty = await b.request({ action: "wait", timeout_ms: 100 });
    assert.deepEqual(empty.messages, []);
    assert.equal(empty.timed_out, true);
    assert.ok(Date.now() - t0 >= 90);
    // A pipelined send on the same connection is not blocked by that connection's wait.
    await b.send({ id: "w2", action: "wait", timeout_ms: 5000 });
    const pong = await b.request({ id: "p", action: "ping" });
    assert.equal(pong.id, "p");
    await a.request({ action: "send", to_id: "bob", message: { content: "later" } });
    assert.equal((await b.next())?.id, "w2");
  } finally {
    a.close();
    b.close();
  }
});

Deno.test("future delivery, forwarding after rename, broadcast, rename notices", opts, async () => {
  await using tb = await testBroker();
  const { c: a } = await registered(tb.port, tb.auth, "alice");
  const { c: b } = await registered(tb.port, tb.auth, "bob");
  try {
    const fut = await a.request({ action: "send", to_id: "ghost", message: { content: "boo" } });
    assert.equal(fut.message, "Message queued for ghost (not yet registered)");
    assert.equal(fut.queued_for_future, true);
    const g = await RawClient.connect(tb.port);
    const reg = await g.request({
      action: "register",
      instance_id: "ghost",
      auth_token: tb.auth("ghost"),
    });
    assert.equal(reg.message, "Registered ghost with 1 queued messages");
    assert.equal(
      (await g.request({ action: "check", ack: true }) as { messages: unknown[] }).messages.length,
      1,
    );

    const ren = await b.request({ action: "rename", new_id: "bobby" });
    assert.equal(ren.message, "Renamed bob to bobby");
    const fwd = await a.request({ action: "send", to_id: "bob", message: { content: "old name" } });
    assert.equal(fwd.message, "Message forwarded from bob to bobby");
    const notice = await a.request({ action: "check", ack: true });
    const n = (notice.messages as { from: string; message: { content: string } }[])[0];
    assert.equal(n.from, "system");
    assert.equal(n.message.content, "bob renamed to bobby");
    const again = await b.request({ action: "rename", new_id: "robert" });
    assert.equal(again.code, "E_RATE_LIMITED");
    const who = await b.request({ action: "whoami" });
    assert.equal(who.instance_id, "bobby", "the session follows the rename");

    const bc = await g.request({ action: "broadcast", message: { content: "all hands" } });
    assert.equal(bc.message, "Broadcast to 2 instances");
    assert.deepEqual((bc.delivered as string[]).sort(), ["alice", "bobby"]);
    const viaAll = await g.request({ action: "send", to_id: "all", message: { content: "x" } });
    assert.equal(viaAll.message, "Broadcast to 2 instances");
    g.close();
  } finally {
    a.close();
    b.close();
  }
});

Deno.test(
  "every request error has its stable code; the connection stays usable",
  opts,
  async () => {
    await using tb = await testBroker({ queueCap: 2 });
    const { c: a } = await registered(tb.port, tb.auth, "alice");
    const { c: b, token: tb2 } = await registered(tb.port, tb.auth, "bob");
    try {
      const cases: [unknown, string][] = [
        [{ action: "fly" }, "E_UNKNOWN_ACTION"],
        [{ nothing: 1 }, "E_UNKNOWN_ACTION"],
        [{ action: "send", to_id: 5, message: { content: "x" } }, "E_BAD_FIELD"],
        [{ action: "send", to_id: "bob", message: { content: 5 } }, "E_BAD_FIELD"],
        [{ action: "send", to_id: "bob", message: { content: "x", data: [1] } }, "E_BAD_FIELD"],
        [{ action: "send", to_id: "bob", message: 7 }, "E_BAD_FIELD"],
        [{ action: "send", to_id: "bob\n", message: { content: "x" } }, "E_BAD_NAME"],
        [{ action: "send", to_id: "a".repeat(33), message: { content: "x" } }, "E_BAD_NAME"],
        [{ action: "send", to_id: "../etc", message: { content: "x" } }, "E_BAD_NAME"],
        [{ action: "send", to_id: "system", message: { content: "x" } }, "E_RESERVED_NAME"],
        [{ action: "check", limit: -1 }, "E_BAD_FIELD"],
        [{ action: "check", ack: "yes" }, "E_BAD_FIELD"],
        [{ action: "wait", timeout_ms: 1e9 }, "E_BAD_FIELD"],
        [{ action: "ack", ids: "x" }, "E_BAD_FIELD"],
        [{ action: "ack", ids: [1] }, "E_BAD_FIELD"],
        [{ action: "rename" }, "E_BAD_FIELD"],
        [{ action: "rename", new_id: "human" }, "E_RESERVED_NAME"],
        [{ action: "rename", new_id: "alice" }, "E_BAD_FIELD"],
        [{ action: "rename", new_id: "zed", old_id: "bob" }, "E_AUTH"],
        [{ action: "register", instance_id: "x" }, "E_BAD_FIELD"],
        [{ action: "register", instance_id: "x", auth_token: "00" }, "E_AUTH"],
        [{ action: "register", instance_id: "all", auth_token: tb.auth("all") }, "E_RESERVED_NAME"],
        [{ action: "register", instance_id: "bob", auth_token: tb.auth("bob") }, "E_NAME_TAKEN"],
        [
          { action: "send", session_token: "forged", to_id: "bob", message: { content: "x" } },
          "E_SESSION",
        ],
      ];
      for (const [req, code] of cases) {
        const r = await a.request(req as Record<string, unknown>);
        assert.equal(r.status, "error", JSON.stringify(req));
        assert.equal(r.code, code, `${JSON.stringify(req)} -> ${JSON.stringify(r)}`);
        assert.equal(typeof r.message, "string");
      }
      // Payloads that are not JSON objects.
      const enc = new TextEncoder();
      for (
        const [bytes, code] of [
          [new Uint8Array([0xff, 0xfe, 0x7b]), "E_BAD_UTF8"],
          [enc.encode("{not json"), "E_BAD_JSON"],
          [enc.encode("[1,2]"), "E_NOT_OBJECT"],
          [enc.encode("null"), "E_NOT_OBJECT"],
        ] as [Uint8Array, string][]
      ) {
        const f = new Uint8Array(4 + bytes.length);
        new DataView(f.buffer).setUint32(0, bytes.length);
        f.set(bytes, 4);
        await a.write(f);
        const r = await a.next();
        assert.equal(r?.code, code);
      }
      // Queue cap: a clear error, nothing dropped.
      for (const i of [1, 2]) {
        const ok = await a.request({ action: "send", to_id: "bob", message: { content: `m${i}` } });
        assert.equal(ok.status, "ok");
      }
      const full = await a.request({ action: "send", to_id: "bob", message: { content: "m3" } });
      assert.equal(full.code, "E_QUEUE_FULL");
      assert.match(full.message as string, /full \(2 messages\)/);
      const q = await b.request({ action: "check", session_token: tb2 });
      assert.deepEqual(
        (q.messages as { message: { content: string } }[]).map((m) => m.message.content),
        ["m1", "m2"],
      );
      // Still usable after all that.
      assert.equal((await a.request({ action: "whoami" })).instance_id, "alice");
      // No session at all on a fresh connection.
      await using c = await RawClient.connect(tb.port);
      const ns = await c.request({ action: "check" });
      assert.equal(ns.code, "E_SESSION");
      assert.match(ns.message as string, /register/);
    } finally {
      a.close();
      b.close();
    }
  },
);

Deno.test("broken framing closes the connection: length 0, over the cap, HTTP", opts, async () => {
  await using tb = await testBroker({ maxFrame: 4096 });
  {
    await using c = await RawClient.connect(tb.port);
    await c.write(new Uint8Array([0, 0, 0, 0]));
    const r = await c.next();
    assert.equal(r?.code, "E_BAD_FRAME");
    assert.equal(await c.next(), null);
  }
  {
    await using c = await RawClient.connect(tb.port);
    await c.write(new Uint8Array([0xff, 0xff, 0xff, 0xff])); // 4 GB: nothing allocated
    const r = await c.next();
    assert.equal(r?.code, "E_BAD_FRAME");
    assert.match(r?.message as string, /4294967295/);
    assert.equal(await c.next(), null);
  }
  {
    await using c = await RawClient.connect(tb.port);
    await c.write(
      "POST / HTTP/1.1\r\nHost: 127.0.0.1:9876\r\nContent-Type: text/plain\r\n\r\n" +
        '{"action":"register","instance_id":"web","auth_token":"x"}',
    );
    assert.equal(await c.readToEnd(), "", "an HTTP request gets nothing back");
  }
  {
    await using c = await RawClient.connect(tb.port);
    await c.write(
      "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    );
    assert.equal(await c.readToEnd(), "");
  }
  // The broker is fine afterwards.
  await using ok = await RawClient.connect(tb.port);
  assert.equal((await ok.request({ action: "ping" })).status, "ok");
});

Deno.test(
  "a connection that never completes a frame is closed after the idle timeout",
  opts,
  async () => {
    await using tb = await testBroker({ idleTimeoutMs: 200 });
    await using silent = await RawClient.connect(tb.port);
    await using partial = await RawClient.connect(tb.port);
    await partial.write(new Uint8Array([0, 0, 0, 50, 0x7b]));
    await using active = await RawClient.connect(tb.port);
    assert.equal((await active.request({ action: "ping" })).status, "ok");
    assert.equal(await silent.closedWithin(3000), true);
    assert.equal(await partial.closedWithin(3000), true);
    // A connection idle between complete frames is a persistent client: kept.
    assert.equal((await active.request({ action: "ping" })).status, "ok");
  },
);

Deno.test(
  "a second broker on the same data dir fails at once with a clear message",
  opts,
  async () => {
    await using tb = await testBroker();
    await assert.rejects(
      () => testBroker({ dataDir: tb.dataDir }),
      (e: Error) =>
        e.message ===
          `A broker for this data dir is already running on 127.0.0.1:${tb.port} ` +
            `(pid ${Deno.pid}): use IPC_PORT=${tb.port} or --port ${tb.port}`,
    );
  },
);

Deno.test("large messages go to a 0600 file with a summary inline", opts, async () => {
  await using tb = await testBroker();
  const { c: a } = await registered(tb.port, tb.auth, "alice");
  const { c: b } = await registered(tb.port, tb.auth, "bob");
  try {
    const big = "word ".repeat(4000) + "END ü";
    const r = await a.request({ action: "send", to_id: "bob", message: { content: big } });
    assert.equal(r.status, "ok");
    const m = ((await b.request({ action: "check" })).messages as {
      message: { content: string };
      large: { path: string; size: number };
    }[])[0];
    assert.ok(m.large.path.startsWith(`${tb.dataDir}/large-messages/`));
    assert.match(m.large.path, /\/\d{8}T\d{6}Z_alice_bob_[A-Za-z0-9_-]+\.md$/);
    assert.equal(m.large.size, new TextEncoder().encode(big).length);
    assert.ok(m.message.content.length < 400);
    assert.match(m.message.content, /Full content: /);
    const text = await Deno.readTextFile(m.large.path);
    assert.ok(text.endsWith(big));
    assert.match(text, /- From: alice\n- To: bob\n/);
    if (Deno.build.os !== "windows") {
      assert.equal((await Deno.stat(m.large.path)).mode! & 0o777, 0o600);
      assert.equal((await Deno.stat(`${tb.dataDir}/large-messages`)).mode! & 0o777, 0o700);
      assert.equal((await Deno.stat(`${tb.dataDir}/secret`)).mode! & 0o777, 0o600);
    }
  } finally {
    a.close();
    b.close();
  }
});

Deno.test("unregister revokes the session on every connection that showed it", opts, async () => {
  await using tb = await testBroker();
  const { c: a, token } = await registered(tb.port, tb.auth, "alice");
  await using second = await RawClient.connect(tb.port);
  try {
    assert.equal((await second.request({ action: "whoami", session_token: token })).status, "ok");
    assert.equal((await a.request({ action: "unregister" })).status, "ok");
    const after = await second.request({ action: "whoami" });
    assert.equal(after.code, "E_SESSION");
    const withToken = await second.request({ action: "whoami", session_token: token });
    assert.equal(withToken.code, "E_SESSION");
  } finally {
    a.close();
  }
});

Deno.test(
  "per-recipient FIFO holds when large and small messages are pipelined",
  opts,
  async () => {
    await using tb = await testBroker();
    const { c: a } = await registered(tb.port, tb.auth, "alice");
    const { c: b } = await registered(tb.port, tb.auth, "bob");
    try {
      const n = 30;
      for (let i = 0; i < n; i++) {
        const content = i % 3 === 0 ? `${i}:` + "L".repeat(20_000) : `${i}:small`;
        await a.send({ id: i, action: "send", to_id: "bob", message: { content } });
      }
      for (let i = 0; i < n; i++) assert.equal((await a.next())?.status, "ok");
      const got = await b.request({ action: "check", limit: 100 });
      const order = (got.messages as { message: { content: string } }[])
        .map((m) => Number(m.message.content.split(":")[0].replace(/\D.*$/, "")));
      assert.deepEqual(order, Array.from({ length: n }, (_, i) => i));
    } finally {
      a.close();
      b.close();
    }
  },
);

Deno.test("per-recipient FIFO holds across pipelined sends and broadcasts", opts, async () => {
  await using tb = await testBroker();
  const { c: a } = await registered(tb.port, tb.auth, "alice");
  const { c: b } = await registered(tb.port, tb.auth, "bob");
  try {
    const steps: [string, string][] = [
      ["send", "0"],
      ["broadcast", "1"],
      ["send", "2:" + "L".repeat(12_000)],
      ["broadcast", "3:" + "B".repeat(12_000)],
      ["send", "4"],
      ["broadcast", "5"],
      ["send", "6"],
    ];
    for (const [i, [action, content]] of steps.entries()) {
      await a.send({ id: i, action, to_id: "bob", message: { content } });
    }
    for (const _ of steps) assert.equal((await a.next())?.status, "ok");
    const got = await b.request({ action: "check", limit: 100 });
    const order = (got.messages as { message: { content: string } }[])
      .map((m) => m.message.content.split(":")[0]);
    assert.deepEqual(order, ["0", "1", "2", "3", "4", "5", "6"]);
  } finally {
    a.close();
    b.close();
  }
});

Deno.test("a message that lands while wait's first check is in flight wakes it", opts, async () => {
  const { openSqliteStore } = await import("../../lib/state/sqlite_store.ts");
  const dir = await Deno.makeTempDir();
  const real = await openSqliteStore(`${dir}/agent-ipc.db`);
  // A store whose reads take a network round trip, as with NATS: the test
  // holds the next peek's answer until it has sent the message.
  let hold: PromiseWithResolvers<void> | undefined;
  const inFlight = Promise.withResolvers<void>();
  const slow = new Proxy(real, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (prop === "peek") {
        return async (...args: Parameters<typeof real.peek>) => {
          const r = await real.peek(...args);
          const held = hold;
          hold = undefined;
          if (held) {
            inFlight.resolve();
            await held.promise;
          }
          return r;
        };
      }
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
  await using tb = await testBroker({ dataDir: dir, openedStore: slow });
  const { c: a } = await registered(tb.port, tb.auth, "alice");
  const { c: b } = await registered(tb.port, tb.auth, "bob");
  try {
    hold = Promise.withResolvers<void>();
    const release = hold.resolve;
    const t0 = Date.now();
    await b.send({ id: "w", action: "wait", timeout_ms: 3000 });
    await inFlight.promise; // the first check has read an empty queue and is in flight now
    await a.request({ action: "send", to_id: "bob", message: { content: "during" } });
    release();
    const w = await b.next();
    assert.equal((w?.messages as unknown[]).length, 1);
    assert.ok(Date.now() - t0 < 1500, `woken after ${Date.now() - t0} ms, not at the timeout`);
  } finally {
    a.close();
    b.close();
  }
});

Deno.test("a send or broadcast repeated with its client_id is stored once", opts, async () => {
  await using tb = await testBroker();
  const { c: a } = await registered(tb.port, tb.auth, "alice");
  const { c: b } = await registered(tb.port, tb.auth, "bob");
  const { c: c } = await registered(tb.port, tb.auth, "carol");
  try {
    const send = {
      action: "send",
      to_id: "bob",
      message: { content: "once" },
      client_id: "retry-key-0001",
    };
    const first = await a.request({ id: 1, ...send });
    assert.equal(first.status, "ok", JSON.stringify(first));
    assert.equal(first.duplicate, undefined);
    const again = await a.request({ id: 2, ...send });
    const { id: _1, duplicate, ...rest } = again;
    const { id: _2, ...firstRest } = first;
    assert.equal(duplicate, true);
    assert.deepEqual(rest, firstRest, "same reply, same message_id");
    const got = await b.request({ action: "check", ack: true });
    assert.deepEqual((got.messages as { id: string }[]).map((m) => m.id), [first.message_id]);

    // A repeat wakes no waiter: this wait times out empty.
    await b.send({ id: "w", action: "wait", timeout_ms: 300 });
    await waitFor(() => tb.broker.service.waiters.size === 1, { what: "the wait to park" });
    assert.equal((await a.request(send)).duplicate, true);
    const w = await b.next();
    assert.equal(w?.id, "w");
    assert.deepEqual(w?.messages, []);
    assert.equal(w?.timed_out, true);

    // Another sender with the same key is another message.
    const other = await c.request(send);
    assert.notEqual(other.message_id, first.message_id);
    assert.equal(other.duplicate, undefined);

    // Broadcast: one copy per recipient, however often it is retried.
    const bc = { action: "broadcast", message: { content: "all" }, client_id: "bcast-key-01" };
    const b1 = await a.request(bc);
    const b2 = await a.request(bc);
    assert.deepEqual(b1.delivered, ["bob", "carol"]);
    assert.deepEqual(b2.delivered, ["bob", "carol"]);
    assert.equal(b1.duplicate, undefined);
    assert.equal(b2.duplicate, true);
    const contents = async (x: typeof b) =>
      ((await x.request({ action: "check", ack: true })).messages as {
        message: { content: string };
      }[]).map((m) => m.message.content);
    assert.deepEqual(await contents(b), ["once", "all"], "carol's send, then one broadcast");
    assert.deepEqual(await contents(c), ["all"]);

    const bad = await a.request({ ...send, client_id: "no" });
    assert.equal(bad.status, "error");
    assert.equal(bad.code, "E_BAD_FIELD");
  } finally {
    a.close();
    b.close();
    c.close();
  }
});
