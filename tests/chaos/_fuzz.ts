/**
 * A seeded, reproducible fuzzer of the broker's wire: random and mutated
 * requests in both framings (length-prefixed, and legacy bare JSON), sent
 * to a live broker, with every reply checked. Shared by the chaos `fuzz`
 * scenario (100,000+ frames) and the unit test in tests/broker/hostile_test.ts.
 *
 * Accounting: on a framed connection every frame with a valid length gets
 * exactly one reply (ok, or error with a known code); a frame with a bad length
 * (0, over the cap, 4 GiB) gets one E_BAD_FRAME reply and the connection
 * closes; nothing else may happen. A legacy connection gets one JSON reply (or
 * a clean close when the bytes were never a complete object).
 *
 * @module
 */

import { isErrorCode } from "../../lib/protocol/errors.ts";
import { FrameDecoder } from "../../lib/protocol/framing.ts";
import { ACTIONS } from "../../lib/protocol/messages.ts";

/** mulberry32: a tiny seeded PRNG, uniform in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const enc = new TextEncoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** What the fuzzer needs to know about its target. */
export interface FuzzContext {
  /** A valid session token of the fuzzer's own identity (deeper code paths). */
  token?: string;
  /** The auth proof of a name (lets some registers succeed). */
  auth?: (name: string) => string;
  /** The broker's frame cap. */
  maxFrame: number;
}

/** Random helpers over one PRNG. */
class Rand {
  constructor(readonly next: () => number) {}
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }
  /** Names never equal to a fixture's ("keeper", "sender"): they start with "f". */
  name(): string {
    if (this.chance(0.1)) {
      return this.pick(["", "../../etc/passwd", "a".repeat(33), "sys tem", "all", "*", "human"]);
    }
    return "f" + this.int(1e6).toString(36);
  }
  text(): string {
    switch (this.int(6)) {
      case 0:
        return "";
      case 1:
        return "hello " + this.int(1000);
      case 2:
        return "\u0000\u0001\ud800\udfff\u2028✓漢🙂".repeat(1 + this.int(20));
      case 3:
        return "x".repeat(this.int(20_000)); // sometimes over the large-message threshold
      case 4:
        return String.fromCharCode(...Array.from({ length: 50 }, () => this.int(0x10000)));
      default:
        return '{"nested":"json"}';
    }
  }
  value(depth = 0): unknown {
    switch (this.int(depth > 3 ? 6 : 9)) {
      case 0:
        return null;
      case 1:
        return this.chance(0.5);
      case 2:
        return this.pick([0, -1, 1.5, 1e308, -1e-308, 2 ** 53 + 1, 9e20, -0]);
      case 3:
        return this.text();
      case 4:
        return this.int(1e9);
      case 5:
        return this.name();
      case 6:
        return Array.from({ length: this.int(5) }, () => this.value(depth + 1));
      case 7: {
        const o: Record<string, unknown> = {};
        for (let i = this.int(4); i > 0; i--) {
          // defineProperty: a "__proto__" key must reach the wire as a plain key.
          Object.defineProperty(o, this.pick(["a", "b", "content", "__proto__"]), {
            value: this.value(depth + 1),
            enumerable: true,
            configurable: true,
            writable: true,
          });
        }
        return o;
      }
      default: {
        let v: unknown = 1; // deep nesting
        for (let i = 50 + this.int(5000); i > 0; i--) v = [v];
        return v;
      }
    }
  }
}

function template(r: Rand, ctx: FuzzContext): Record<string, unknown> {
  const action = r.chance(0.05) ? r.name() : r.pick(ACTIONS);
  const req: Record<string, unknown> = { action };
  if (r.chance(0.7)) req.id = r.chance(0.8) ? r.int(1e9) : r.text().slice(0, 200);
  if (ctx.token && r.chance(0.6)) req.session_token = ctx.token;
  else if (r.chance(0.2)) req.session_token = r.pick(["", "x", "A".repeat(43), r.text()]);
  switch (action) {
    case "register": {
      const name = r.name();
      req.instance_id = name;
      req.auth_token = ctx.auth && r.chance(0.3)
        ? ctx.auth(name)
        : r.pick(["", "0".repeat(64), r.text()]);
      break;
    }
    case "send":
      req.to_id = r.chance(0.05) ? r.pick(["all", "*", "system"]) : r.name();
      req.from_id = r.name();
      req.message = r.chance(0.1)
        ? r.text()
        : { content: r.text(), ...(r.chance(0.3) ? { data: r.value() } : {}) };
      break;
    case "broadcast":
      req.message = { content: r.text() };
      break;
    case "check":
      req.ack = r.chance(0.5);
      req.limit = r.pick([1, 10, 100, 10_000, 0, -1, 1.5]);
      req.instance_id = r.name();
      break;
    case "ack":
      req.ids = Array.from(
        { length: r.int(20) },
        () => r.chance(0.9) ? r.text().slice(0, 30) : r.value(),
      );
      break;
    case "wait":
      req.timeout_ms = r.int(30);
      req.ack = r.chance(0.5);
      break;
    case "rename":
      req.new_id = r.name();
      if (r.chance(0.5)) req.old_id = r.name();
      break;
    case "claim":
    case "release":
    case "claims": {
      if (action === "claim" || r.chance(0.5)) req.root = r.pick(["/repo", "/", "rel", r.text()]);
      const path = () =>
        r.pick(["src/**", "**/*.ts", "a/[!b-d]?/{x,y}*", "../up", "a//b", "/abs", r.text()]);
      if (action === "claim" || r.chance(0.5)) {
        req.paths = Array.from({ length: r.int(5) }, () => r.chance(0.9) ? path() : r.value());
      }
      if (r.chance(0.3)) req.ttl_ms = r.pick([1000, 0, 86_400_001, 1.5]);
      if (r.chance(0.3)) req.shared = r.chance(0.5);
      if (r.chance(0.3)) req.reason = r.text();
      break;
    }
  }
  return req;
}

function mutateObject(r: Rand, req: Record<string, unknown>): void {
  for (let n = r.int(3); n > 0; n--) {
    const keys = Object.keys(req);
    const key = keys.length ? r.pick(keys) : "action";
    switch (r.int(5)) {
      case 0:
        delete req[key];
        break;
      case 1:
        req[key] = r.value();
        break;
      case 2:
        req[r.pick(["extra", "message", "data", "ids", "limit", "timeout_ms", "id"])] = r.value();
        break;
      case 3:
        req[key] = "z".repeat(r.int(5000));
        break;
      default:
        req[key] = [req[key], req[key]];
    }
  }
}

const INVALID_UTF8 = [[0xff], [0xc3, 0x28], [0x80], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [
  0xf4,
  0x90,
  0x80,
  0x80,
]];

function mutateBytes(r: Rand, b: Uint8Array): Uint8Array {
  const out = [...b];
  for (let n = 1 + r.int(4); n > 0; n--) {
    const at = r.int(out.length + 1);
    switch (r.int(6)) {
      case 0:
        if (out.length) out[Math.min(at, out.length - 1)] = r.int(256);
        break;
      case 1:
        out.splice(at, 0, ...r.bytes(1 + r.int(8)));
        break;
      case 2:
        out.splice(at, 1 + r.int(16));
        break;
      case 3:
        out.splice(at, 0, ...r.pick(INVALID_UTF8));
        break;
      case 4:
        out.length = Math.max(1, at); // truncate
        break;
      default:
        out.splice(at, 0, ...out.slice(at, at + r.int(32))); // duplicate a run
    }
  }
  if (out.length === 0) out.push(0x7b);
  return Uint8Array.from(out);
}

/** A `wait` the broker would accept could block a long time: keep it short. */
function tameWait(payload: Uint8Array): Uint8Array {
  let v: unknown;
  try {
    v = JSON.parse(strictUtf8.decode(payload));
  } catch {
    return payload;
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) return payload;
  const o = v as Record<string, unknown>;
  if (o.action !== "wait") return payload;
  const t = o.timeout_ms;
  if (typeof t === "number" && t >= 0 && t <= 50) return payload;
  o.timeout_ms = 10;
  return enc.encode(JSON.stringify(o));
}

/** One generated payload. */
export interface FuzzPayload {
  bytes: Uint8Array;
  kind: "mutated" | "bytes-mutated" | "random";
}

/** Generates payloads (no length prefix) from a seed. */
export class FuzzGenerator {
  readonly #r: Rand;
  readonly #ctx: FuzzContext;
  constructor(seed: number, ctx: FuzzContext) {
    this.#r = new Rand(mulberry32(seed));
    this.#ctx = ctx;
  }

  /** Chance in [0, 1) from the same stream (for callers' choices). */
  chance(p: number): boolean {
    return this.#r.chance(p);
  }

  /** A random int in [0, n). */
  int(n: number): number {
    return this.#r.int(n);
  }

  /** The next payload, at most `max` bytes. */
  payload(max: number): FuzzPayload {
    const r = this.#r;
    let bytes: Uint8Array;
    let kind: FuzzPayload["kind"];
    const roll = r.next();
    if (roll < 0.1) {
      kind = "random";
      bytes = r.bytes(1 + r.int(r.chance(0.1) ? 4000 : 200));
    } else {
      const req = template(r, this.#ctx);
      if (r.chance(0.4)) mutateObject(r, req);
      bytes = enc.encode(JSON.stringify(req));
      kind = "mutated";
      if (r.chance(0.25)) {
        bytes = mutateBytes(r, bytes);
        kind = "bytes-mutated";
      }
    }
    bytes = tameWait(bytes);
    if (bytes.length > max) bytes = bytes.subarray(0, max);
    return { bytes, kind };
  }
}

/** Checks one reply object: a status, and a known code on errors. Returns a problem or null. */
export function replyProblem(reply: unknown): string | null {
  if (typeof reply !== "object" || reply === null || Array.isArray(reply)) {
    return `reply is not an object: ${JSON.stringify(reply)?.slice(0, 200)}`;
  }
  const r = reply as Record<string, unknown>;
  if (r.status === "ok") return null;
  if (r.status !== "error") return `reply without status: ${JSON.stringify(r).slice(0, 200)}`;
  if (!isErrorCode(r.code)) {
    return `error reply without a known code: ${JSON.stringify(r).slice(0, 200)}`;
  }
  if (typeof r.message !== "string" || r.message === "") return `error reply without a message`;
  if (r.code === "E_INTERNAL") return `internal error: ${r.message}`;
  return null;
}

function prefix(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + payload.length);
  new DataView(out.buffer).setUint32(0, payload.length);
  out.set(payload, 4);
  return out;
}

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let at = 0;
  while (at < data.length) at += await conn.write(data.subarray(at));
}

/** What a fuzz run saw. */
export interface FuzzStats {
  frames: number;
  framed: number;
  legacy: number;
  fatal: number;
  /**
   * Frames over the cap that applied when they arrived (64 KiB before a
   * session): answered E_BAD_FRAME with that cap, then the broker closed.
   */
  capped: number;
  connections: number;
  ok: number;
  errors: number;
  /** Count of each error code seen. */
  codes: Record<string, number>;
  /** Broken promises: hangs, missing or malformed replies, E_INTERNAL. */
  problems: string[];
}

/** Options of a fuzz run. */
export interface FuzzOptions extends FuzzContext {
  port: number;
  seed: number;
  frames: number;
  /** Concurrent framed connections (default 4). */
  concurrency?: number;
  /** Share of frames sent as legacy requests, one connection each (default 0.03). */
  legacyShare?: number;
  /** Share of framed batches that end with a fatal frame (default 0.1). */
  fatalShare?: number;
  /** Frames written in one go before reading their replies (default 200). */
  batch?: number;
  /** A reply that does not come within this is a hang (default 10 s). */
  replyTimeoutMs?: number;
}

/** Reads framed replies from a connection. */
class ReplyReader {
  readonly #conn: Deno.Conn;
  readonly #frames = new FrameDecoder(64 * 1024 * 1024);
  readonly #buf = new Uint8Array(256 * 1024);
  #queue: Uint8Array[] = [];
  closed = false;
  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }
  /** The next reply payload, or null on close or timeout (`timedOut` tells). */
  async next(timeoutMs: number): Promise<{ payload: Uint8Array | null; timedOut: boolean }> {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        this.#conn.close();
      } catch { /* closed */ }
    }, timeoutMs);
    try {
      while (this.#queue.length === 0) {
        let n: number | null = null;
        try {
          n = await this.#conn.read(this.#buf);
        } catch {
          n = null;
        }
        if (n === null) {
          this.closed = true;
          return { payload: null, timedOut };
        }
        for (const ev of this.#frames.push(this.#buf.subarray(0, n))) {
          if (ev.kind === "frame") this.#queue.push(ev.payload);
          else return { payload: null, timedOut: false };
        }
      }
      return { payload: this.#queue.shift()!, timedOut: false };
    } finally {
      clearTimeout(timer);
    }
  }
}

const dec = new TextDecoder();

/** Runs a fuzz campaign; never throws for what the broker does, only records it. */
export async function runFuzz(o: FuzzOptions): Promise<FuzzStats> {
  const gen = new FuzzGenerator(o.seed, o);
  const stats: FuzzStats = {
    frames: 0,
    framed: 0,
    legacy: 0,
    fatal: 0,
    capped: 0,
    connections: 0,
    ok: 0,
    errors: 0,
    codes: {},
    problems: [],
  };
  const batch = o.batch ?? 200;
  const timeout = o.replyTimeoutMs ?? 10_000;
  const legacyShare = o.legacyShare ?? 0.03;
  const fatalShare = o.fatalShare ?? 0.1;
  const see = (payload: Uint8Array, where: string) => {
    let v: unknown;
    try {
      v = JSON.parse(dec.decode(payload));
    } catch {
      stats.problems.push(`${where}: reply is not JSON`);
      return undefined;
    }
    const p = replyProblem(v);
    if (p) stats.problems.push(`${where}: ${p}`);
    const r = v as Record<string, unknown>;
    if (r?.status === "ok") stats.ok++;
    else if (r?.status === "error") {
      stats.errors++;
      const code = String(r.code);
      stats.codes[code] = (stats.codes[code] ?? 0) + 1;
    }
    return r;
  };
  // Frames are generated up front, in one order, so a seed means one campaign.
  type Job =
    | { kind: "framed"; payloads: Uint8Array[]; fatal?: Uint8Array }
    | { kind: "legacy"; payload: Uint8Array };
  const jobs: Job[] = [];
  let planned = 0;
  while (planned < o.frames) {
    if (gen.chance(legacyShare * batch / (1 + legacyShare * (batch - 1)))) {
      let p = gen.payload(o.maxFrame).bytes;
      if (p[0] !== 0x7b) p = Uint8Array.from([0x7b, ...p]); // legacy starts with "{"
      jobs.push({ kind: "legacy", payload: p });
      planned++;
      continue;
    }
    const n = Math.min(batch, o.frames - planned);
    const payloads: Uint8Array[] = [];
    for (let i = 0; i < n; i++) payloads.push(gen.payload(o.maxFrame).bytes);
    planned += n;
    const job: Job = { kind: "framed", payloads };
    if (planned < o.frames && gen.chance(fatalShare)) {
      const bad = gen.int(4);
      const header = new Uint8Array(4);
      const view = new DataView(header.buffer);
      if (bad === 0) view.setUint32(0, 0);
      else if (bad === 1) view.setUint32(0, 0xffffffff);
      else if (bad === 2) view.setUint32(0, o.maxFrame + 1 + gen.int(1000));
      else header.set([0x01, gen.int(256), gen.int(256), gen.int(256)]); // 16 MiB and up
      job.fatal = header;
      planned++;
    }
    jobs.push(job);
  }

  let next = 0;
  const worker = async () => {
    let conn: Deno.TcpConn | undefined;
    let reader: ReplyReader | undefined;
    const drop = () => {
      try {
        conn?.close();
      } catch { /* closed */ }
      conn = undefined;
      reader = undefined;
    };
    try {
      while (next < jobs.length) {
        const job = jobs[next++];
        if (job.kind === "legacy") {
          stats.frames++;
          stats.legacy++;
          stats.connections++;
          await legacyOne(o.port, job.payload, timeout, see, stats);
          continue;
        }
        if (!conn) {
          conn = await Deno.connect({ hostname: "127.0.0.1", port: o.port });
          reader = new ReplyReader(conn);
          stats.connections++;
        }
        const parts = job.payloads.map(prefix);
        const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
        let at = 0;
        for (const p of parts) {
          all.set(p, at);
          at += p.length;
        }
        const writing = writeAll(conn, all).catch((e) => e as Error);
        let capped = false;
        for (let i = 0; i < job.payloads.length; i++) {
          const { payload, timedOut } = await reader!.next(timeout);
          if (payload === null) {
            stats.problems.push(
              timedOut
                ? `hang: no reply within ${timeout} ms (${i} of ${job.payloads.length} answered)`
                : `connection closed after ${i} of ${job.payloads.length} replies`,
            );
            break;
          }
          const r = see(payload, "framed");
          if (r?.code === "E_BAD_FRAME") {
            // Only a frame over the cap the broker names may end the connection.
            const cap = r.max_frame;
            const size = job.payloads[i].length;
            if (typeof cap !== "number" || size <= cap) {
              stats.problems.push(`E_BAD_FRAME for a ${size}-byte frame (cap ${cap})`);
            }
            capped = true;
            break;
          }
        }
        const w = await writing;
        // After a refused frame the broker closes while the rest is still being written.
        if (w instanceof Error && !capped) stats.problems.push(`write failed: ${w.message}`);
        stats.frames += job.payloads.length;
        stats.framed += job.payloads.length;
        if (capped) {
          stats.capped++;
          const after = await reader!.next(timeout);
          if (after.payload !== null || after.timedOut) {
            stats.problems.push("a frame over the cap: the connection stayed open");
          }
          drop();
          continue;
        }
        if (reader!.closed) {
          drop();
          continue;
        }
        if (job.fatal) {
          stats.frames++;
          stats.fatal++;
          await writeAll(conn, job.fatal).catch(() => {});
          const { payload } = await reader!.next(timeout);
          const r = payload ? see(payload, "fatal") : undefined;
          if (!r || r.code !== "E_BAD_FRAME") {
            stats.problems.push(`fatal frame: expected E_BAD_FRAME, got ${JSON.stringify(r)}`);
          }
          const after = await reader!.next(timeout);
          if (after.payload !== null || after.timedOut) {
            stats.problems.push("fatal frame: the connection stayed open");
          }
          drop();
        }
      }
    } finally {
      drop();
    }
  };
  await Promise.all(Array.from({ length: o.concurrency ?? 4 }, worker));
  return stats;
}

async function legacyOne(
  port: number,
  payload: Uint8Array,
  timeout: number,
  see: (p: Uint8Array, where: string) => unknown,
  stats: FuzzStats,
): Promise<void> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const timer = setTimeout(() => {
    stats.problems.push(`legacy hang: no close within ${timeout} ms`);
    try {
      conn.close();
    } catch { /* closed */ }
  }, timeout);
  try {
    await writeAll(conn, payload).catch(() => {});
    // Half-close so an object that never completes ends at once, not at the idle timeout.
    await conn.closeWrite().catch(() => {});
    const parts: Uint8Array[] = [];
    const buf = new Uint8Array(65536);
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
    const total = parts.reduce((n, p) => n + p.length, 0);
    if (total === 0) return; // never a complete object: closed without a reply
    const all = new Uint8Array(total);
    let at = 0;
    for (const p of parts) {
      all.set(p, at);
      at += p.length;
    }
    see(all, "legacy");
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* closed */ }
  }
}
