/**
 * Overload, against the real program as a broker process:
 * - `connections`: 1,000 concurrent connections, each registering, sending
 *   and receiving one message;
 * - `idle`: 200 connections that never send a byte are closed after the idle
 *   timeout while active clients are served meanwhile;
 * - `slowReader`: a client that pipelines requests and never reads a reply:
 *   the broker's memory stays bounded (and, in a full run, the broker closes
 *   it after its write timeout);
 * - `queueCap`: a queue filled to its cap refuses with E_QUEUE_FULL and
 *   drops nothing.
 *
 * @module
 */

import { encodeFrame } from "../../../lib/protocol/framing.ts";
import { FramedClient } from "../../../lib/client/framed_client.ts";
import { WRITE_TIMEOUT_MS } from "../../../lib/broker/connection.ts";
import {
  BrokerProcess,
  brokerStatus,
  bump,
  formatCounts,
  percentile,
  prover,
  removeDir,
  type Row,
  row,
  rssMiB,
  type ScenarioOptions,
  sleep,
  tempDir,
} from "../_common.ts";

type Reg = { c: FramedClient; token: string };

async function register(port: number, auth: (n: string) => string, name: string): Promise<Reg> {
  const c = await FramedClient.connect({ host: "127.0.0.1", port });
  const r = await c.request({ action: "register", instance_id: name, auth_token: auth(name) });
  return { c, token: r.session_token as string };
}

async function closeAll(cs: FramedClient[]): Promise<void> {
  for (const c of cs) c.close();
  await Promise.all(cs.map((c) => c.closed));
}

function code(e: unknown): string {
  return (e as { code?: string }).code ?? (e as Error).name ?? "Error";
}

/** 1,000 concurrent connections: register, send one, receive one. */
export async function connections(o: ScenarioOptions): Promise<Row> {
  const t0 = Date.now();
  const n = o.quick ? 500 : 1_000;
  const dir = await tempDir("conns");
  const broker = await BrokerProcess.start(dir);
  const failures: string[] = [];
  const errors: Record<string, number> = {};
  const clients: FramedClient[] = [];
  let alive = false;
  try {
    const auth = await prover(dir);
    const rss0 = await rssMiB(broker.pid);
    const tConnect = Date.now();
    const regs = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        register(broker.port, auth, `c${i}`).then((r) => {
          clients.push(r.c);
          return r;
        }).catch((e) => {
          bump(errors, code(e));
          return null;
        })),
    );
    const registerMs = Date.now() - tConnect;
    const st = await brokerStatus(broker.port);
    const open = st?.connections ?? 0;
    let sent = 0;
    let acked = 0;
    await Promise.all(regs.map(async (r, i) => {
      if (!r) return;
      sent++;
      try {
        await r.c.request({
          action: "send",
          to_id: `c${(i + 1) % n}`,
          message: { content: `from c${i}` },
        });
        acked++;
      } catch (e) {
        bump(errors, code(e));
      }
    }));
    let delivered = 0;
    const lat: number[] = [];
    await Promise.all(regs.map(async (r, i) => {
      if (!r) return;
      try {
        const t = performance.now();
        const got = await r.c.request({ action: "check", ack: true });
        lat.push(performance.now() - t);
        const msgs = got.messages as { from: string; message: { content: string } }[];
        const want = `c${(i + n - 1) % n}`;
        if (
          msgs.length === 1 && msgs[0].from === want && msgs[0].message.content === `from ${want}`
        ) {
          delivered++;
        } else failures.push(`c${i} got ${JSON.stringify(msgs).slice(0, 120)}`);
      } catch (e) {
        bump(errors, code(e));
      }
    }));
    const rss1 = await rssMiB(broker.pid);
    alive = (await brokerStatus(broker.port)) !== null;
    if (open < n) failures.push(`only ${open} of ${n} connections open at once`);
    if (Object.keys(errors).length) failures.push(`errors: ${formatCounts(errors)}`);
    if (delivered !== n) failures.push(`${n - delivered} messages not delivered`);
    return row("overload: connections", t0, {
      action: `${n} concurrent connections, each registers, sends 1 and receives 1`,
      sent,
      acked,
      delivered,
      lost: acked - delivered,
      errors: formatCounts(errors),
      alive,
      notes: `${open} open at once; all registered in ${registerMs} ms; check p99 ${
        percentile(lat, 99).toFixed(0)
      } ms; broker RSS ${rss0.toFixed(0)} -> ${rss1.toFixed(0)} MiB`,
      failures: failures.slice(0, 5),
    });
  } finally {
    await closeAll(clients);
    await broker.stop();
    await removeDir(dir);
  }
}

/** 200 silent connections are closed after the idle timeout; others are served meanwhile. */
export async function idle(_o: ScenarioOptions): Promise<Row> {
  const t0 = Date.now();
  const idleMs = 2_000;
  const silentN = 200;
  const dir = await tempDir("idle");
  const broker = await BrokerProcess.start(dir, { args: ["--idle-timeout-ms", String(idleMs)] });
  const failures: string[] = [];
  const errors: Record<string, number> = {};
  const silent: Deno.TcpConn[] = [];
  const active: FramedClient[] = [];
  let alive = false;
  try {
    const auth = await prover(dir);
    for (let i = 0; i < silentN; i++) {
      silent.push(await Deno.connect({ hostname: "127.0.0.1", port: broker.port }));
    }
    const opened = Date.now();
    // Each silent connection: when does the broker close it?
    const closedAfter = silent.map(async (c) => {
      const buf = new Uint8Array(16);
      try {
        const n = await c.read(buf);
        return n === null ? Date.now() - opened : -1; // -1: the broker said something
      } catch {
        return Date.now() - opened;
      }
    });
    const regs: Reg[] = [];
    for (let i = 0; i < 10; i++) {
      const r = await register(broker.port, auth, `busy${i}`);
      regs.push(r);
      active.push(r.c);
    }
    let stop = false;
    const lat: number[] = [];
    let sent = 0;
    let acked = 0;
    const loops = regs.map(async (r, i) => {
      for (let k = 0; !stop; k++) {
        const t = performance.now();
        sent++;
        try {
          await r.c.request({
            action: "send",
            to_id: `busy${(i + 1) % 10}`,
            message: { content: `${k}` },
          });
          await r.c.request({ action: "check", ack: true, limit: 100 });
          acked++;
        } catch (e) {
          bump(errors, code(e));
        }
        lat.push(performance.now() - t);
        await sleep(10);
      }
    });
    const closes = await Promise.race([
      Promise.all(closedAfter),
      sleep(idleMs + 8_000).then(() => null),
    ]);
    stop = true;
    await Promise.all(loops);
    const st = await brokerStatus(broker.port);
    alive = st !== null;
    if (!closes) failures.push(`silent connections still open ${idleMs + 8_000} ms later`);
    const times = (closes ?? []).filter((t) => t >= 0).sort((a, b) => a - b);
    if (closes && times.length !== silentN) {
      failures.push("the broker wrote to a silent connection");
    }
    if (times.length && times[0] < idleMs - 100) failures.push(`closed too early: ${times[0]} ms`);
    if (Object.keys(errors).length) {
      failures.push(`active clients saw errors: ${formatCounts(errors)}`);
    }
    if (st && st.connections > 10 + 1) failures.push(`${st.connections} connections left open`);
    return row("overload: idle", t0, {
      action: `${silentN} connections that never send a byte (idle timeout ${idleMs} ms) ` +
        `beside 10 active clients`,
      sent,
      acked,
      errors: formatCounts(errors),
      alive,
      notes: `silent ones closed after ${times[0]}-${times[times.length - 1]} ms; ` +
        `active send+check p50/p99 ${percentile(lat, 50).toFixed(1)}/${
          percentile(lat, 99).toFixed(1)
        } ms ` +
        `(${lat.length} rounds)`,
      failures,
    });
  } finally {
    for (const c of silent) {
      try {
        c.close();
      } catch { /* closed */ }
    }
    await closeAll(active);
    await broker.stop();
    await removeDir(dir);
  }
}

/** A client that sends without end and never reads: bounded broker memory. */
export async function slowReader(o: ScenarioOptions): Promise<Row> {
  const t0 = Date.now();
  const dir = await tempDir("slow");
  const broker = await BrokerProcess.start(dir);
  const failures: string[] = [];
  const errors: Record<string, number> = {};
  let alive = false;
  const others: FramedClient[] = [];
  let hog: Deno.TcpConn | undefined;
  let waitHog: Deno.TcpConn | undefined;
  try {
    const auth = await prover(dir);
    const me = await register(broker.port, auth, "hog");
    others.push(me.c);
    const peer = await register(broker.port, auth, "peer");
    others.push(peer.c);
    await sleep(300);
    const rss0 = await rssMiB(broker.pid);
    // Two hogs: one asks for replies (pings, lists, statuses: reply bytes pile
    // up), one for waits that answer late (no reply bytes: requests pile up).
    hog = await Deno.connect({ hostname: "127.0.0.1", port: broker.port });
    waitHog = await Deno.connect({ hostname: "127.0.0.1", port: broker.port });
    const block = (req: Record<string, unknown>) => {
      const one = encodeFrame(req);
      const all = new Uint8Array(one.length * 10_000);
      for (let i = 0; i < 10_000; i++) all.set(one, i * one.length);
      return all;
    };
    const replyChunks = [
      block({ action: "ping" }),
      block({ action: "list", session_token: me.token }),
      block({ action: "status", session_token: me.token }),
    ];
    const waitChunks = [block({ action: "wait", timeout_ms: 300_000, session_token: me.token })];
    let written = 0;
    let offered = 0;
    let requests = 0;
    let replyHogClosed = 0;
    const pump = async (conn: Deno.TcpConn, chunks: Uint8Array[], onClose: () => void) => {
      try {
        for (let i = 0; i < 200; i++) {
          const chunk = chunks[i % chunks.length];
          for (let at = 0; at < chunk.length;) {
            const n = await conn.write(chunk.subarray(at));
            at += n;
            written += n;
          }
          requests += 10_000;
        }
      } catch {
        onClose();
      }
    };
    for (const chunks of [replyChunks, waitChunks]) {
      for (let i = 0; i < 200; i++) offered += chunks[i % chunks.length].length;
    }
    const writing = Promise.all([
      pump(hog, replyChunks, () => replyHogClosed = Date.now()),
      pump(waitHog, waitChunks, () => {}),
    ]);
    const tHog = Date.now();
    let peak = rss0;
    let maxWaiting = 0;
    const lat: number[] = [];
    const watchMs = o.quick ? 6_000 : 10_000;
    const until = Date.now() + watchMs;
    while (Date.now() < until) {
      peak = Math.max(peak, await rssMiB(broker.pid));
      const t = performance.now();
      try {
        await peer.c.request({ action: "send", to_id: "peer", message: { content: "still here" } });
        await peer.c.request({ action: "check", ack: true });
      } catch (e) {
        bump(errors, code(e));
      }
      lat.push(performance.now() - t);
      const st = await brokerStatus(broker.port);
      maxWaiting = Math.max(maxWaiting, st?.waiting ?? 0);
      await sleep(100);
    }
    let closedMs: number | undefined;
    if (!o.quick) {
      // The broker gives up on a peer that takes no bytes: its idle clock runs while
      // a frame is cut off by the paused reading (10 s), its write timeout after 30 s.
      const t = Date.now();
      while (!replyHogClosed && Date.now() - t < WRITE_TIMEOUT_MS + 10_000) {
        peak = Math.max(peak, await rssMiB(broker.pid));
        await sleep(250);
      }
      if (replyHogClosed) closedMs = replyHogClosed - tHog;
      else failures.push("the broker kept the non-reading connection open");
    }
    alive = (await brokerStatus(broker.port)) !== null;
    const growth = peak - rss0;
    // Without `ps` (no RSS figures) the bound on held requests is still checked.
    if (growth >= 128) failures.push(`broker memory grew ${growth.toFixed(0)} MiB`);
    if (maxWaiting >= 2_000) failures.push(`${maxWaiting} waits held by one connection`);
    if (Object.keys(errors).length) {
      failures.push(`the other client saw errors: ${formatCounts(errors)}`);
    }
    hog.close();
    waitHog.close();
    hog = waitHog = undefined;
    await writing;
    return row("overload: slow reader", t0, {
      action: `two connections pipeline requests and never read: ` +
        `${(written / 1048576).toFixed(1)} MB (${(requests / 1000).toFixed(0)}k requests) taken ` +
        `of ${(offered / 1048576).toFixed(0)} MB offered`,
      errors: formatCounts(errors),
      alive,
      notes: `broker RSS ${rss0.toFixed(0)} -> peak ${peak.toFixed(0)} MiB; ` +
        `at most ${maxWaiting} waits held; ` +
        `other client p99 ${percentile(lat, 99).toFixed(1)} ms` +
        (closedMs
          ? `; the broker closed it after ${(closedMs / 1000).toFixed(0)} s (not reading)`
          : ""),
      failures,
    });
  } finally {
    for (const c of [hog, waitHog]) {
      try {
        c?.close();
      } catch { /* closed */ }
    }
    await closeAll(others);
    await broker.stop();
    await removeDir(dir);
  }
}

/** A queue filled to its cap: clear error, nothing dropped. */
export async function queueCap(_o: ScenarioOptions): Promise<Row> {
  const t0 = Date.now();
  const cap = 1_000;
  const dir = await tempDir("cap");
  const broker = await BrokerProcess.start(dir, { args: ["--queue-cap", String(cap)] });
  const failures: string[] = [];
  const errors: Record<string, number> = {};
  const cs: FramedClient[] = [];
  let alive = false;
  try {
    const auth = await prover(dir);
    const a = await register(broker.port, auth, "filler");
    const b = await register(broker.port, auth, "slowpoke");
    cs.push(a.c, b.c);
    let sent = 0;
    let acked = 0;
    const send = async (content: string) => {
      sent++;
      try {
        await a.c.request({ action: "send", to_id: "slowpoke", message: { content } });
        acked++;
        return null;
      } catch (e) {
        bump(errors, code(e));
        return e as Error & { code?: string; details?: Record<string, unknown> };
      }
    };
    for (let i = 0; i < cap; i++) await send(`m${i}`);
    const refused: (Error & { code?: string })[] = [];
    for (let i = 0; i < 200; i++) {
      const e = await send(`over${i}`);
      if (e) refused.push(e);
    }
    if (refused.length !== 200 || refused.some((e) => e.code !== "E_QUEUE_FULL")) {
      failures.push(
        `over the cap: ${refused.length} refused, codes ${[
          ...new Set(refused.map((e) => e.code)),
        ]}`,
      );
    }
    const msg = refused[0]?.message ?? "";
    if (!/Queue of "slowpoke" is full \(1000 messages\)/.test(msg)) {
      failures.push(`unclear error: ${msg}`);
    }
    const big = await send("big ".repeat(5_000));
    if (!big) failures.push("a large message got past the cap");
    const bc = await a.c.request({ action: "broadcast", message: { content: "all" } });
    if (!(bc.missed as string[]).includes("slowpoke")) {
      failures.push("broadcast did not report the full queue");
    }
    // Nothing dropped: exactly the first `cap`, in order.
    const got: string[] = [];
    for (;;) {
      const r = await b.c.request({ action: "check", limit: 300 });
      const msgs = r.messages as { id: string; message: { content: string } }[];
      if (msgs.length === 0) break;
      got.push(...msgs.map((m) => m.message.content));
      await b.c.request({ action: "ack", ids: msgs.map((m) => m.id) });
    }
    const expected = Array.from({ length: cap }, (_, i) => `m${i}`);
    const intact = got.length === cap && got.every((x, i) => x === expected[i]);
    if (!intact) failures.push(`queue content: ${got.length} messages, first ${got.slice(0, 3)}`);
    const again = await send("after");
    if (again) failures.push("still refused after the queue was read");
    const last = await b.c.request({ action: "check", ack: true });
    const lastMsgs = last.messages as { message: { content: string } }[];
    if (lastMsgs.length === 1 && lastMsgs[0].message.content === "after") got.push("after");
    else failures.push("the send after the queue was read did not arrive");
    alive = (await brokerStatus(broker.port)) !== null;
    return row("overload: queue cap", t0, {
      action: `queue cap ${cap}: ${cap} sends, then 200 more, a large one and a broadcast`,
      sent,
      acked,
      delivered: got.length,
      lost: acked - got.length,
      errors: formatCounts(errors),
      alive,
      notes: `every one over the cap refused: "${
        msg.slice(0, 60)
      }…"; the ${cap} kept read back whole, in order`,
      failures,
    });
  } finally {
    await closeAll(cs);
    await broker.stop();
    await removeDir(dir);
  }
}
