/**
 * Issue 16, in-process: limits before a session (frame cap, shared budget),
 * connection slots and their share per process (E_BUSY, and what the client
 * makes of it), reserved names by skeleton, what anonymous `status` shows,
 * and the nesting cap of `data`.
 */

import assert from "node:assert/strict";
import { AgentClient } from "../../lib/client/agent_client.ts";
import { encodeFrame } from "../../lib/protocol/framing.ts";
import { IpcError } from "../../lib/protocol/errors.ts";
import { isReservedName, MAX_DATA_DEPTH } from "../../lib/protocol/validate.ts";
import { LIMITS } from "../../lib/defaults.ts";
import { legacyRequest, RawClient, testBroker } from "../_helpers.ts";

const opts = { sanitizeOps: true, sanitizeResources: true };

async function registered(port: number, auth: (n: string) => string, name: string) {
  const c = await RawClient.connect(port);
  const r = await c.request({ action: "register", instance_id: name, auth_token: auth(name) });
  assert.equal(r.status, "ok", JSON.stringify(r));
  return { c, token: r.session_token as string };
}

/** A frame header declaring `length` bytes, then `body` bytes of it. */
function partialFrame(length: number, body: number): Uint8Array {
  const out = new Uint8Array(4 + body);
  new DataView(out.buffer).setUint32(0, length);
  out.fill(0x20, 4);
  return out;
}

Deno.test(
  "before a session, frames over 64 KiB are refused; after it, up to the cap",
  opts,
  async () => {
    await using tb = await testBroker();
    await using anon = await RawClient.connect(tb.port);
    await anon.write(partialFrame(LIMITS.preAuthMaxFrameBytes + 1, 10));
    const r = await anon.next();
    assert.equal(r?.code, "E_BAD_FRAME");
    assert.equal(r?.max_frame, LIMITS.preAuthMaxFrameBytes);
    assert.equal(await anon.next(), null, "then closed");

    const { c } = await registered(tb.port, tb.auth, "big");
    try {
      const content = "x".repeat(200_000);
      const sent = await c.request({ action: "send", to_id: "big", message: { content } });
      assert.equal(sent.status, "ok", JSON.stringify(sent).slice(0, 200));
    } finally {
      c.close();
    }
  },
);

Deno.test(
  "unfinished requests without a session share one budget; it is returned on close",
  opts,
  async () => {
    const budget = 1024 * 1024;
    await using tb = await testBroker({ preAuthBufferBytes: budget });
    const each = 60 * 1024;
    const conns: RawClient[] = [];
    const codes: string[] = [];
    try {
      // 30 x 60 KiB declared: the budget covers 17 of them.
      for (let i = 0; i < 30; i++) {
        const c = await RawClient.connect(tb.port);
        conns.push(c);
        await c.write(partialFrame(each, 100));
      }
      await Promise.all(conns.map(async (c) => {
        const r = await c.next(300).catch(() => null);
        codes.push(r === null ? "open" : String(r.code));
      }));
      const busy = codes.filter((x) => x === "E_BUSY").length;
      assert.equal(busy, 30 - Math.floor(budget / each), codes.join());
    } finally {
      for (const c of conns) c.close();
    }
    // Once they are gone, the budget is whole again: as many may buffer as before.
    const fits = Math.floor(budget / each);
    for (let attempt = 0; attempt < 50; attempt++) {
      const again = await Promise.all(
        Array.from({ length: fits }, () => RawClient.connect(tb.port)),
      );
      try {
        for (const c of again) await c.write(partialFrame(each, 100));
        const refused = (await Promise.all(again.map((c) => c.next(150).catch(() => null))))
          .filter((r) => r?.code === "E_BUSY").length;
        if (refused === 0) return;
      } finally {
        for (const c of again) c.close();
      }
      await new Promise((res) => setTimeout(res, 20));
    }
    assert.fail("the budget was not returned after the connections closed");
  },
);

Deno.test("a large request pipelined right after its register is served", opts, async () => {
  await using tb = await testBroker();
  await using c = await RawClient.connect(tb.port);
  const content = "p".repeat(200_000);
  const reg = encodeFrame({
    id: 1,
    action: "register",
    instance_id: "piper",
    auth_token: tb.auth("piper"),
  });
  const send = encodeFrame({ id: 2, action: "send", to_id: "piper", message: { content } });
  await c.write(new Uint8Array([...reg, ...send]));
  const replies = [await c.next(), await c.next()];
  assert.deepEqual(
    replies.map((r) => r?.status),
    ["ok", "ok"],
    JSON.stringify(replies).slice(0, 300),
  );
  // Without a session first, the same frame is still refused.
  await using anon = await RawClient.connect(tb.port);
  await anon.write(new Uint8Array([...encodeFrame({ id: 1, action: "ping" }), ...send]));
  const r = [await anon.next(), await anon.next()];
  assert.equal(r[0]?.status, "ok");
  assert.equal(r[1]?.code, "E_BAD_FRAME");
});

Deno.test("legacy requests count against the pre-auth budget too", opts, async () => {
  await using tb = await testBroker({ preAuthBufferBytes: 64 * 1024 });
  await using hog = await RawClient.connect(tb.port);
  await hog.write('{"action":"send","message":"' + "y".repeat(63 * 1024));
  await using late = await RawClient.connect(tb.port);
  await late.write('{"action":"send","message":"' + "z".repeat(8 * 1024));
  const reply = JSON.parse(await late.readToEnd());
  assert.equal(reply.code, "E_BUSY");
});

Deno.test(
  "all slots taken: E_BUSY frame, and the client says the broker is busy",
  opts,
  async () => {
    const dataDir = await Deno.makeTempDir({ prefix: "ipc-busy-" });
    await using tb = await testBroker({ maxConnections: 3, dataDir });
    const held = await Promise.all([1, 2, 3].map(() => RawClient.connect(tb.port)));
    try {
      await Promise.all(held.map((c) => c.request({ action: "ping" })));
      await using extra = await RawClient.connect(tb.port);
      const r = await extra.next();
      assert.equal(r?.code, "E_BUSY", JSON.stringify(r));
      // The CLI's election: not "no broker", not "data dir in use", and no broker started.
      const t0 = Date.now();
      const e = await AgentClient.connect({
        host: "127.0.0.1",
        port: tb.port,
        dataDir,
        role: "spawn",
        timeoutMs: 5_000,
      }).then(() => null, (e) => e);
      assert.ok(e instanceof IpcError, String(e));
      assert.equal(e.code, "E_BUSY", e.message);
      assert.match(e.message, /busy/);
      assert.ok(Date.now() - t0 < 2_000, `took ${Date.now() - t0} ms`);
      assert.ok(!(await Deno.stat(`${dataDir}/broker.log`).then(() => true, () => false)));
    } finally {
      for (const c of held) c.close();
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    }
  },
);

Deno.test("all slots taken: a legacy client gets E_BUSY as legacy JSON", opts, async () => {
  await using tb = await testBroker({ maxConnections: 2 });
  const held = await Promise.all([1, 2].map(() => RawClient.connect(tb.port)));
  try {
    await Promise.all(held.map((c) => c.request({ action: "ping" })));
    // What the original client does: one JSON request, then read to the close.
    const reply = await legacyRequest(tb.port, { action: "list" });
    assert.equal(reply.status, "error", JSON.stringify(reply));
    assert.equal(reply.code, "E_BUSY", JSON.stringify(reply));
    assert.match(String(reply.message), /busy/i);
  } finally {
    for (const c of held) c.close();
  }
});

Deno.test(
  "past half the slots, one process holds at most a quarter; another process gets in",
  opts,
  async () => {
    await using tb = await testBroker({ maxConnections: 16 });
    // 8 (half) from this process are fine; from then on this process is over its share (4).
    const mine: RawClient[] = [];
    try {
      for (let i = 0; i < 8; i++) mine.push(await RawClient.connect(tb.port));
      await Promise.all(mine.map((c) => c.request({ action: "ping" })));
      await using ninth = await RawClient.connect(tb.port);
      const r = await ninth.request({ action: "ping" }).catch(() => null);
      assert.equal(r?.code, "E_BUSY", JSON.stringify(r));
      // Another process is not refused for this one's connections.
      const child = await new Deno.Command(Deno.execPath(), {
        args: [
          "eval",
          `const c = await Deno.connect({ hostname: "127.0.0.1", port: ${tb.port} });
         const f = new Uint8Array(4 + 17); new DataView(f.buffer).setUint32(0, 17);
         f.set(new TextEncoder().encode('{"action":"ping"}'), 4); await c.write(f);
         const b = new Uint8Array(4096); const n = await c.read(b);
         console.log(new TextDecoder().decode(b.subarray(4, n ?? 4)));`,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const out = new TextDecoder().decode(child.stdout);
      assert.equal(JSON.parse(out).status, "ok", out + new TextDecoder().decode(child.stderr));
    } finally {
      for (const c of mine) c.close();
    }
  },
);

Deno.test("reserved names and their look-alikes are refused on every path", opts, async () => {
  for (
    const n of [
      "SYSTEM",
      "System",
      "Human",
      "HUMAN",
      "All",
      "ALL",
      "a11",
      "sys_tem",
      "Hu-man",
      "hurnan",
      "5y5tem",
    ]
  ) {
    assert.ok(isReservedName(n), n);
  }
  for (const n of ["alice", "Ali", "systems", "allan", "humane", "bob"]) {
    assert.ok(!isReservedName(n), n);
  }
  await using tb = await testBroker();
  await using c = await RawClient.connect(tb.port);
  for (const n of ["SYSTEM", "Human", "All", "sys-tem"]) {
    const r = await c.request({ action: "register", instance_id: n, auth_token: tb.auth(n) });
    assert.equal(r.code, "E_RESERVED_NAME", `${n}: ${JSON.stringify(r)}`);
  }
  const legacy = await legacyRequest(tb.port, {
    action: "register",
    instance_id: "System",
    auth_token: tb.auth("System"),
  });
  assert.equal(legacy.code, "E_RESERVED_NAME");
  const { c: me } = await registered(tb.port, tb.auth, "renamer");
  try {
    const r = await me.request({ action: "rename", new_id: "HUMAN" });
    assert.equal(r.code, "E_RESERVED_NAME");
  } finally {
    me.close();
  }
});

Deno.test(
  "anonymous status shows no pid, data dir or host; a session sees them",
  opts,
  async () => {
    await using tb = await testBroker();
    await using anon = await RawClient.connect(tb.port);
    const a = (await anon.request({ action: "status" })).broker as Record<string, unknown>;
    for (const k of ["pid", "data_dir", "host", "host_name", "store_location"]) {
      assert.ok(!(k in a) || a[k] === undefined, `anonymous status shows ${k}`);
    }
    assert.equal(a.port, tb.port);
    const { c } = await registered(tb.port, tb.auth, "insider");
    try {
      const b = (await c.request({ action: "status" })).broker as Record<string, unknown>;
      assert.equal(b.pid, Deno.pid);
      assert.equal(b.data_dir, tb.dataDir);
      assert.equal(b.host, "127.0.0.1");
    } finally {
      c.close();
    }
  },
);

Deno.test(
  "data nested deeper than the cap is refused with E_BAD_FIELD and max_depth",
  opts,
  async () => {
    await using tb = await testBroker();
    const { c } = await registered(tb.port, tb.auth, "nester");
    try {
      const nest = (depth: number) => {
        let d: Record<string, unknown> = {};
        for (let i = 1; i < depth; i++) d = { d };
        return d;
      };
      const deep = await c.request({
        action: "send",
        to_id: "nester",
        message: { content: "deep", data: nest(5_000) },
      });
      assert.equal(deep.code, "E_BAD_FIELD");
      assert.equal(deep.max_depth, MAX_DATA_DEPTH);
      const ok = await c.request({
        action: "send",
        to_id: "nester",
        message: { content: "ok", data: nest(MAX_DATA_DEPTH) },
      });
      assert.equal(ok.status, "ok", JSON.stringify(ok));
    } finally {
      c.close();
    }
  },
);
