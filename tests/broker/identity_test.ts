/**
 * Identity attacks against a live broker: a wrong secret, an auth token
 * replayed for another name, forged `from_id` / `instance_id` / `old_id`, a
 * second register of a connected name (also two at once), a session token from
 * before a secret change, token guessing (rate-limited before the guess is
 * judged), and a session revoked on one connection but cached on another.
 * None may succeed; each gets a clear error code.
 */
import assert from "node:assert/strict";
import { authToken, newSessionToken } from "../../lib/protocol/auth.ts";
import { FAILURE_WINDOW_MS } from "../../lib/broker/auth_limiter.ts";
import { legacyRequest, RawClient, testBroker } from "../_helpers.ts";
import { ManualClock } from "../_wait.ts";

const opts = { sanitizeOps: true, sanitizeResources: true };

async function register(port: number, auth: (n: string) => string, name: string) {
  const c = await RawClient.connect(port);
  const r = await c.request({ action: "register", instance_id: name, auth_token: auth(name) });
  assert.equal(r.status, "ok", JSON.stringify(r));
  return { c, token: r.session_token as string };
}

Deno.test("a wrong secret and a replayed auth token do not register", opts, async () => {
  await using tb = await testBroker();
  await using c = await RawClient.connect(tb.port);
  const wrong = await c.request({
    action: "register",
    instance_id: "alice",
    auth_token: authToken("alice", "not-the-secret"),
  });
  assert.equal(wrong.status, "error");
  assert.equal(wrong.code, "E_AUTH");
  assert.match(wrong.message as string, /Wrong auth_token for "alice"/);
  // bob's valid proof, replayed for alice.
  const replay = await c.request({
    action: "register",
    instance_id: "alice",
    auth_token: tb.auth("bob"),
  });
  assert.equal(replay.code, "E_AUTH");
  // Legacy connections get the same answer.
  const legacy = await legacyRequest(tb.port, {
    action: "register",
    instance_id: "alice",
    auth_token: tb.auth("bob"),
  });
  assert.equal(legacy.status, "error");
  assert.equal(legacy.code, "E_AUTH");
  const who = await c.request({ action: "whoami" });
  assert.equal(who.code, "E_SESSION", "nothing was registered");
});

Deno.test("forged from_id, instance_id and old_id are ignored or refused", opts, async () => {
  await using tb = await testBroker();
  const { c: m, token: tm } = await register(tb.port, tb.auth, "mallory");
  const { c: v, token: tv } = await register(tb.port, tb.auth, "victim");
  try {
    // A message from mallory claiming to be from victim arrives as mallory's.
    const sent = await m.request({
      action: "send",
      from_id: "victim",
      to_id: "victim",
      message: { content: "trust me" },
    });
    assert.equal(sent.status, "ok");
    const legacySent = await legacyRequest(tb.port, {
      action: "send",
      from_id: "system",
      to_id: "victim",
      message: { content: "legacy forgery" },
      session_token: tm,
    });
    assert.equal(legacySent.status, "ok");
    const inbox = await v.request({ action: "check", session_token: tv });
    const msgs = inbox.messages as { from: string; message: { content: string } }[];
    assert.deepEqual(msgs.map((x) => x.from), ["mallory", "mallory"]);

    // mallory checking "victim"'s queue reads its own (empty) queue.
    const peek = await m.request({ action: "check", instance_id: "victim" });
    assert.deepEqual(peek.messages, []);
    const legacyPeek = await legacyRequest(tb.port, {
      action: "check",
      instance_id: "victim",
      session_token: tm,
    });
    assert.deepEqual(legacyPeek.messages, []);
    assert.equal((await v.request({ action: "whoami" })).queued, 2, "victim's queue untouched");

    // Renaming someone else is refused, on both framings.
    const rn = await m.request({ action: "rename", old_id: "victim", new_id: "owned" });
    assert.equal(rn.code, "E_AUTH");
    const lrn = await legacyRequest(tb.port, {
      action: "rename",
      old_id: "victim",
      new_id: "owned",
      session_token: tm,
    });
    assert.equal(lrn.code, "E_AUTH");
    assert.equal((await v.request({ action: "whoami" })).instance_id, "victim");
    // A session token that does not exist is not a forgery that works either.
    const fake = await legacyRequest(tb.port, {
      action: "check",
      instance_id: "victim",
      session_token: newSessionToken(),
    });
    assert.equal(fake.code, "E_SESSION");
  } finally {
    m.close();
    v.close();
  }
});

Deno.test("a connected name cannot be registered again, even by two at once", opts, async () => {
  await using tb = await testBroker();
  const { c: first } = await register(tb.port, tb.auth, "held");
  try {
    await using second = await RawClient.connect(tb.port);
    const again = await second.request({
      action: "register",
      instance_id: "held",
      auth_token: tb.auth("held"),
    });
    assert.equal(again.code, "E_NAME_TAKEN");
    const legacy = await legacyRequest(tb.port, {
      action: "register",
      instance_id: "held",
      auth_token: tb.auth("held"),
    });
    assert.equal(legacy.code, "E_NAME_TAKEN");
  } finally {
    first.close();
  }
  // Many connections race to register one free name: exactly one wins.
  const racers = await Promise.all(Array.from({ length: 8 }, () => RawClient.connect(tb.port)));
  try {
    const replies = await Promise.all(
      racers.map((c) =>
        c.request({
          action: "register",
          instance_id: "contested",
          auth_token: tb.auth("contested"),
        })
      ),
    );
    const won = replies.filter((r) => r.status === "ok");
    assert.equal(won.length, 1, JSON.stringify(replies.map((r) => r.code ?? r.status)));
    assert.ok(replies.every((r) => r.status === "ok" || r.code === "E_NAME_TAKEN"));
    // The winner's session is the one that works.
    const winner = racers[replies.indexOf(won[0])];
    assert.equal((await winner.request({ action: "whoami" })).instance_id, "contested");
  } finally {
    for (const c of racers) c.close();
  }
});

Deno.test("a session token from before a secret change is refused", opts, async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "ipc-test-" });
  let token: string;
  {
    await using tb = await testBroker({ dataDir, secret: "old-secret" });
    const { c, token: t } = await register(tb.port, tb.auth, "alice");
    token = t;
    c.close();
  }
  {
    // Same data dir (same sessions table), same secret: the session resumes.
    await using tb = await testBroker({ dataDir, secret: "old-secret" });
    const same = await legacyRequest(tb.port, { action: "whoami", session_token: token });
    assert.equal(same.instance_id, "alice");
  }
  {
    await using tb = await testBroker({ dataDir, secret: "new-secret" });
    const old = await legacyRequest(tb.port, { action: "whoami", session_token: token });
    assert.equal(old.status, "error");
    assert.equal(old.code, "E_SESSION");
    const oldProof = await legacyRequest(tb.port, {
      action: "register",
      instance_id: "alice",
      auth_token: authToken("alice", "old-secret"),
    });
    assert.equal(oldProof.code, "E_AUTH");
    const fresh = await legacyRequest(tb.port, {
      action: "register",
      instance_id: "alice",
      auth_token: authToken("alice", "new-secret"),
    });
    assert.equal(fresh.status, "ok");
  }
  await Deno.remove(dataDir, { recursive: true });
});

Deno.test("registration guesses are rate-limited before they are judged", opts, async () => {
  const clock = new ManualClock();
  await using tb = await testBroker({ now: clock.now });
  // One connection: after 20 failures even the right proof is refused there.
  {
    await using c = await RawClient.connect(tb.port);
    const codes: string[] = [];
    for (let i = 0; i < 20; i++) {
      const r = await c.request({
        action: "register",
        instance_id: "target",
        auth_token: i.toString(16).padStart(64, "0"),
      });
      codes.push(r.code as string);
    }
    assert.ok(codes.every((x) => x === "E_AUTH" || x === "E_RATE_LIMITED"), codes.join());
    const right = await c.request({
      action: "register",
      instance_id: "target",
      auth_token: tb.auth("target"),
    });
    assert.equal(right.code, "E_RATE_LIMITED", "a right guess while limited must not pass");
  }
  // Many connections: past 50 failures a second the whole broker refuses
  // registrations until the window passes, then the right proof works.
  clock.advance(FAILURE_WINDOW_MS + 100);
  const conns = await Promise.all(Array.from({ length: 4 }, () => RawClient.connect(tb.port)));
  try {
    for (let i = 0; i < 52; i++) {
      await conns[i % 4].request({
        action: "register",
        instance_id: "target",
        auth_token: "f".repeat(64),
      });
    }
    await using fresh = await RawClient.connect(tb.port);
    const during = await fresh.request({
      action: "register",
      instance_id: "target",
      auth_token: tb.auth("target"),
    });
    assert.equal(during.code, "E_RATE_LIMITED");
    assert.match(during.message as string, /wait a second/);
    clock.advance(FAILURE_WINDOW_MS + 100);
    const after = await fresh.request({
      action: "register",
      instance_id: "target",
      auth_token: tb.auth("target"),
    });
    assert.equal(after.status, "ok", JSON.stringify(after));
  } finally {
    for (const c of conns) c.close();
  }
});

Deno.test("session token guesses are cut off per connection", opts, async () => {
  await using tb = await testBroker();
  const { c: owner, token } = await register(tb.port, tb.auth, "owner");
  try {
    await using guesser = await RawClient.connect(tb.port);
    for (let i = 0; i < 20; i++) {
      const r = await guesser.request({ action: "check", session_token: newSessionToken() });
      assert.ok(r.code === "E_SESSION" || r.code === "E_RATE_LIMITED", String(r.code));
    }
    const right = await guesser.request({ action: "check", session_token: token });
    assert.equal(right.code, "E_RATE_LIMITED", "the real token, guessed late, is refused");
    // The owner's own new connection is not collateral damage.
    await using other = await RawClient.connect(tb.port);
    const ok = await other.request({ action: "whoami", session_token: token });
    assert.equal(ok.instance_id, "owner");
  } finally {
    owner.close();
  }
});

Deno.test("unregister revokes the session on every connection that used it", opts, async () => {
  await using tb = await testBroker();
  const { c: a, token } = await register(tb.port, tb.auth, "shared");
  await using b = await RawClient.connect(tb.port);
  try {
    assert.equal((await b.request({ action: "whoami", session_token: token })).status, "ok");
    assert.equal((await a.request({ action: "unregister" })).status, "ok");
    const withToken = await b.request({ action: "whoami", session_token: token });
    assert.equal(withToken.code, "E_SESSION");
    const implicit = await b.request({ action: "whoami" });
    assert.equal(implicit.code, "E_SESSION");
    // The name is free again.
    await using c = await RawClient.connect(tb.port);
    const again = await c.request({
      action: "register",
      instance_id: "shared",
      auth_token: tb.auth("shared"),
    });
    assert.equal(again.status, "ok");
  } finally {
    a.close();
  }
});
