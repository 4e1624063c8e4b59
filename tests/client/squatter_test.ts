/**
 * A program squatting on the broker's port, or another user's broker, is
 * refused before anything derived from the secret is sent: the client checks
 * the broker's proof (an HMAC of its nonce under the shared secret).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { AgentClient } from "../../lib/client/agent_client.ts";
import { connectOrElect } from "../../lib/client/election.ts";
import { NotABrokerError } from "../../lib/client/framed_client.ts";
import { IpcError } from "../../lib/protocol/errors.ts";
import { encodeFrame, FrameDecoder } from "../../lib/protocol/framing.ts";
import { testBroker } from "../_helpers.ts";

/** A fake broker that answers ping like agent-ipc and records what it is sent. */
function squatter(proof: string | undefined) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const seen: Record<string, unknown>[] = [];
  const conns = new Set<Deno.Conn>();
  const serving = (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      (async () => {
        const frames = new FrameDecoder(1 << 20);
        const buf = new Uint8Array(65536);
        for (;;) {
          let n: number | null = null;
          try {
            n = await conn.read(buf);
          } catch { /* closed */ }
          if (n === null) break;
          for (const ev of frames.push(buf.subarray(0, n))) {
            if (ev.kind !== "frame") continue;
            const req = JSON.parse(new TextDecoder().decode(ev.payload));
            seen.push(req);
            const reply = { id: req.id, status: "ok", message: "pong", broker: "agent-ipc", proof };
            await conn.write(encodeFrame(reply)).catch(() => {});
          }
        }
        conns.delete(conn);
        try {
          conn.close();
        } catch { /* closed */ }
      })();
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    seen,
    async close() {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      await serving.catch(() => {});
    },
  };
}

Deno.test("a squatter that cannot prove the secret gets nothing but a ping", async () => {
  const dataDir = await Deno.makeTempDir();
  await Deno.writeTextFile(join(dataDir, "secret"), "the-real-secret\n", { mode: 0o600 });
  for (const proof of [undefined, "0".repeat(64)]) {
    const fake = squatter(proof);
    try {
      await assert.rejects(
        () => AgentClient.connect({ host: "127.0.0.1", port: fake.port, dataDir, role: "none" }),
        (e: unknown) =>
          e instanceof IpcError && e.code === "E_AUTH" && /cannot prove it knows/.test(e.message),
      );
      assert.deepEqual(fake.seen.map((r) => r.action), ["ping"]);
      assert.equal(typeof fake.seen[0].nonce, "string");
      assert.equal("auth_token" in fake.seen[0], false);
    } finally {
      await fake.close();
    }
  }
  await Deno.remove(dataDir, { recursive: true });
});

Deno.test("another user's broker (another secret) is refused with E_AUTH, not used", async () => {
  await using theirs = await testBroker({ secret: "their-secret" });
  const mine = await Deno.makeTempDir();
  await Deno.writeTextFile(join(mine, "secret"), "my-secret\n", { mode: 0o600 });
  try {
    await assert.rejects(
      () =>
        AgentClient.connect({ host: "127.0.0.1", port: theirs.port, dataDir: mine, role: "spawn" }),
      (e: unknown) => e instanceof IpcError && e.code === "E_AUTH",
    );
    // With the right secret the same broker is accepted.
    await using ok = await AgentClient.connect({
      host: "127.0.0.1",
      port: theirs.port,
      dataDir: mine,
      role: "none",
      secret: "their-secret",
    });
    assert.equal((await ok.register("fine")).name, "fine");
  } finally {
    await Deno.remove(mine, { recursive: true });
  }
});

/** A program on the port that answers each request with `answer(request id)`, as raw bytes. */
function impostor(answer: (id: number) => Uint8Array) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  const serving = (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      (async () => {
        const frames = new FrameDecoder(1 << 20);
        const buf = new Uint8Array(65536);
        for (;;) {
          const n = await conn.read(buf).catch(() => null);
          if (n === null) break;
          for (const ev of frames.push(buf.subarray(0, n))) {
            if (ev.kind !== "frame") continue;
            const id = JSON.parse(new TextDecoder().decode(ev.payload)).id;
            await conn.write(answer(id)).catch(() => {});
          }
        }
        conns.delete(conn);
        try {
          conn.close();
        } catch { /* closed */ }
      })();
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    async [Symbol.asyncDispose]() {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      await serving.catch(() => {});
    },
  };
}

Deno.test("a program that answers, but not as a broker, ends the election at once (NotABrokerError)", async () => {
  const enc = new TextEncoder();
  const answers: Record<string, (id: number) => Uint8Array> = {
    "a web server": () => enc.encode("HTTP/1.1 400 Bad Request\r\n\r\n"),
    "frames that are not JSON": () => {
      const body = enc.encode("<html>not json</html>");
      const frame = new Uint8Array(4 + body.length);
      new DataView(frame.buffer).setUint32(0, body.length);
      frame.set(body, 4);
      return frame;
    },
    "JSON without broker: agent-ipc": (id) => encodeFrame({ id, status: "ok", message: "pong" }),
  };
  const dataDir = await Deno.makeTempDir();
  try {
    for (const [what, answer] of Object.entries(answers)) {
      await using fake = impostor(answer);
      const t0 = Date.now();
      const e = await connectOrElect({
        host: "127.0.0.1",
        port: fake.port,
        dataDir,
        role: "host",
        hostBroker: () => Promise.reject(new Error("must not host: the port is someone's")),
        timeoutMs: 8_000,
      }).then(() => null, (e) => e);
      assert.ok(e instanceof NotABrokerError, `${what}: ${e}`);
      assert.equal(e.code, "E_UNAVAILABLE");
      assert.match(e.message, /is used by another program, not an agent-ipc broker/);
      assert.ok(Date.now() - t0 < 4_000, `${what}: took ${Date.now() - t0} ms, not at once`);
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
