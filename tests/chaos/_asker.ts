/**
 * A process of pending asks for the `ask-flood` chaos scenario (another
 * process than the suite's, so the broker's per-process share applies):
 *
 * - `ask PORT DATADIR PREFIX SESSIONS PER EXTRA`: registers SESSIONS sessions
 *   (one connection each); each sends PER questions to `sink` and then a
 *   `wait_reply` of 300 s for each, pipelined; then one more session sends
 *   EXTRA more. Prints one JSON line `{codes}` (the answers that came at once:
 *   refusals) once every refusal it expects is in or nothing came for 2 s,
 *   and keeps its waits until its stdin closes.
 * - `drop PORT DATADIR PREFIX COUNT`: opens COUNT connections, each registers,
 *   asks one question and sends a `wait_reply` of 300 s; prints `{held,
 *   codes}` and exits at once, its connections closed by the exit.
 *
 * @module
 */

import { encodeFrame, FrameDecoder } from "../../lib/protocol/framing.ts";
import { prover } from "./_common.ts";

const dec = new TextDecoder();
type Reply = Record<string, unknown>;

/** One framed connection: requests by id, every reply's code counted. */
class Link {
  readonly #conn: Deno.Conn;
  readonly #waiting = new Map<number, (r: Reply) => void>();
  #next = 1;
  readonly codes: Record<string, number>;
  lastReply = Date.now();
  closed: Promise<void>;

  constructor(conn: Deno.Conn, codes: Record<string, number>) {
    this.#conn = conn;
    this.codes = codes;
    this.closed = this.#read();
  }

  static async open(port: number, codes: Record<string, number>): Promise<Link> {
    return new Link(await Deno.connect({ hostname: "127.0.0.1", port }), codes);
  }

  async #read(): Promise<void> {
    const d = new FrameDecoder(1 << 24);
    const buf = new Uint8Array(65536);
    for (;;) {
      let n: number | null;
      try {
        n = await this.#conn.read(buf);
      } catch {
        n = null;
      }
      if (n === null) break;
      for (const ev of d.push(buf.subarray(0, n))) {
        if (ev.kind !== "frame") continue;
        const r = JSON.parse(dec.decode(ev.payload)) as Reply;
        this.lastReply = Date.now();
        const w = this.#waiting.get(r.id as number);
        if (w) {
          this.#waiting.delete(r.id as number);
          w(r);
        } else {
          const k = r.status === "ok" ? "answered" : String(r.code);
          this.codes[k] = (this.codes[k] ?? 0) + 1;
        }
      }
    }
    this.close();
    for (const w of this.#waiting.values()) w({ status: "error", code: "closed" });
  }

  /** Sends without waiting; the reply is only counted. */
  async post(frames: Reply[]): Promise<void> {
    const out = frames.map((f) => encodeFrame({ id: this.#next++, ...f }));
    const all = new Uint8Array(out.reduce((n, f) => n + f.length, 0));
    let at = 0;
    for (const f of out) {
      all.set(f, at);
      at += f.length;
    }
    for (let w = 0; w < all.length;) w += await this.#conn.write(all.subarray(w));
  }

  /** Sends and returns the replies, in order. */
  async ask(frames: Reply[]): Promise<Reply[]> {
    const first = this.#next;
    const got = frames.map((_, i) => new Promise<Reply>((r) => this.#waiting.set(first + i, r)));
    await this.post(frames);
    return await Promise.all(got);
  }

  close(): void {
    try {
      this.#conn.close();
    } catch { /* closed */ }
  }
}

async function session(
  port: number,
  auth: (n: string) => string,
  name: string,
  codes: Record<string, number>,
): Promise<Link> {
  const l = await Link.open(port, codes);
  const [r] = await l.ask([{ action: "register", instance_id: name, auth_token: auth(name) }]);
  if (r.status !== "ok") throw new Error(`register ${name}: ${r.code} ${r.message}`);
  return l;
}

async function questions(l: Link, n: number): Promise<string[]> {
  const sent = await l.ask(
    Array.from({ length: n }, (_, i) => ({
      action: "send",
      to_id: "sink",
      message: { content: `question ${i}` },
    })),
  );
  return sent.map((r) => {
    if (r.status !== "ok") throw new Error(`send: ${r.code} ${r.message}`);
    return r.message_id as string;
  });
}

const waitReplies = (ids: string[]) =>
  ids.map((id) => ({ action: "wait_reply", message_id: id, timeout_ms: 300_000 }));

async function ask(args: string[]): Promise<void> {
  const [port, dataDir, prefix] = [Number(args[0]), args[1], args[2]];
  const [sessions, per, extra] = args.slice(3, 6).map(Number);
  const auth = await prover(dataDir);
  const codes: Record<string, number> = {};
  const links: Link[] = [];
  for (let s = 0; s <= sessions; s++) {
    const l = await session(port, auth, `${prefix}-${s}`, codes);
    links.push(l);
    const n = s < sessions ? per : extra;
    if (n > 0) await l.post(waitReplies(await questions(l, n)));
  }
  const quiet = Date.now() + 2_000;
  while (Date.now() < quiet && (codes.E_LIMIT ?? 0) < extra) {
    await new Promise((r) => setTimeout(r, 20));
  }
  console.log(JSON.stringify({ codes }));
  // Keep the waits until told to go.
  for await (const _ of Deno.stdin.readable) { /* drain */ }
  for (const l of links) l.close();
}

async function drop(args: string[]): Promise<void> {
  const [port, dataDir, prefix, count] = [Number(args[0]), args[1], args[2], Number(args[3])];
  const auth = await prover(dataDir);
  const codes: Record<string, number> = {};
  let held = 0;
  // All at once, as an attacker would.
  await Promise.all(Array.from({ length: count }, async (_, i) => {
    try {
      const l = await session(port, auth, `${prefix}-${i}`, codes);
      await l.post(waitReplies(await questions(l, 1)));
      held++;
    } catch {
      // Refused (E_BUSY past its share): the refusal was counted as it came.
    }
  }));
  // Give the last wait_reply a moment to be read, then go, closing everything.
  await new Promise((r) => setTimeout(r, 200));
  console.log(JSON.stringify({ held, codes }));
  Deno.exit(0);
}

if (import.meta.main) {
  const [mode, ...rest] = Deno.args;
  if (mode === "ask") await ask(rest);
  else if (mode === "drop") await drop(rest);
  else {
    console.error("usage: _asker.ts ask|drop …");
    Deno.exit(2);
  }
}
