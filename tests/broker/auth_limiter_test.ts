import assert from "node:assert/strict";
import {
  AuthLimiter,
  FAILURE_WINDOW_MS,
  FAILURES_PER_CONNECTION,
  FAILURES_PER_PEER,
  FAILURES_PER_WINDOW,
} from "../../lib/broker/auth_limiter.ts";

Deno.test("a connection is limited after its own failures, for good", () => {
  const limiter = new AuthLimiter(() => 0);
  const peer = { failures: 0 };
  for (let i = 0; i < FAILURES_PER_CONNECTION; i++) {
    assert.equal(limiter.limited(peer, false), false);
    limiter.failed(peer);
  }
  assert.equal(limiter.limited(peer, false), true);
  assert.equal(limiter.limited({ failures: 0 }, false), false, "another connection is not");
});

Deno.test("a peer's failures limit that peer only, then the window reopens", () => {
  let now = 1_000;
  const limiter = new AuthLimiter(() => now);
  // A flooding process, over many fresh connections.
  for (let i = 0; i < FAILURES_PER_PEER; i++) limiter.failed({ failures: 0, ownerKey: "pid:1" });
  const sameProcess = { failures: 0, ownerKey: "pid:1" };
  assert.equal(limiter.limited(sameProcess, true), true, "its registrations are throttled");
  assert.equal(limiter.limited(sameProcess, false), false, "session tokens are not");
  assert.equal(limiter.limited({ failures: 0, ownerKey: "pid:2" }, true), false, "others are not");
  assert.equal(limiter.limited({ failures: 0 }, true), false, "nor an unknown peer");
  now += FAILURE_WINDOW_MS + 1;
  assert.equal(limiter.limited(sameProcess, true), false);
});

Deno.test("many failures broker-wide make the limiter hot (peers are looked up first)", () => {
  let now = 1_000;
  const limiter = new AuthLimiter(() => now);
  assert.equal(limiter.hot, false);
  for (let i = 0; i < FAILURES_PER_WINDOW; i++) limiter.failed({ failures: 0 });
  assert.equal(limiter.hot, true);
  now += FAILURE_WINDOW_MS + 1;
  assert.equal(limiter.hot, false);
});
