/**
 * Throughput: N agents on framed connections, agent i sending to agent i+1
 * with a window of pipelined sends while receiving on the same connection
 * with `wait` + ack. Reports delivered messages/s (received and acknowledged
 * by their recipient) and the send latency under that load; then, at low
 * load, the latency of one send at a time.
 *
 * @module
 */

import type { AgentClient } from "../../lib/client/agent_client.ts";
import process from "node:process";
import { IpcError } from "../../lib/protocol/errors.ts";
import { BrokerProcess, cpuSecondsOf, runLoad } from "../_processes.ts";
import {
  type BenchOptions,
  connectAgent,
  content,
  type LoadIo,
  type ScenarioResult,
  type Target,
} from "../_scenario.ts";
import { round, Samples, sleep } from "../_stats.ts";

/** Settings of the load side. */
export interface ThroughputConfig extends Target {
  agents: number;
  window: number;
  size: number;
  warmupMs: number;
  durationMs: number;
  /** Messages per `wait` reply. */
  batch: number;
  /** Sends of the low-load latency phase. */
  samples: number;
}

/** Load side: runs the agents and returns the figures. */
export async function load(cfg: ThroughputConfig, io: LoadIo): Promise<Record<string, unknown>> {
  const agents: AgentClient[] = [];
  for (let i = 0; i < cfg.agents; i++) agents.push(await connectAgent(cfg, `tp${i}`));
  const body = content("tp", cfg.size);
  let phase: "warmup" | "measure" | "drain" = "warmup";
  let sending = true;
  let receiving = true;
  let sent = 0, received = 0, deliveredInWindow = 0, sentInWindow = 0, queueFull = 0, waits = 0;
  const sendLatency = new Samples();

  const receiver = async (a: AgentClient) => {
    while (receiving) {
      const r = await a.wait({ timeoutMs: 200, ack: true, limit: cfg.batch });
      received += r.messages.length;
      if (phase === "measure") {
        deliveredInWindow += r.messages.length;
        waits++;
      }
    }
  };
  const sender = async (a: AgentClient, to: string) => {
    while (sending) {
      const t0 = performance.now();
      try {
        await a.send(to, body);
      } catch (e) {
        if (e instanceof IpcError && e.code === "E_QUEUE_FULL") {
          queueFull++;
          await sleep(5);
          continue;
        }
        throw e;
      }
      sent++;
      if (phase === "measure") {
        sendLatency.add(performance.now() - t0);
        sentInWindow++;
      }
    }
  };

  const receivers = agents.map(receiver);
  const senders: Promise<void>[] = [];
  agents.forEach((a, i) => {
    const to = `tp${(i + 1) % cfg.agents}`;
    for (let w = 0; w < cfg.window; w++) senders.push(sender(a, to));
  });
  await sleep(cfg.warmupMs);
  await io.mark("start");
  const cpu0 = process.cpuUsage();
  phase = "measure";
  const t0 = performance.now();
  await sleep(cfg.durationMs);
  const seconds = (performance.now() - t0) / 1000;
  phase = "drain";
  const cpu = process.cpuUsage(cpu0);
  await io.mark("end");
  sending = false;
  await Promise.all(senders);
  const drainDeadline = Date.now() + 30_000;
  while (received < sent && Date.now() < drainDeadline) await sleep(20);
  receiving = false;
  await Promise.all(receivers);
  io.log(`throughput: ${sent} sent, ${received} received`);

  // Low load: one send at a time, nobody else busy.
  const quiet = new Samples();
  for (let i = 0; i < cfg.samples; i++) {
    const t = performance.now();
    await agents[0].send("tp1", body);
    quiet.add(performance.now() - t);
  }
  await agents[1].check({ ack: true, limit: 10_000 });
  await Promise.all(agents.map((a) => a.close()));
  return {
    seconds: round(seconds, 3),
    delivered: deliveredInWindow,
    messages_per_wait: round(deliveredInWindow / Math.max(1, waits), 1),
    load_cpu_cores: round((cpu.user + cpu.system) / 1e6 / seconds, 2),
    delivered_per_s: round(deliveredInWindow / seconds),
    sent_per_s: round(sentInWindow / seconds),
    send_latency_ms: sendLatency.summary(),
    send_latency_low_load_ms: quiet.summary(),
    sent,
    received,
    lost: sent - received,
    queue_full: queueFull,
  };
}

/** Driver side. */
export async function run(o: BenchOptions): Promise<ScenarioResult> {
  await using broker = await BrokerProcess.start({ store: o.nats?.url });
  const cfg: ThroughputConfig = {
    host: broker.host,
    port: broker.port,
    dataDir: broker.dataDir,
    agents: o.agents,
    window: o.window,
    size: o.size,
    warmupMs: o.quick ? 500 : 2_000,
    durationMs: o.durationS * 1000,
    batch: 500,
    samples: o.samples,
  };
  const at: Record<string, { cpu: number | null; nats: number | null; t: number }> = {};
  const r = await runLoad("throughput", { ...cfg }, async (mark) => {
    at[mark] = {
      cpu: await broker.cpuSeconds(),
      nats: o.nats ? await cpuSecondsOf(o.nats.pid) : null,
      t: performance.now(),
    };
  });
  const rss = await broker.rss();
  const cpuS = at.start?.cpu != null && at.end?.cpu != null ? at.end.cpu - at.start.cpu : null;
  const wall = at.start && at.end ? (at.end.t - at.start.t) / 1000 : null;
  const lat = r.send_latency_ms as { p50: number; p99: number };
  const quiet = r.send_latency_low_load_ms as { p50: number; p99: number };
  const perS = r.delivered_per_s as number;
  const s = `${o.agents} agents, window ${o.window}, ${o.size} B`;
  const brokerCores = cpuS === null || !wall ? null : round(cpuS / wall, 2);
  const usPerMsg = cpuS === null ? null : round((cpuS * 1e6) / (r.delivered as number), 1);
  // With NATS the store's work is done in nats-server: count its CPU too.
  const natsS = at.start?.nats != null && at.end?.nats != null ? at.end.nats - at.start.nats : null;
  const natsCores = natsS === null || !wall ? null : round(natsS / wall, 2);
  const natsUsPerMsg = natsS === null ? null : round((natsS * 1e6) / (r.delivered as number), 1);
  return {
    figures: {
      ...r,
      config: cfg,
      broker_rss_bytes: rss?.rss ?? null,
      broker_cpu_cores: brokerCores,
      broker_cpu_us_per_msg: usPerMsg,
      broker_peak_rss_bytes: rss?.peak ?? null,
      ...(o.nats ? { nats_cpu_cores: natsCores, nats_cpu_us_per_msg: natsUsPerMsg } : {}),
    },
    rows: [
      {
        scenario: `throughput (${s})`,
        metric: "delivered messages/s",
        value: perS,
        unit: "msg/s",
        target: "≥ 20000 (aim 50000)",
        met: perS >= 20_000,
      },
      { scenario: "", metric: "send latency p50 under load", value: lat.p50, unit: "ms" },
      { scenario: "", metric: "send latency p99 under load", value: lat.p99, unit: "ms" },
      { scenario: "", metric: "send latency p50, one at a time", value: quiet.p50, unit: "ms" },
      { scenario: "", metric: "send latency p99, one at a time", value: quiet.p99, unit: "ms" },
      { scenario: "", metric: "broker CPU per delivered message", value: usPerMsg, unit: "µs" },
      ...(o.nats
        ? [{
          scenario: "",
          metric: "nats-server CPU per delivered message",
          value: natsUsPerMsg,
          unit: "µs",
        }, {
          scenario: "",
          metric: "CPU used: broker + load process + nats-server",
          value: brokerCores === null
            ? null
            : `${brokerCores} + ${r.load_cpu_cores} + ${natsCores ?? "?"}`,
          unit: "cores",
        }]
        : [{
          scenario: "",
          metric: "CPU used: broker + load process",
          value: brokerCores === null ? null : `${brokerCores} + ${r.load_cpu_cores}`,
          unit: "cores",
        }]),
      {
        scenario: "",
        metric: "lost (sent - received)",
        value: r.lost as number,
        unit: "msgs",
        target: "0",
        met: r.lost === 0,
      },
    ],
  };
}
