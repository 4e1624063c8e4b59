/**
 * The console's port (issue 16): a cap on open connections (503 past it), a
 * time limit for a request head and for idleness, and the console serving as
 * before once the flood is gone.
 */

import assert from "node:assert/strict";
import { startConsole } from "../../lib/web/console_server.ts";
import { testBroker } from "../_helpers.ts";
import { rawHttp } from "./_http.ts";

const opts = { sanitizeOps: true, sanitizeResources: true };

/** Reads until the server closes; resolves with what it sent and when. */
async function untilClosed(conn: Deno.Conn, timeoutMs: number): Promise<string | null> {
  const chunks: string[] = [];
  const buf = new Uint8Array(4096);
  const dec = new TextDecoder();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((r) => timer = setTimeout(() => r("timeout"), timeoutMs));
  try {
    for (;;) {
      const n = await Promise.race([conn.read(buf).catch(() => null), timeout]);
      if (n === "timeout") return null;
      if (n === null) return chunks.join("");
      chunks.push(dec.decode(buf.subarray(0, n)));
    }
  } finally {
    clearTimeout(timer);
  }
}

Deno.test(
  "console: over the cap 503, a silent connection cut at the head timeout, then served",
  opts,
  async () => {
    await using tb = await testBroker();
    await using web = await startConsole({
      service: tb.broker.service,
      dataDir: tb.dataDir,
      port: 0,
      limits: { maxConnections: 4, headerMs: 400, idleMs: 5_000 },
    });
    const idle = await Promise.all(
      Array.from({ length: 4 }, () => Deno.connect({ hostname: "127.0.0.1", port: web.port })),
    );
    try {
      // The gate counts them once accepted.
      for (let i = 0; i < 100 && web.gate.open < 4; i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.equal(web.gate.open, 4);
      const extra = await Deno.connect({ hostname: "127.0.0.1", port: web.port });
      const refused = await untilClosed(extra, 2_000);
      extra.close();
      assert.match(refused ?? "", /^HTTP\/1\.1 503 /);
      // The silent ones are closed once the head timeout passes.
      const t0 = Date.now();
      const closed = await Promise.all(idle.map((c) => untilClosed(c, 3_000)));
      assert.ok(closed.every((x) => x === ""), "closed without a byte");
      const took = Date.now() - t0;
      assert.ok(took >= 300 && took < 2_500, `closed after ${took} ms`);
      assert.equal(web.gate.stats.refused, 1);
      assert.ok(web.gate.stats.timedOut >= 4);
    } finally {
      for (const c of idle) {
        try {
          c.close();
        } catch { /* closed by the server */ }
      }
    }
    // And the console answers as before.
    const r = await rawHttp(web.port, { path: `/?token=${web.token}` });
    assert.equal(r.status, 303);
  },
);
