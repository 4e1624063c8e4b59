import assert from "node:assert/strict";
import { shortId } from "../../lib/protocol/short_id.ts";
import { fitReply, newMessageId, toWire, wireBytes } from "../../lib/broker/wire_messages.ts";
import type { WireMessage } from "../../lib/protocol/messages.ts";

Deno.test("message ids are unique and sort by time", () => {
  const ids = Array.from({ length: 10_000 }, (_, i) => newMessageId(1_700_000_000_000 + (i >> 4)));
  assert.equal(new Set(ids).size, ids.length);
  assert.deepEqual([...ids].sort(), ids);
  assert.match(ids[0], /^[0-9a-z]+-[0-9a-z]+$/);
});

Deno.test("toWire keeps content, data and large exactly, with an ISO UTC time", () => {
  const w = toWire({
    id: "x",
    from: "a",
    to: "b",
    time: Date.UTC(2026, 10, 21, 10, 0, 0, 5),
    content: "ü\u0000",
    data: { n: [1, { k: null }] },
    large: { path: "/p", size: 3 },
  });
  assert.deepEqual(w, {
    id: "x",
    from: "a",
    to: "b",
    timestamp: "2026-11-21T10:00:00.005Z",
    message: { content: "ü\u0000", data: { n: [1, { k: null }] } },
    large: { path: "/p", size: 3 },
    short_id: shortId("x"),
  });
  assert.equal(
    "data" in toWire({ id: "y", from: "a", to: "b", time: 0, content: "" }).message,
    false,
  );
});

Deno.test("toWire's timestamp is toISOString of the time, across seconds, days and years", () => {
  const times = [
    0,
    1,
    999,
    1_000,
    59_999,
    Date.UTC(2026, 11, 31, 23, 59, 59, 999),
    Date.UTC(2027, 0, 1, 0, 0, 0, 0),
    Date.UTC(2028, 1, 29, 12, 0, 0, 10),
    253_402_300_799_999, // the last millisecond of year 9999
    253_402_300_800_000, // +010000-01-01: Date's own text
    -1, // before 1970
    1.5, // not a whole millisecond
  ];
  let t = 1_790_000_000_000;
  for (let i = 0; i < 2_000; i++) times.push(t += (i * 7919) % 1_500); // shared and new seconds
  for (const time of times) {
    const w = toWire({ id: "x", from: "a", to: "b", time, content: "" });
    assert.equal(w.timestamp, new Date(time).toISOString(), `time ${time}`);
  }
});

Deno.test("toWire carries the conversation fields only when set", () => {
  const w = toWire({
    id: "r",
    from: "a",
    to: "b",
    time: 0,
    content: "yes",
    urgent: true,
    replyTo: "q",
    threadId: "q",
    quote: "ok?",
  });
  assert.deepEqual(
    [w.short_id, w.urgent, w.reply_to, w.reply_to_short, w.thread_id, w.quote],
    [shortId("r"), true, "q", shortId("q"), "q", "ok?"],
  );
  const plain = toWire({ id: "p", from: "a", to: "b", time: 0, content: "" });
  assert.deepEqual(Object.keys(plain).sort(), [
    "from",
    "id",
    "message",
    "short_id",
    "timestamp",
    "to",
  ]);
});

Deno.test("wireBytes bounds the serialised size; fitReply keeps at least one", () => {
  const m = (content: string): WireMessage => ({
    id: "i",
    from: "a",
    to: "b",
    timestamp: "t",
    message: { content },
  });
  for (const c of ["", "plain", '"\n\u0001'.repeat(500), "x".repeat(10_000)]) {
    const real = new TextEncoder().encode(JSON.stringify(m(c))).length;
    assert.ok(wireBytes(m(c)) >= real, `bound for ${c.length} chars`);
  }
  const batch = Array.from({ length: 10 }, () => m("y".repeat(1000)));
  const fitted = fitReply(batch, 4 * wireBytes(batch[0]));
  assert.equal(fitted.length, 4);
  assert.equal(fitReply([m("z".repeat(5000))], 10).length, 1, "one message always goes");
});
