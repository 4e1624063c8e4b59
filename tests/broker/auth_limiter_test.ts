import assert from "node:assert/strict";
import {
  AuthLimiter,
  FAILURE_WINDOW_MS,
  FAILURES_PER_CONNECTION,
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

Deno.test("the broker-wide window limits registrations, then reopens", () => {
  let now = 1_000;
  const limiter = new AuthLimiter(() => now);
  for (let i = 0; i < FAILURES_PER_WINDOW; i++) limiter.failed({ failures: 0 });
  const fresh = { failures: 0 };
  assert.equal(limiter.limited(fresh, true), true, "registration proofs are throttled globally");
  assert.equal(limiter.limited(fresh, false), false, "session tokens are not");
  now += FAILURE_WINDOW_MS + 1;
  assert.equal(limiter.limited(fresh, true), false);
});
