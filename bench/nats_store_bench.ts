/**
 * Micro-benchmark of the NATS store against a local `nats-server -js`
 * (run: `deno run -A bench/nats_store_bench.ts`; needs `nats-server`).
 *
 * The same load as `store_bench.ts` phase 1: 20 concurrent async producers
 * enqueue one message per call (as the broker does per `send`) to 20
 * recipients while one consumer per recipient, woken by `watch()`, peeks up
 * to 100 messages and acknowledges them. Reports messages/s sent and acked,
 * with and without the `sessionName` + `touch` the broker adds to a request,
 * and the p50/p99 latency of single `enqueue`, `peek` and `ack` calls.
 *
 * Flags: --messages N (default 20000), --producers N (default 20).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { type NatsStore, openNatsStore } from "../lib/state/nats_store.ts";
import type { StoredMessage } from "../lib/state/store.ts";
import { NatsServer } from "./_nats.ts";

let idCounter = 0;

function message(from: string, to: string): StoredMessage {
  const now = Date.now();
  return {
    id: `${now.toString(36)}-bench${(++idCounter).toString(36).padStart(6, "0")}`,
    from,
    to,
    time: now,
    content:
      `message ${idCounter} from ${from} to ${to}: the quick brown fox jumps over the lazy dog`,
  };
}

/** enqueue + peek + ack with `producers` producers; returns messages/s. */
async function throughput(
  store: NatsStore,
  total: number,
  producers: number,
  brokerLike: boolean,
  tag: string,
): Promise<number> {
  const recipients = producers;
  const perProducer = Math.ceil(total / producers);
  const sent = perProducer * producers;
  let acked = 0;
  for (let p = 0; p < producers; p++) {
    await store.register(`p${tag}${p}`, `token-${tag}-${p}`, Date.now(), { revokeOthers: false });
  }
  const wake = new Map<string, () => void>();
  const stop = store.watch((name) => wake.get(name)?.());
  const start = performance.now();
  const senders = Array.from({ length: producers }, async (_, p) => {
    const from = `p${tag}${p}`;
    for (let i = 0; i < perProducer; i++) {
      if (brokerLike) {
        await store.sessionName(`token-${tag}-${p}`);
        await store.touch(from, Date.now());
      }
      const [out] = await store.enqueue([message(from, `r${tag}${(p + i) % recipients}`)], 1e6);
      if (!out.ok) throw new Error("queue full");
    }
  });
  const consumers = Array.from({ length: recipients }, async (_, r) => {
    const name = `r${tag}${r}`;
    while (acked < sent) {
      const batch = await store.peek(name, 100);
      if (batch.length === 0) {
        // Woken by the enqueue's notification, or re-check after 50 ms.
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 50);
          wake.set(name, () => {
            clearTimeout(timer);
            resolve();
          });
        });
        continue;
      }
      // Not `acked += await …`: that reads `acked` before the await.
      const done = await store.ack(name, batch.map((m) => m.id), Date.now());
      acked += done.length;
    }
  });
  await Promise.all([...senders, ...consumers]);
  stop();
  return sent / ((performance.now() - start) / 1000);
}

function percentiles(samples: number[]): string {
  const s = [...samples].sort((a, b) => a - b);
  const at = (p: number) => s[Math.min(s.length - 1, Math.floor(s.length * p))].toFixed(2);
  return `p50 ${at(0.5)} ms, p99 ${at(0.99)} ms`;
}

async function latencies(store: NatsStore, n: number): Promise<void> {
  const enq: number[] = [], peek: number[] = [], ack: number[] = [];
  for (let i = 0; i < n; i++) {
    const m = message("lat", "lat-r");
    let t = performance.now();
    await store.enqueue([m], 1e6);
    enq.push(performance.now() - t);
    t = performance.now();
    const got = await store.peek("lat-r", 100);
    peek.push(performance.now() - t);
    t = performance.now();
    await store.ack("lat-r", got.map((x) => x.id), Date.now());
    ack.push(performance.now() - t);
  }
  const deep = Array.from({ length: 1_000 }, () => message("lat", "deep"));
  await store.enqueue(deep, 1e6);
  const deepPeek: number[] = [];
  for (let i = 0; i < 100; i++) {
    const t = performance.now();
    await store.peek("deep", 100);
    deepPeek.push(performance.now() - t);
  }
  console.log(`enqueue 1 message:  ${percentiles(enq)}`);
  console.log(`peek (1 queued):    ${percentiles(peek)}`);
  console.log(`ack 1 message:      ${percentiles(ack)}`);
  console.log(`peek 100 of 1000:   ${percentiles(deepPeek)}`);
}

/** Runs the benchmark and prints the figures. */
export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      messages: { type: "string", default: "20000" },
      producers: { type: "string", default: "20" },
    },
  });
  const n = Number(values.messages);
  const producers = Number(values.producers);
  await using nats = await NatsServer.start();
  await using store = await openNatsStore(nats.url, { prefix: "bench" });
  console.log(
    `NATS store bench: ${navigator.hardwareConcurrency} cores, ${nats.version}, ${n} messages`,
  );
  const a = await throughput(store, n, producers, false, "a");
  console.log(`enqueue+peek+ack, ${producers} producers:        ${a.toFixed(0)} msg/s`);
  const b = await throughput(store, n, producers, true, "b");
  console.log(`same with sessionName+touch per send:  ${b.toFixed(0)} msg/s`);
  await latencies(store, 500);
}

if (import.meta.main) {
  await main(Deno.args);
}
