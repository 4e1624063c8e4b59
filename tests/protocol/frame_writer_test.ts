import assert from "node:assert/strict";
import { FrameDecoder, FrameWriter } from "../../lib/protocol/framing.ts";

const decoder = new TextDecoder();

function decodeAll(bytes: Uint8Array): string[] {
  const out: string[] = [];
  for (const ev of new FrameDecoder(64 * 1024 * 1024).push(bytes)) {
    assert.equal(ev.kind, "frame");
    if (ev.kind === "frame") out.push(decoder.decode(ev.payload));
  }
  return out;
}

Deno.test("FrameWriter: frames decode back to the same JSON, multi-byte UTF-8 included", () => {
  const w = new FrameWriter();
  const texts = [
    JSON.stringify({ action: "ping" }),
    JSON.stringify({ content: "héllo wörld ✓ 😀 中文" }),
    JSON.stringify({ big: "x".repeat(10_000) }), // past the first buffer: grows
    "{}",
  ];
  let total = 0;
  for (const t of texts) total += w.push(t);
  assert.equal(w.length, total);
  assert.equal(total, texts.reduce((n, t) => n + 4 + new TextEncoder().encode(t).length, 0));
  const bytes = w.take();
  assert.equal(bytes.length, total);
  assert.equal(w.length, 0);
  assert.deepEqual(decodeAll(bytes), texts);
});

Deno.test("FrameWriter: the length prefix is big-endian and exact", () => {
  const w = new FrameWriter();
  w.push('"é"'); // 4 bytes of UTF-8 in 3 code units
  const bytes = w.take();
  assert.deepEqual([...bytes.subarray(0, 4)], [0, 0, 0, 4]);
  assert.equal(decoder.decode(bytes.subarray(4)), '"é"');
});

Deno.test("FrameWriter: a busy writer reuses the written buffer, an idle one keeps a small one", () => {
  const w = new FrameWriter();
  assert.equal(w.take().length, 0);
  w.push('{"a":1}');
  const first = w.take();
  w.push('{"b":2}'); // queued while `first` is being written: busy
  w.release(first);
  const second = w.take();
  w.push('{"c":3}');
  w.release(second);
  const third = w.take();
  assert.equal(third.buffer, first.buffer, "the spare buffer is reused");
  assert.deepEqual(decodeAll(third), ['{"c":3}']);
  w.release(third); // nothing queued: idle, but small, so kept
  w.push('{"d":4}');
  const fourth = w.take();
  assert.equal(fourth.buffer, third.buffer);
  assert.deepEqual(decodeAll(fourth), ['{"d":4}']);
  // A large buffer is dropped when idle.
  w.push(JSON.stringify("z".repeat(20_000)));
  const big = w.take();
  assert.ok(big.buffer.byteLength > 4096);
  w.release(big);
  w.push("{}");
  assert.notEqual(w.take().buffer, big.buffer);
});

Deno.test("FrameWriter: many frames in one buffer keep their order", () => {
  const w = new FrameWriter();
  const texts = Array.from(
    { length: 2000 },
    (_, i) => JSON.stringify({ i, s: "y".repeat(i % 97) }),
  );
  for (const t of texts) w.push(t);
  assert.deepEqual(decodeAll(w.take()), texts);
});

Deno.test("FrameWriter: long non-ASCII text after queued frames grows without losing them", () => {
  const w = new FrameWriter();
  const texts = [
    JSON.stringify({ a: "x".repeat(3000) }),
    JSON.stringify({ b: "é😀中".repeat(5000) }), // 3 to 4 bytes per code point, past the ASCII guess
    JSON.stringify({ c: "ü" }),
  ];
  let total = 0;
  for (const t of texts) total += w.push(t);
  const bytes = w.take();
  assert.equal(bytes.length, total);
  assert.deepEqual(decodeAll(bytes), texts);
});
