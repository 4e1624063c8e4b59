import assert from "node:assert/strict";
import {
  encodeFrame,
  FrameDecoder,
  type FrameEvent,
  JsonObjectScanner,
} from "../../lib/protocol/framing.ts";

const dec = new TextDecoder();

function frames(events: FrameEvent[]): unknown[] {
  return events.map((e) => e.kind === "frame" ? JSON.parse(dec.decode(e.payload)) : e);
}

function mulberry32(seed: number): () => number {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sample = [
  { action: "ping" },
  { action: "send", to_id: "fred", message: { content: "héllo 👋 {not a brace}" } },
  { action: "check", id: 7 },
  { big: "x".repeat(70_000) },
];
const stream = (() => {
  const parts = sample.map(encodeFrame);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
})();

Deno.test("encodeFrame writes a big-endian length before the UTF-8 JSON", () => {
  const f = encodeFrame({ a: "é" });
  const body = new TextEncoder().encode(JSON.stringify({ a: "é" }));
  assert.equal(new DataView(f.buffer).getUint32(0), body.length);
  assert.deepEqual(f.subarray(4), body);
});

Deno.test("FrameDecoder decodes a stream fed one byte at a time", () => {
  const d = new FrameDecoder(1 << 20);
  const out: FrameEvent[] = [];
  for (let i = 0; i < stream.length; i++) out.push(...d.push(stream.subarray(i, i + 1)));
  assert.deepEqual(frames(out), sample);
  assert.equal(d.partial, false);
});

Deno.test("FrameDecoder decodes the same stream in 500 random splits", () => {
  const rand = mulberry32(42);
  for (let round = 0; round < 500; round++) {
    const d = new FrameDecoder(1 << 20);
    const out: FrameEvent[] = [];
    let at = 0;
    while (at < stream.length) {
      const n = 1 + Math.floor(rand() * (rand() < 0.5 ? 8 : 40_000));
      // Copy each chunk into a reused buffer, as a socket read loop does.
      const chunk = stream.slice(at, at + n);
      out.push(...d.push(chunk));
      chunk.fill(0xff); // the decoder must not keep views into the caller's buffer
      at += n;
    }
    assert.deepEqual(frames(out), sample, `round ${round}`);
  }
});

Deno.test("FrameDecoder rejects length 0 and breaks for good", () => {
  const d = new FrameDecoder(1024);
  const ev = d.push(new Uint8Array([0, 0, 0, 0, 0, 0, 0, 2, 0x7b, 0x7d]));
  assert.equal(ev.length, 1);
  assert.equal(ev[0].kind, "error");
  assert.equal((ev[0] as { code: string }).code, "E_BAD_FRAME");
  assert.deepEqual(d.push(encodeFrame({})), []);
});

Deno.test("FrameDecoder rejects a 4 GB length before allocating", () => {
  const d = new FrameDecoder(1024);
  const ev = d.push(new Uint8Array([0xff, 0xff, 0xff, 0xff]));
  assert.equal(ev[0].kind, "error");
  assert.match((ev[0] as { message: string }).message, /"4294967295" is over the limit of 1024/);
  assert.equal((ev[0] as { limit?: number }).limit, 1024);
  assert.equal(d.buffered, 0);
});

Deno.test("FrameDecoder rejects a length one over the cap, accepts one at the cap", () => {
  const ok = new FrameDecoder(10);
  const body = new TextEncoder().encode('"12345678"');
  const frame = new Uint8Array(14);
  new DataView(frame.buffer).setUint32(0, 10);
  frame.set(body, 4);
  assert.deepEqual(frames(ok.push(frame)), ["12345678"]);
  const over = new FrameDecoder(9);
  assert.equal(over.push(frame)[0].kind, "error");
});

Deno.test("FrameDecoder reports a truncated frame as partial, with no event", () => {
  const d = new FrameDecoder(1024);
  const f = encodeFrame({ action: "ping" });
  assert.deepEqual(d.push(f.subarray(0, f.length - 1)), []);
  assert.equal(d.partial, true);
  assert.equal(d.buffered, f.length - 1 - 4); // header consumed, payload held
  assert.equal(frames(d.push(f.subarray(f.length - 1))).length, 1);
  assert.equal(d.partial, false);
});

Deno.test("JsonObjectScanner finds the end of one object byte by byte", () => {
  const text = '{"a":"}{\\"}","b":[{"c":"]"}],"d":{}}';
  const bytes = new TextEncoder().encode(text + "TRAILING");
  const s = new JsonObjectScanner();
  let end = -1;
  for (let i = 0; i < bytes.length && end < 0; i++) {
    const e = s.scan(bytes.subarray(i, i + 1));
    if (e >= 0) end = i + e;
  }
  assert.equal(end, text.length);
  assert.deepEqual(JSON.parse(text).d, {});
});

Deno.test("JsonObjectScanner handles multi-byte UTF-8 and escapes in one chunk", () => {
  const text = JSON.stringify({ content: 'naïve "quote" \\ 日本語 👋 }' });
  const bytes = new TextEncoder().encode(text);
  assert.equal(new JsonObjectScanner().scan(bytes), bytes.length);
});

Deno.test("JsonObjectScanner throws on a stream that is not an object", () => {
  assert.throws(() => new JsonObjectScanner().scan(new TextEncoder().encode("[1]")), SyntaxError);
});

Deno.test("deferOversize: a header over the cap waits for the caller, then is judged again", () => {
  const frame = new Uint8Array(4 + 10);
  new DataView(frame.buffer).setUint32(0, 10);
  frame.fill(0x41, 4);
  for (const raise of [true, false]) {
    const d = new FrameDecoder(8, { deferOversize: true });
    assert.deepEqual(d.push(frame), []);
    assert.equal(d.deferredAt, 4);
    if (raise) d.maxFrame = 16;
    const events = d.push(frame.subarray(d.deferredAt));
    assert.equal(d.deferredAt, -1);
    if (raise) {
      assert.equal(events.length, 1);
      assert.equal(events[0].kind, "frame");
    } else {
      assert.equal(events[0].kind, "error");
    }
  }
});
