/**
 * Legacy connections: one JSON object written in one write with no length,
 * no newline and no half-close; one reply object; the broker closes. Checked
 * with raw sockets and with a Python client that behaves like the original's
 * scripts (`legacy_client.py`).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { legacyRequest, RawClient, testBroker } from "../_helpers.ts";
import { waitFor } from "../_wait.ts";

const opts = { sanitizeOps: true, sanitizeResources: true };

Deno.test("legacy: every action with the original's field names", opts, async () => {
  await using tb = await testBroker();
  const p = tb.port;
  const ra = await legacyRequest(p, {
    action: "register",
    instance_id: "alice",
    auth_token: tb.auth("alice"),
  });
  assert.equal(ra.status, "ok");
  assert.equal(ra.message, "Registered alice");
  const ta = ra.session_token as string;
  assert.match(ta, /^[A-Za-z0-9_-]{43}$/);
  const rb = await legacyRequest(p, {
    action: "register",
    instance_id: "bob",
    auth_token: tb.auth("bob"),
  });
  const tbk = rb.session_token as string;

  const sent = await legacyRequest(p, {
    action: "send",
    from_id: "alice",
    to_id: "bob",
    message: { content: "hello", data: { k: "v" } },
    session_token: ta,
  });
  assert.deepEqual([sent.status, sent.message], ["ok", "Message sent"]);

  const checked = await legacyRequest(p, {
    action: "check",
    instance_id: "bob",
    session_token: tbk,
  });
  const msgs = checked.messages as Record<string, unknown>[];
  assert.equal(msgs.length, 1);
  assert.equal(msgs[0].from, "alice");
  assert.equal(msgs[0].to, "bob");
  assert.equal(typeof msgs[0].timestamp, "string");
  assert.deepEqual(msgs[0].message, { content: "hello", data: { k: "v" } });
  // Legacy check is check-and-clear (once the reply was written).
  await waitFor(async () => await tb.broker.store.depth("bob") === 0, { what: "the ack" });
  const again = await legacyRequest(p, { action: "check", instance_id: "bob", session_token: tbk });
  assert.deepEqual(again.messages, []);

  const list = await legacyRequest(p, { action: "list", session_token: ta });
  const ids = (list.instances as { id: string; last_seen: string }[]).map((i) => i.id).sort();
  assert.deepEqual(ids, ["alice", "bob"]);
  assert.equal(typeof (list.instances as { last_seen: string }[])[0].last_seen, "string");

  const bc = await legacyRequest(p, {
    action: "broadcast",
    from_id: "alice",
    message: { content: "all" },
    session_token: ta,
  });
  assert.equal(bc.message, "Broadcast to 1 instances");

  // rename: only your own name.
  const steal = await legacyRequest(p, {
    action: "rename",
    old_id: "bob",
    new_id: "mallory",
    session_token: ta,
  });
  assert.equal(steal.status, "error");
  assert.equal(steal.code, "E_AUTH");
  const ren = await legacyRequest(p, {
    action: "rename",
    old_id: "alice",
    new_id: "alicia",
    session_token: ta,
  });
  assert.equal(ren.message, "Renamed alice to alicia");
  const fwd = await legacyRequest(p, {
    action: "send",
    from_id: "bob",
    to_id: "alice",
    message: { content: "x" },
    session_token: tbk,
  });
  assert.equal(fwd.message, "Message forwarded from alice to alicia");

  // Legacy registrations never hold a name: re-registering works and revokes the old session.
  const re = await legacyRequest(p, {
    action: "register",
    instance_id: "bob",
    auth_token: tb.auth("bob"),
  });
  assert.equal(re.status, "ok");
  const old = await legacyRequest(p, { action: "check", session_token: tbk });
  assert.equal(old.code, "E_SESSION");
});

Deno.test("legacy: a request far larger than 4096 bytes, split over writes", opts, async () => {
  await using tb = await testBroker();
  const r = await legacyRequest(tb.port, {
    action: "register",
    instance_id: "a",
    auth_token: tb.auth("a"),
  });
  const big = "é".repeat(200_000);
  await using c = await RawClient.connect(tb.port);
  const bytes = new TextEncoder().encode(JSON.stringify({
    action: "send",
    to_id: "later",
    message: { content: big },
    session_token: r.session_token,
  }));
  for (let at = 0; at < bytes.length; at += 7000) {
    await c.write(bytes.subarray(at, at + 7000));
    await new Promise((res) => setTimeout(res, 1));
  }
  const reply = JSON.parse(await c.readToEnd());
  assert.equal(reply.status, "ok");
  assert.equal(reply.message, "Message queued for later (not yet registered)");
});

Deno.test("legacy: a check reply stays under 64 KiB and nothing is lost", opts, async () => {
  await using tb = await testBroker();
  const a = await legacyRequest(tb.port, {
    action: "register",
    instance_id: "a",
    auth_token: tb.auth("a"),
  });
  const b = await legacyRequest(tb.port, {
    action: "register",
    instance_id: "b",
    auth_token: tb.auth("b"),
  });
  const n = 30;
  for (let i = 0; i < n; i++) {
    // 9 KB each, with characters that JSON escapes: 30 of them are far over 64 KiB.
    const r = await legacyRequest(tb.port, {
      action: "send",
      to_id: "b",
      message: { content: `${i}:` + '"\n'.repeat(4500) },
      session_token: a.session_token,
    });
    assert.equal(r.status, "ok");
  }
  const seen: number[] = [];
  for (let round = 0; round < n && seen.length < n; round++) {
    await using c = await RawClient.connect(tb.port);
    await c.write(JSON.stringify({ action: "check", session_token: b.session_token }));
    const text = await c.readToEnd();
    assert.ok(new TextEncoder().encode(text).length < 65536, `reply of ${text.length} bytes`);
    const got = JSON.parse(text).messages;
    for (const m of got) seen.push(Number(m.message.content.split(":")[0]));
    // Cleared once the reply was written: the next check starts after the ack.
    const left = n - seen.length;
    await waitFor(async () => await tb.broker.store.depth("b") === left, { what: "the ack" });
  }
  assert.deepEqual(seen, Array.from({ length: n }, (_, i) => i));
});

Deno.test("legacy: bad input gets an error object or a close, never a crash", opts, async () => {
  await using tb = await testBroker({ maxFrame: 4096, idleTimeoutMs: 300 });
  for (
    const [payload, code] of [
      ['{"action": "nope"}', "E_UNKNOWN_ACTION"],
      ['{"action": "send", "to_id": "x", "message": "str"}', "E_SESSION"],
      ['{"action": "check", "session_token": 5}', "E_BAD_FIELD"],
      ['{"action": "register", "instance_id": "a b", "auth_token": "x"}', "E_BAD_NAME"],
      ['{"a": tru}', "E_BAD_JSON"],
    ]
  ) {
    await using c = await RawClient.connect(tb.port);
    await c.write(payload);
    const r = JSON.parse(await c.readToEnd());
    assert.equal(r.code, code, payload);
  }
  {
    // Over the cap: an error object, then close.
    await using c = await RawClient.connect(tb.port);
    await c.write('{"x":"' + "a".repeat(5000));
    const r = JSON.parse(await c.readToEnd());
    assert.equal(r.code, "E_TOO_LARGE");
  }
  {
    // Never finished: closed by the idle timeout.
    await using c = await RawClient.connect(tb.port);
    await c.write('{"action": "ping"');
    assert.equal(await c.readToEnd(3000), "");
  }
  const ok = await legacyRequest(tb.port, { action: "ping" });
  assert.equal(ok.status, "ok");
});

async function python(): Promise<string | undefined> {
  for (const cmd of ["python3", "python"]) {
    try {
      const { success } = await new Deno.Command(cmd, { args: ["--version"], stdout: "null" })
        .output();
      if (success) return cmd;
    } catch { /* not installed */ }
  }
  return undefined;
}

/**
 * A function that runs legacy_client.py (a script written like the
 * original's) with python3 against the broker on `port` with `secret`, its
 * session file `session` in `dir`, and returns its JSON answer.
 */
async function pythonClient(port: number, dir: string) {
  const py = await python();
  assert.ok(py, "python3 is needed for this test (it is on every machine of this project)");
  const script = new URL("./legacy_client.py", import.meta.url).pathname;
  return async (secret: string, session: string, ...args: string[]) => {
    const out = await new Deno.Command(py, {
      args: [script, String(port), secret, join(dir, session), ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    return JSON.parse(new TextDecoder().decode(out.stdout));
  };
}

Deno.test(
  "legacy: a Python client written like the original's scripts works unchanged",
  opts,
  async () => {
    await using tb = await testBroker();
    const dir = await Deno.makeTempDir();
    const client = await pythonClient(tb.port, dir);
    const run = (session: string, ...args: string[]) => client(tb.secret, session, ...args);
    try {
      assert.equal((await run("a", "register", "gemini")).message, "Registered gemini");
      assert.equal((await run("b", "register", "claude")).status, "ok");
      assert.equal(
        (await run("a", "send", "claude", "hello", "from", "python")).message,
        "Message sent",
      );
      const got = await run("b", "check");
      assert.equal(got.messages[0].from, "gemini");
      assert.equal(got.messages[0].message.content, "hello from python");
      assert.equal((await run("b", "list")).instances.length, 2);
      assert.equal((await run("b", "broadcast", "hi")).message, "Broadcast to 1 instances");
      assert.equal((await run("b", "rename", "claude2")).message, "Renamed claude to claude2");
      if (Deno.build.os !== "windows") {
        assert.equal((await Deno.stat(join(dir, "a"))).mode! & 0o777, 0o600);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test(
  "legacy: auth errors carry the original's phrases for its scripts (test_security.py), framed ones do not",
  opts,
  async () => {
    await using tb = await testBroker();
    const dir = await Deno.makeTempDir();
    const run = await pythonClient(tb.port, dir);
    try {
      // test_security.py: a wrong secret must be refused with "auth token" in the message.
      const wrong = await run("wrong-secret", "w", "register", "test-wrong");
      assert.equal(wrong.status, "error");
      assert.equal(wrong.code, "E_AUTH");
      assert.match(wrong.message, /^Invalid auth token: /);
      assert.ok(wrong.message.includes("auth token"));
      // ... and a send without a session token with "session token" in it.
      const bare = await run(
        tb.secret,
        "-",
        "raw",
        JSON.stringify({
          action: "send",
          from_id: "x",
          to_id: "y",
          message: { content: "No auth!" },
        }),
      );
      assert.equal(bare.status, "error");
      assert.equal(bare.code, "E_SESSION");
      assert.match(bare.message, /^Invalid or missing session token: /);
      // A token the broker never issued: the same.
      await Deno.writeTextFile(
        join(dir, "forged"),
        JSON.stringify({ instance_id: "admin", session_token: "x".repeat(43) }),
      );
      const forged = await run(tb.secret, "forged", "send", "y", "hi");
      assert.equal(forged.code, "E_SESSION");
      assert.ok(forged.message.includes("session token"), forged.message);
      // The framed wire keeps our own words (its clients match on the code).
      await using raw = await RawClient.connect(tb.port);
      const framed = await raw.request({
        id: 1,
        action: "register",
        instance_id: "test-wrong",
        auth_token: "0".repeat(64),
      });
      assert.equal(framed.code, "E_AUTH");
      assert.doesNotMatch(String(framed.message), /Invalid auth token/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
