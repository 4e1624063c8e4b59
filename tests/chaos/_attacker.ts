/**
 * An attacking process for the hardening scenarios (another process than the
 * suite's, as a real attacker on the machine would be):
 *
 * - `flood PORT SECONDS RATE`: wrong registration proofs at RATE a second on
 *   fresh connections (10 per connection, pipelined); prints one JSON line
 *   `{attempts, codes}` at the end.
 * - `hold PORT COUNT`: opens COUNT connections, pings on each, prints
 *   `{held, codes}`, and keeps them until its stdin closes.
 *
 * @module
 */

import { encodeFrame, FrameDecoder } from "../../lib/protocol/framing.ts";

const dec = new TextDecoder();

async function exchange(port: number, frames: unknown[]): Promise<string[]> {
  const codes: string[] = [];
  let conn: Deno.Conn;
  try {
    conn = await Deno.connect({ hostname: "127.0.0.1", port });
  } catch (e) {
    return [(e as Error).name];
  }
  try {
    const out = frames.map((f) => encodeFrame(f));
    const all = new Uint8Array(out.reduce((n, f) => n + f.length, 0));
    let at = 0;
    for (const f of out) {
      all.set(f, at);
      at += f.length;
    }
    await conn.write(all);
    const d = new FrameDecoder(1 << 20);
    const buf = new Uint8Array(65536);
    while (codes.length < frames.length) {
      const n = await conn.read(buf);
      if (n === null) break;
      for (const ev of d.push(buf.subarray(0, n))) {
        if (ev.kind === "frame") {
          const r = JSON.parse(dec.decode(ev.payload));
          codes.push(r.status === "ok" ? "ok" : String(r.code));
        }
      }
    }
  } catch (e) {
    codes.push((e as Error).name);
  } finally {
    try {
      conn.close();
    } catch { /* closed */ }
  }
  return codes;
}

async function flood(port: number, seconds: number, rate: number): Promise<void> {
  const per = 10;
  const counts: Record<string, number> = {};
  let attempts = 0;
  const until = Date.now() + seconds * 1000;
  const tick = 50;
  const inFlight = new Set<Promise<void>>();
  let k = 0;
  while (Date.now() < until) {
    const t = Date.now();
    for (let c = 0; c < Math.max(1, Math.round(rate * tick / 1000 / per)); c++) {
      const frames = Array.from({ length: per }, () => ({
        action: "register",
        instance_id: "victim",
        auth_token: (k++).toString(16).padStart(64, "0"),
      }));
      attempts += per;
      const p: Promise<void> = exchange(port, frames).then((codes) => {
        for (const code of codes) counts[code] = (counts[code] ?? 0) + 1;
      }).finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
    await new Promise((r) => setTimeout(r, Math.max(0, tick - (Date.now() - t))));
  }
  await Promise.all(inFlight);
  console.log(JSON.stringify({ attempts, codes: counts }));
}

async function hold(port: number, count: number): Promise<void> {
  const conns: Deno.Conn[] = [];
  const codes: Record<string, number> = {};
  for (let i = 0; i < count; i++) {
    const c = await Deno.connect({ hostname: "127.0.0.1", port });
    conns.push(c);
  }
  let held = 0;
  await Promise.all(conns.map(async (c) => {
    await c.write(encodeFrame({ action: "ping", id: 1 })).catch(() => {});
    const buf = new Uint8Array(4096);
    const n = await c.read(buf).catch(() => null);
    let code = "closed";
    if (n !== null && n > 4) {
      const r = JSON.parse(dec.decode(buf.subarray(4, n)));
      code = r.status === "ok" ? "ok" : String(r.code);
    }
    codes[code] = (codes[code] ?? 0) + 1;
    if (code === "ok") held++;
  }));
  console.log(JSON.stringify({ held, codes }));
  // Hold until told to go.
  for await (const _ of Deno.stdin.readable) { /* wait for EOF */ }
  for (const c of conns) {
    try {
      c.close();
    } catch { /* closed */ }
  }
}

if (import.meta.main) {
  const [mode, port, a, b] = Deno.args;
  if (mode === "flood") await flood(Number(port), Number(a), Number(b));
  else if (mode === "hold") await hold(Number(port), Number(a));
  else throw new Error(`unknown mode ${mode}`);
}
