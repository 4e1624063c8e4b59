/**
 * A large backlog: M messages queued for R recipients that are not reading
 * (registered, then gone). Reports the time to enqueue them through the
 * broker (pipelined sends from 10 agents), the broker's RSS once they are
 * queued (they live in the store, not in memory), the latency of a `check`
 * of 100 messages against that backlog, and the time a restarted broker
 * takes to answer with the backlog in its data dir (with `--store nats`: in
 * NATS, whose memory and disk are reported too).
 *
 * @module
 */

import { AgentClient } from "../../lib/client/agent_client.ts";
import { BrokerProcess, dirBytes, rssOf, runLoad } from "../_processes.ts";
import {
  type BenchOptions,
  connectAgent,
  content,
  type LoadIo,
  type ScenarioResult,
  type Target,
} from "../_scenario.ts";
import { type LatencySummary, round, Samples } from "../_stats.ts";

/** Settings of the load side. */
export interface BacklogConfig extends Target {
  messages: number;
  recipients: number;
  senders: number;
  window: number;
  size: number;
  checks: number;
}

/** Load side. */
export async function load(cfg: BacklogConfig, io: LoadIo): Promise<Record<string, unknown>> {
  const sessions = [];
  for (let i = 0; i < cfg.recipients; i++) {
    const c = await connectAgent(cfg, `bk${i}`);
    sessions.push(c.session!);
    await c.close();
  }
  const senders: AgentClient[] = [];
  for (let i = 0; i < cfg.senders; i++) senders.push(await connectAgent(cfg, `bks${i}`));
  const body = content("backlog", cfg.size);
  let next = 0, done = 0;
  const step = Math.max(1, Math.floor(cfg.messages / 10));
  const loop = async (a: AgentClient) => {
    for (;;) {
      const n = next++;
      if (n >= cfg.messages) return;
      await a.send(`bk${n % cfg.recipients}`, body);
      if (++done % step === 0) io.log(`backlog: ${done} queued`);
    }
  };
  const t0 = performance.now();
  const loops: Promise<void>[] = [];
  for (const a of senders) for (let w = 0; w < cfg.window; w++) loops.push(loop(a));
  await Promise.all(loops);
  const enqueueMs = performance.now() - t0;
  await Promise.all(senders.map((a) => a.close()));
  await io.mark("enqueued");

  const readers: AgentClient[] = [];
  // One reader per recipient, so that check+ack never drains a queue.
  for (const s of sessions) {
    readers.push(
      await AgentClient.connect({
        host: cfg.host,
        port: cfg.port,
        dataDir: cfg.dataDir,
        role: "none",
        session: s,
      }),
    );
  }
  const peek = new Samples();
  let returned = 0;
  for (let i = 0; i < cfg.checks; i++) {
    const t = performance.now();
    const r = await readers[i % readers.length].check({ limit: 100 });
    peek.add(performance.now() - t);
    returned += r.messages.length;
  }
  const consume = new Samples();
  for (let i = 0; i < cfg.checks; i++) {
    const t = performance.now();
    await readers[i % readers.length].check({ limit: 100, ack: true });
    consume.add(performance.now() - t);
  }
  await Promise.all(readers.map((a) => a.close()));
  await io.mark("checked");
  return {
    messages: cfg.messages,
    enqueue_ms: round(enqueueMs),
    enqueue_per_s: round(cfg.messages / (enqueueMs / 1000)),
    check_100_ms: peek.summary(),
    check_100_ack_ms: consume.summary(),
    avg_returned: round(returned / cfg.checks, 1),
  };
}

/** Driver side. */
export async function run(o: BenchOptions): Promise<ScenarioResult> {
  const cap = Math.max(10_000, Math.ceil(o.queued / o.recipients));
  const args = ["--queue-cap", String(cap)];
  const store = o.nats?.url;
  const broker = await BrokerProcess.start({ args, store });
  const rss: Record<string, number | null> = {};
  let r: Record<string, unknown>;
  let restartMs: number | null = null;
  let restartRss: number | null = null;
  let dbBytes: number | null = null;
  try {
    r = await runLoad(
      "backlog",
      {
        host: broker.host,
        port: broker.port,
        dataDir: broker.dataDir,
        messages: o.queued,
        recipients: o.recipients,
        senders: 10,
        window: 32,
        size: o.size,
        checks: o.quick ? 100 : 300,
      } satisfies BacklogConfig,
      async (mark) => {
        const m = await broker.rss();
        rss[`${mark}_rss_bytes`] = m?.rss ?? null;
        rss[`${mark}_peak_rss_bytes`] = m?.peak ?? null;
        if (o.nats) {
          // With NATS the backlog lives in nats-server: its memory is the store's.
          const n = await rssOf(o.nats.pid);
          rss[`${mark}_nats_rss_bytes`] = n?.rss ?? null;
          rss[`${mark}_nats_peak_rss_bytes`] = n?.peak ?? null;
        }
      },
    );
    await broker.stop();
    dbBytes = o.nats
      ? await dirBytes(o.nats.storeDir)
      : (await Deno.stat(`${broker.dataDir}/agent-ipc.db`)).size +
        ((await Deno.stat(`${broker.dataDir}/agent-ipc.db-wal`).catch(() => null))?.size ?? 0);
    const again = await BrokerProcess.start({ args, dataDir: broker.dataDir, store });
    restartMs = again.startupMs;
    restartRss = (await again.rss())?.rss ?? null;
    await again.close();
  } finally {
    await broker.close();
  }
  const check = r.check_100_ms as LatencySummary;
  const mb = (b: number | null) => b === null ? null : round(b / 1024 / 1024, 1);
  const enqueuedRss = mb(rss.enqueued_rss_bytes);
  const label = `${o.queued.toLocaleString("en")} messages queued for ${o.recipients} recipients`;
  return {
    figures: {
      ...r,
      ...rss,
      // The SQLite file (with its WAL), or the JetStream store dir.
      db_bytes: dbBytes,
      restart_ms: restartMs,
      restart_rss_bytes: restartRss,
    },
    rows: [
      {
        scenario: label,
        metric: "broker RSS with the backlog queued",
        value: enqueuedRss,
        unit: "MiB",
        target: "< 200",
        met: enqueuedRss === null ? null : enqueuedRss < 200,
      },
      {
        scenario: "",
        metric: "broker peak RSS",
        value: mb(rss.checked_peak_rss_bytes),
        unit: "MiB",
      },
      {
        scenario: "",
        metric: "time to enqueue",
        value: round((r.enqueue_ms as number) / 1000, 2),
        unit: "s",
      },
      { scenario: "", metric: "enqueue rate", value: r.enqueue_per_s as number, unit: "msg/s" },
      {
        scenario: "",
        metric: "check of 100 messages p50",
        value: check.p50,
        unit: "ms",
        target: "< 5",
        met: check.p50 === null ? null : check.p50 < 5,
      },
      { scenario: "", metric: "check of 100 messages p99", value: check.p99, unit: "ms" },
      {
        scenario: "",
        metric: "check+ack of 100 messages p50",
        value: (r.check_100_ack_ms as LatencySummary).p50,
        unit: "ms",
      },
      {
        scenario: "",
        metric: "broker restart to first answer",
        value: restartMs === null ? null : round(restartMs),
        unit: "ms",
      },
      { scenario: "", metric: "broker RSS after restart", value: mb(restartRss), unit: "MiB" },
      ...(o.nats
        ? [{
          scenario: "",
          metric: "nats-server RSS with the backlog queued",
          value: mb(rss.enqueued_nats_rss_bytes),
          unit: "MiB",
        }, {
          scenario: "",
          metric: "JetStream store on disk",
          value: mb(dbBytes),
          unit: "MiB",
        }]
        : []),
    ],
  };
}
