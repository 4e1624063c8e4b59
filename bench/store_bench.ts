/**
 * Micro-benchmark of the SQLite store (run: `deno run -A bench/store_bench.ts`).
 *
 * 1. Throughput: 20 concurrent async producers enqueue one message per call
 *    (as the broker does per `send`) while one consumer per recipient peeks
 *    up to 100 messages and acknowledges them; messages/s sent and acked.
 *    Run twice: store calls only, and with the `sessionName` + `touch` that
 *    the broker adds to every request.
 * 2. Scale: 1,000,000 messages enqueued to 100 recipients (time, RSS, file
 *    size), then the p50/p99 latency of `peek(name, 100)`, the time to reopen
 *    (counters rebuilt) and the first text search (indexes every row).
 *
 * Flags: --messages N (phase 1, default 200000), --big N (phase 2, default
 * 1000000, 0 skips it), --flush immediate|microtask.
 *
 * @module
 */

import process from "node:process";
import { parseArgs } from "node:util";
import { join } from "node:path";
import { type FlushMode, openSqliteStore, type SqliteStore } from "../lib/state/sqlite_store.ts";
import type { StoredMessage } from "../lib/state/store.ts";

const PRODUCERS = 20;

let idCounter = 0;

/** Ids shaped like the broker's `newMessageId`: time first, so the id index grows at its end. */
function newId(now: number): string {
  idCounter++;
  return `${now.toString(36)}-bench${idCounter.toString(36).padStart(6, "0")}`;
}

function message(seq: number, from: string, to: string): StoredMessage {
  return {
    id: newId(Date.now()),
    from,
    to,
    time: Date.now(),
    content: `message ${seq} from ${from} to ${to}: the quick brown fox jumps over the lazy dog`,
    data: seq % 10 === 0 ? { seq, tag: "bench" } : undefined,
  };
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
}

/** Seconds of CPU (user + system, all threads) used by this process so far. */
function cpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

/** "N msg/s (M msg per CPU-second)": the second figure holds up on a busy machine. */
function rate(n: number, seconds: number, cpu: number): string {
  return `${(n / seconds).toFixed(0)} msg/s (${(n / cpu).toFixed(0)} msg per CPU-second)`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Phase 1: enqueue + peek + ack with 20 producers; returns messages/s. */
export async function throughput(
  store: SqliteStore,
  total: number,
  recipients: number,
  brokerLike: boolean,
  tag: string,
): Promise<string> {
  const perProducer = Math.ceil(total / PRODUCERS);
  const sent = perProducer * PRODUCERS;
  let acked = 0;
  let peeks = 0;
  let empty = 0;
  const commits = store.commits;
  const tokens: string[] = [];
  for (let p = 0; p < PRODUCERS; p++) {
    tokens.push(`token-${tag}-${p}`);
    await store.register(`p${tag}${p}`, tokens[p], Date.now(), { revokeOthers: false });
  }
  const start = performance.now();
  const cpu = cpuSeconds();
  const producers = Array.from({ length: PRODUCERS }, async (_, p) => {
    const from = `p${tag}${p}`;
    for (let i = 0; i < perProducer; i++) {
      if (brokerLike) {
        await store.sessionName(tokens[p]);
        await store.touch(from, Date.now());
      }
      const to = `r${tag}${(p + i) % recipients}`;
      const [out] = await store.enqueue([message(i * PRODUCERS + p, from, to)], 1_000_000);
      if (!out.ok) throw new Error("queue full");
    }
  });
  const consumers = Array.from({ length: recipients }, async (_, r) => {
    const name = `r${tag}${r}`;
    while (acked < sent) {
      const batch = await store.peek(name, 100);
      peeks++;
      if (batch.length === 0) {
        empty++;
        await sleep(1);
        continue;
      }
      const done = await store.ack(name, batch.map((m) => m.id), Date.now());
      acked += done.length;
    }
  });
  await Promise.all([...producers, ...consumers]);
  const result = rate(sent, (performance.now() - start) / 1000, cpuSeconds() - cpu);
  const txns = store.commits - commits;
  return `${result}\n  ${txns} commits (${(sent / txns).toFixed(1)} msg each), ` +
    `${peeks} peeks (${empty} empty, ${(sent / (peeks - empty)).toFixed(1)} msg each)`;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

/** Runs the benchmark and prints the figures. */
export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      messages: { type: "string", default: "200000" },
      big: { type: "string", default: "1000000" },
      flush: { type: "string", default: "immediate" },
    },
  });
  const flush = values.flush as FlushMode;
  const dir = await Deno.makeTempDir({ prefix: "agent-ipc-bench-" });
  try {
    console.log(`store bench: ${navigator.hardwareConcurrency} cores, flush=${flush}`);
    {
      await using store = await openSqliteStore(join(dir, "tp.db"), { flush });
      const n = Number(values.messages);
      const a = await throughput(store, n, 20, false, "a");
      console.log(`enqueue+peek+ack, 20 producers: ${a}`);
      const b = await throughput(store, n, 20, true, "b");
      console.log(`same, plus sessionName+touch per send: ${b}`);
    }
    const big = Number(values.big);
    if (big > 0) {
      const path = join(dir, "big.db");
      const rssBefore = Deno.memoryUsage().rss;
      {
        await using store = await openSqliteStore(path, { flush });
        const start = performance.now();
        const cpu = cpuSeconds();
        const perProducer = Math.ceil(big / PRODUCERS);
        await Promise.all(Array.from({ length: PRODUCERS }, async (_, p) => {
          for (let i = 0; i < perProducer; i++) {
            const seq = i * PRODUCERS + p;
            await store.enqueue([message(seq, `p${p}`, `r${seq % 100}`)], 1_000_000);
          }
        }));
        const seconds = (performance.now() - start) / 1000;
        const rss = Deno.memoryUsage().rss;
        console.log(
          `enqueue ${perProducer * PRODUCERS} to 100 recipients: ${seconds.toFixed(1)} s, ` +
            `${rate(perProducer * PRODUCERS, seconds, cpuSeconds() - cpu)}, RSS ${mib(rss)} ` +
            `(${mib(rssBefore)} before)`,
        );
        const times: number[] = [];
        for (let i = 0; i < 1000; i++) {
          const t = performance.now();
          const got = await store.peek(`r${(i * 37) % 100}`, 100);
          times.push(performance.now() - t);
          if (got.length !== 100) throw new Error(`peek returned ${got.length}`);
        }
        times.sort((x, y) => x - y);
        console.log(
          `peek 100 of ${big / 100} queued: p50 ${percentile(times, 0.5).toFixed(3)} ms, ` +
            `p99 ${percentile(times, 0.99).toFixed(3)} ms`,
        );
      }
      const size = (await Deno.stat(path)).size;
      let t = performance.now();
      await using store = await openSqliteStore(path, { flush });
      console.log(
        `file ${mib(size)}; reopen (counters rebuilt): ${(performance.now() - t).toFixed(0)} ms, ` +
          `depth r7 = ${await store.depth("r7")}`,
      );
      t = performance.now();
      const cpu = cpuSeconds();
      const hits = await store.history({ text: "fox", limit: 10 });
      console.log(
        `first text search (indexes ${big} rows): ${(performance.now() - t).toFixed(0)} ms ` +
          `(${(cpuSeconds() - cpu).toFixed(1)} CPU-s), ${hits.length} hits`,
      );
      t = performance.now();
      await store.history({ text: "fox", to: "r3", limit: 10 });
      console.log(`next text search: ${(performance.now() - t).toFixed(1)} ms`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) {
  await main(Deno.args);
}
