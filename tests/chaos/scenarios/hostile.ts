/**
 * Hostile bytes against the real program as a broker process:
 * - `fuzz`: 100,000 seeded random and mutated frames in both framings (see
 *   `_fuzz.ts`); no crash, no hang, every error reply has a code; afterwards
 *   the broker answers `ping` and a registered client's queue is intact;
 * - `http`: an HTTP POST and a WebSocket upgrade (raw, and from fetch and
 *   WebSocket clients) to the broker port get nothing;
 * - `frames`: frames declaring 4 GiB allocate nothing; frames declaring the
 *   cap before a session (64 KiB) and then stalling cost what was sent, and are closed by the
 *   idle timeout.
 *
 * @module
 */

import { FramedClient } from "../../../lib/client/framed_client.ts";
import {
  BrokerProcess,
  brokerStatus,
  bump,
  formatCounts,
  prover,
  removeDir,
  type Row,
  row,
  rssMiB,
  type ScenarioOptions,
  sleep,
  tempDir,
} from "../_common.ts";
import { runFuzz } from "../_fuzz.ts";

type Msg = { id: string; from: string; message: { content: string; data?: unknown } };

/** The fuzz run. */
export async function fuzz(o: ScenarioOptions): Promise<Row> {
  const t0 = Date.now();
  const frames = o.quick ? 20_000 : 100_000;
  const dir = await tempDir("fuzz");
  const broker = await BrokerProcess.start(dir, { args: ["--idle-timeout-ms", "2000"] });
  const failures: string[] = [];
  const cs: FramedClient[] = [];
  let alive = false;
  try {
    const auth = await prover(dir);
    const reg = async (name: string) => {
      const c = await FramedClient.connect({ host: "127.0.0.1", port: broker.port });
      cs.push(c);
      const r = await c.request({ action: "register", instance_id: name, auth_token: auth(name) });
      return { c, token: r.session_token as string };
    };
    const keeper = await reg("keeper");
    const sender = await reg("sender");
    const fuzzer = await reg("fuzzer");
    const kept = 50;
    for (let i = 0; i < kept; i++) {
      await sender.c.request({
        action: "send",
        to_id: "keeper",
        message: { content: `kept ${i} ✓`, data: { i, nested: { ok: true } } },
      });
    }
    const rss0 = await rssMiB(broker.pid);
    const stats = await runFuzz({
      port: broker.port,
      seed: o.seed,
      frames,
      maxFrame: 1024 * 1024,
      token: fuzzer.token,
      auth,
      concurrency: 4,
      batch: 200,
      legacyShare: 0.03,
      replyTimeoutMs: 10_000,
    });
    const rss1 = await rssMiB(broker.pid);
    failures.push(...stats.problems.slice(0, 5));
    if (stats.problems.length > 5) failures.push(`… ${stats.problems.length} problems in all`);
    const pong = await keeper.c.request({ action: "ping" }).catch(() => null);
    alive = pong?.message === "pong" && (await brokerStatus(broker.port)) !== null;
    if (!alive) failures.push("the broker stopped answering");
    // The keeper's queue: what the sender queued is all there, whole and in order.
    const got: Msg[] = [];
    for (let round = 0; round < 100; round++) {
      const r = await keeper.c.request({ action: "check", limit: 1000 });
      const msgs = r.messages as Msg[];
      if (msgs.length === 0) break;
      got.push(...msgs);
      await keeper.c.request({ action: "ack", ids: msgs.map((m) => m.id) });
    }
    const mine = got.filter((m) => m.from === "sender");
    const intact = mine.length === kept &&
      mine.every((m, i) =>
        m.message.content === `kept ${i} ✓` &&
        JSON.stringify(m.message.data) === JSON.stringify({ i, nested: { ok: true } })
      );
    if (!intact) failures.push(`keeper's queue: ${mine.length} of ${kept} intact`);
    if (!got.every((m) => m.from === "sender" || m.from === "system" || m.from.startsWith("f"))) {
      failures.push("a message in keeper's queue from nobody the fuzzer could be");
    }
    const top = Object.fromEntries(
      Object.entries(stats.codes).sort((a, b) => b[1] - a[1]).slice(0, 6),
    );
    return row("hostile: fuzz", t0, {
      action:
        `${stats.frames} frames, seed ${o.seed}: ${stats.framed} framed, ${stats.legacy} legacy, ` +
        `${stats.fatal} with a bad length, ${stats.capped} over the pre-session cap; ` +
        `${stats.connections} connections`,
      errors: formatCounts(top) + (Object.keys(stats.codes).length > 6 ? ", …" : ""),
      alive,
      notes: `${stats.ok} ok and ${stats.errors} error replies, all with a code (0 E_INTERNAL); ` +
        `0 hangs; keeper's ${kept} messages intact; broker RSS ${rss0.toFixed(0)} -> ${
          rss1.toFixed(0)
        } MiB`,
      failures,
    });
  } finally {
    for (const c of cs) c.close();
    await Promise.all(cs.map((c) => c.closed));
    await broker.stop();
    await removeDir(dir);
  }
}

async function rawExchange(port: number, text: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const timer = setTimeout(() => conn.close(), 5_000);
  try {
    await conn.write(new TextEncoder().encode(text));
    const parts: Uint8Array[] = [];
    const buf = new Uint8Array(4096);
    for (;;) {
      let n: number | null;
      try {
        n = await conn.read(buf);
      } catch {
        break;
      }
      if (n === null) break;
      parts.push(buf.slice(0, n));
    }
    return new TextDecoder().decode(new Uint8Array(parts.flatMap((p) => [...p])));
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* closed */ }
  }
}

/** HTTP and WebSocket on the broker port. */
export async function http(_o: ScenarioOptions): Promise<Row> {
  const t0 = Date.now();
  const dir = await tempDir("http");
  const broker = await BrokerProcess.start(dir);
  const failures: string[] = [];
  const seen: Record<string, number> = {};
  let alive = false;
  try {
    const p = broker.port;
    const raw = {
      "POST": `POST /send HTTP/1.1\r\nHost: 127.0.0.1:${p}\r\nContent-Type: application/json\r\n` +
        `Content-Length: 17\r\n\r\n{"action":"ping"}`,
      "WebSocket upgrade": `GET / HTTP/1.1\r\nHost: 127.0.0.1:${p}\r\nUpgrade: websocket\r\n` +
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
        "Sec-WebSocket-Version: 13\r\n\r\n",
      "HTTP/2 preface": "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
      "GET with a JSON body": `GET /?action=ping HTTP/1.0\r\n\r\n{"action":"ping"}`,
    };
    for (const [what, text] of Object.entries(raw)) {
      for (let i = 0; i < 25; i++) {
        const reply = await rawExchange(p, text);
        if (reply !== "") failures.push(`${what} got ${JSON.stringify(reply.slice(0, 80))}`);
        bump(seen, reply === "" ? "closed, no bytes" : "answered");
      }
    }
    try {
      const r = await fetch(`http://127.0.0.1:${p}/`, {
        method: "POST",
        body: '{"action":"ping"}',
      });
      failures.push(`fetch got HTTP ${r.status}`);
      await r.body?.cancel();
    } catch {
      bump(seen, "fetch failed");
    }
    const ws = new WebSocket(`ws://127.0.0.1:${p}/`);
    const outcome = await new Promise<string>((resolve) => {
      ws.onopen = () => resolve("open");
      ws.onerror = () => resolve("error");
      ws.onclose = () => resolve("close");
    });
    ws.close();
    if (outcome === "open") failures.push("a WebSocket opened");
    else bump(seen, "WebSocket failed");
    await sleep(50);
    const c = await FramedClient.connect({ host: "127.0.0.1", port: p });
    alive = (await c.request({ action: "ping" })).message === "pong";
    c.close();
    await c.closed;
    return row("hostile: http", t0, {
      action:
        "100 raw HTTP requests (POST, WebSocket upgrade, HTTP/2 preface, GET) + fetch + WebSocket",
      errors: formatCounts(seen),
      alive,
      notes: "every one closed without a byte; the framed protocol still answers",
      failures: failures.slice(0, 5),
    });
  } finally {
    await broker.stop();
    await removeDir(dir);
  }
}

/** Frames declaring 4 GiB, and frames declaring the pre-session cap that stall. */
export async function frames(o: ScenarioOptions): Promise<Row> {
  const t0 = Date.now();
  const dir = await tempDir("frames");
  const idleMs = 2_000;
  const broker = await BrokerProcess.start(dir, { args: ["--idle-timeout-ms", String(idleMs)] });
  const failures: string[] = [];
  const codes: Record<string, number> = {};
  const held: Deno.TcpConn[] = [];
  let alive = false;
  const huge = o.quick ? 300 : 1_000;
  const stalled = o.quick ? 200 : 500;
  try {
    await sleep(200);
    const rss0 = await rssMiB(broker.pid);
    // 4 GiB declared: refused at the header, nothing allocated. 50 at a time:
    // each open connection costs its read buffer (64 KiB), which is not the point here.
    const one4g = async () => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: broker.port });
      try {
        await conn.write(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x7b, 0x7d]));
        const buf = new Uint8Array(4096);
        let text = "";
        for (;;) {
          const n = await conn.read(buf).catch(() => null);
          if (n === null) break;
          text += new TextDecoder().decode(buf.subarray(4, n));
        }
        const code = (() => {
          try {
            return String(JSON.parse(text).code);
          } catch {
            return "no reply";
          }
        })();
        bump(codes, code);
      } finally {
        conn.close();
      }
    };
    for (let i = 0; i < huge; i += 50) await Promise.all(Array.from({ length: 50 }, one4g));
    const rss4g = await rssMiB(broker.pid);
    if (codes.E_BAD_FRAME !== huge) failures.push(`4 GiB frames: ${formatCounts(codes)}`);
    // The cap before a session declared (64 KiB), 1 byte sent, then nothing.
    for (let i = 0; i < stalled; i++) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: broker.port });
      await conn.write(Uint8Array.from([0x00, 0x01, 0x00, 0x00, 0x7b]));
      held.push(conn);
    }
    await sleep(300);
    const rssStalled = await rssMiB(broker.pid);
    const st = await brokerStatus(broker.port);
    const closedIn = await Promise.race([
      // Closed: by the idle timeout, or (past the pre-auth budget) after an E_BUSY reply.
      Promise.all(held.map(async (c) => {
        const buf = new Uint8Array(4096);
        while ((await c.read(buf).catch(() => null)) !== null) { /* the E_BUSY reply */ }
        return true;
      })).then((xs) => xs.every(Boolean)),
      sleep(idleMs + 8_000).then(() => false),
    ]);
    if (!closedIn) failures.push("stalled frames were not closed by the idle timeout");
    alive = (await brokerStatus(broker.port)) !== null;
    const grow4g = rss4g - rss0;
    const growStalled = rssStalled - rss4g;
    // Without `ps` (no RSS figures) only the codes and the closes are checked.
    if (grow4g >= 32) failures.push(`4 GiB frames grew the broker by ${grow4g.toFixed(0)} MiB`);
    if (growStalled >= stalled / 4) {
      failures.push(
        `${stalled} stalled 64 KiB frames grew the broker by ${growStalled.toFixed(0)} MiB`,
      );
    }
    return row("hostile: frames", t0, {
      action:
        `${huge} frames declaring 4 GiB; ${stalled} declaring 64 KiB (the cap before a session) then stalling`,
      errors: formatCounts(codes),
      alive,
      notes:
        `RSS +${grow4g.toFixed(1)} MiB for the 4 GiB ones, +${growStalled.toFixed(1)} MiB for ` +
        `${
          st?.connections ?? "?"
        } stalled connections, all closed by the ${idleMs} ms idle timeout`,
      failures,
    });
  } finally {
    for (const c of held) {
      try {
        c.close();
      } catch { /* closed */ }
    }
    await broker.stop();
    await removeDir(dir);
  }
}
