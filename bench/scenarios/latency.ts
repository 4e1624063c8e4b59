/**
 * End-to-end latency: one sender, one receiver blocked in `wait`. Measures
 * from the start of the `send` call to the moment the receiver's `wait`
 * returns the message, one message at a time (both agents live in the load
 * process, so they share one clock). Two variants: `wait` with `ack` (the
 * message leaves the queue before the reply, the durable consume), and
 * `wait` without it (the receiver acknowledges afterwards, off the clock).
 * Also counts messages that took over a second: a `wait` that missed its
 * wake-up returns only at its 10 s timeout. Then `ask`: the round trip of a
 * question (send, then `wait_reply`) to a responder that waits, replies and
 * acknowledges, measured until the asker holds the reply.
 *
 * @module
 */

import type { AgentClient } from "../../lib/client/agent_client.ts";
import { BrokerProcess, runLoad } from "../_processes.ts";
import {
  type BenchOptions,
  connectAgent,
  content,
  type LoadIo,
  type ScenarioResult,
  type Target,
} from "../_scenario.ts";
import { type LatencySummary, Samples, sleep } from "../_stats.ts";

/** A latency summary and the samples slower than {@linkcode STALL_MS}. */
export type LatencyFigures = LatencySummary & { over_1s: number };

/** A message this late was not woken for (the `wait` timeout is 10 s). */
const STALL_MS = 1_000;

/** Settings of the load side. */
export interface LatencyConfig extends Target {
  samples: number;
  size: number;
  /** Pause between messages so the receiver is back in `wait`, ms. */
  gapMs: number;
}

async function measure(
  sender: AgentClient,
  receiver: AgentClient,
  cfg: LatencyConfig,
  ack: boolean,
): Promise<LatencyFigures> {
  const samples = new Samples();
  let stalls = 0;
  const warmup = Math.min(50, Math.ceil(cfg.samples / 10));
  for (let i = 0; i < cfg.samples + warmup; i++) {
    const tag = `lat-${ack}-${i}`;
    const got = (async () => {
      for (;;) {
        const r = await receiver.wait({ timeoutMs: 10_000, ack, limit: 10 });
        const at = performance.now();
        if (!ack && r.messages.length) await receiver.ack(r.messages.map((m) => m.id));
        if (r.messages.some((m) => m.message.content.startsWith(tag + " "))) return at;
        if (r.messages.length === 0 && r.timedOut) throw new Error(`message ${tag} never arrived`);
      }
    })();
    // Let the wait reach the broker and block there before sending.
    await sleep(cfg.gapMs);
    const t0 = performance.now();
    await sender.send("lat_rx", content(tag, cfg.size));
    const t1 = await got;
    if (i < warmup) continue;
    samples.add(t1 - t0);
    if (t1 - t0 > STALL_MS) stalls++;
  }
  return { ...samples.summary(), over_1s: stalls };
}

/** Round trips of `ask`: the responder replies to each question as it arrives. */
async function measureAsk(
  asker: AgentClient,
  responder: AgentClient,
  cfg: LatencyConfig,
): Promise<LatencyFigures> {
  const samples = new Samples();
  let stalls = 0;
  let stop = false;
  const answering = (async () => {
    while (!stop) {
      const r = await responder.wait({ timeoutMs: 10_000, limit: 10 });
      for (const m of r.messages) {
        if (m.message.content !== "stop") await responder.reply(m.id, "ok");
      }
      if (r.messages.length) await responder.ack(r.messages.map((m) => m.id));
    }
  })();
  const warmup = Math.min(50, Math.ceil(cfg.samples / 10));
  try {
    for (let i = 0; i < cfg.samples + warmup; i++) {
      const t0 = performance.now();
      const r = await asker.ask("lat_rx", content(`ask-${i}`, cfg.size), 10_000);
      const t1 = performance.now();
      if (!r.reply) throw new Error(`no reply to ask ${i}`);
      await asker.ack([r.reply.id]);
      if (i < warmup) continue;
      samples.add(t1 - t0);
      if (t1 - t0 > STALL_MS) stalls++;
    }
  } finally {
    stop = true;
    await asker.send("lat_rx", "stop");
    await answering;
  }
  return { ...samples.summary(), over_1s: stalls };
}

/** Load side. */
export async function load(cfg: LatencyConfig, _io: LoadIo): Promise<Record<string, unknown>> {
  const receiver = await connectAgent(cfg, "lat_rx");
  const sender = await connectAgent(cfg, "lat_tx");
  try {
    return {
      wait_ack_ms: await measure(sender, receiver, cfg, true),
      wait_then_ack_ms: await measure(sender, receiver, cfg, false),
      ask_ms: await measureAsk(sender, receiver, cfg),
    };
  } finally {
    await sender.close();
    await receiver.close();
  }
}

/** Driver side. */
export async function run(o: BenchOptions): Promise<ScenarioResult> {
  await using broker = await BrokerProcess.start({ store: o.nats?.url });
  const r = await runLoad(
    "latency",
    {
      host: broker.host,
      port: broker.port,
      dataDir: broker.dataDir,
      samples: o.samples,
      size: o.size,
      gapMs: 2,
    } satisfies LatencyConfig,
  );
  const withAck = r.wait_ack_ms as LatencyFigures;
  const noAck = r.wait_then_ack_ms as LatencyFigures;
  const ask = r.ask_ms as LatencyFigures;
  const lt = (v: number | null, max: number) => v === null ? null : v < max;
  return {
    figures: r,
    rows: [
      {
        scenario: "end-to-end, 1 sender → 1 receiver in wait (ack in wait)",
        metric: "latency p50",
        value: withAck.p50,
        unit: "ms",
        target: "< 1",
        met: lt(withAck.p50, 1),
      },
      {
        scenario: "",
        metric: "latency p99",
        value: withAck.p99,
        unit: "ms",
        target: "< 5",
        met: lt(withAck.p99, 5),
      },
      { scenario: "", metric: "latency p50, ack after wait", value: noAck.p50, unit: "ms" },
      { scenario: "", metric: "latency p99, ack after wait", value: noAck.p99, unit: "ms" },
      {
        scenario: "",
        metric: `messages slower than 1 s (missed wake-up), of ${withAck.count + noAck.count}`,
        value: withAck.over_1s + noAck.over_1s,
        unit: "msgs",
        target: "0",
        met: withAck.over_1s + noAck.over_1s === 0,
      },
      {
        scenario: "",
        metric: "latency max",
        value: Math.max(withAck.max ?? 0, noAck.max ?? 0),
        unit: "ms",
      },
      {
        scenario: "ask: question → reply (responder in wait, replies at once)",
        metric: "round trip p50",
        value: ask.p50,
        unit: "ms",
      },
      { scenario: "", metric: "round trip p99", value: ask.p99, unit: "ms" },
      {
        scenario: "",
        metric: `asks slower than 1 s, of ${ask.count}`,
        value: ask.over_1s,
        unit: "asks",
        target: "0",
        met: ask.over_1s === 0,
      },
    ],
  };
}
