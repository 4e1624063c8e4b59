import assert from "node:assert/strict";
import { encodeFrame, FrameDecoder } from "../../lib/protocol/framing.ts";

const text = (b: Uint8Array) => new TextDecoder().decode(b);

Deno.test("FrameDecoder copy:false: whole frames are views into the chunk", () => {
  const a = encodeFrame({ n: 1 }), b = encodeFrame({ n: 2 });
  const chunk = new Uint8Array(a.length + b.length);
  chunk.set(a);
  chunk.set(b, a.length);
  const events = new FrameDecoder(1024, { copy: false }).push(chunk);
  assert.equal(events.length, 2);
  for (const ev of events) {
    assert.equal(ev.kind, "frame");
    if (ev.kind === "frame") assert.equal(ev.payload.buffer, chunk.buffer, "no copy");
  }
  assert.deepEqual(events.map((e) => e.kind === "frame" && JSON.parse(text(e.payload))), [
    { n: 1 },
    { n: 2 },
  ]);
  // The default still copies, so payloads outlive the chunk.
  const copied = new FrameDecoder(1024).push(chunk)[0];
  assert.ok(copied.kind === "frame" && copied.payload.buffer !== chunk.buffer);
});

Deno.test("FrameDecoder copy:false: a frame split across chunks is assembled in its own buffer", () => {
  const frame = encodeFrame({ content: "z".repeat(500) });
  const d = new FrameDecoder(1024, { copy: false });
  const reused = new Uint8Array(64);
  const payloads: string[] = [];
  // Feed through one reused read buffer, one small piece at a time.
  for (let at = 0; at < frame.length; at += 64) {
    const piece = frame.subarray(at, at + 64);
    reused.set(piece);
    for (const ev of d.push(reused.subarray(0, piece.length))) {
      if (ev.kind === "frame") payloads.push(text(ev.payload));
    }
    reused.fill(0);
  }
  assert.deepEqual(payloads.map((p) => JSON.parse(p)), [{ content: "z".repeat(500) }]);
});
