/**
 * Failover: `kill -9` the broker while agents send. The agents are CLI-style
 * clients (role "spawn"): when the broker dies they start a detached one on
 * the same port and data dir and resume their sessions. Reports the time
 * from the kill until a send started after it succeeds (fastest and slowest
 * agent), and checks that every send the broker acknowledged is received
 * (receivers `wait` without ack and acknowledge after, at-least-once; a
 * message received twice counts as a duplicate, never as lost). With
 * `--store nats` the agents start the replacement with the same `--store`.
 *
 * @module
 */

import type { AgentClient } from "../../lib/client/agent_client.ts";
import { parseJsonLines } from "../../lib/log.ts";
import { alive, BrokerProcess, runLoad, storeKind } from "../_processes.ts";
import {
  type BenchOptions,
  connectAgent,
  content,
  type LoadIo,
  type ScenarioResult,
  type Target,
} from "../_scenario.ts";
import { round, sleep } from "../_stats.ts";

/** Settings of the load side. */
export interface FailoverConfig extends Target {
  brokerPid: number;
  agents: number;
  window: number;
  size: number;
  beforeMs: number;
  afterMs: number;
}

/** Load side. */
export async function load(cfg: FailoverConfig, io: LoadIo): Promise<Record<string, unknown>> {
  const senders: AgentClient[] = [];
  const receivers: AgentClient[] = [];
  for (let i = 0; i < cfg.agents; i++) {
    receivers.push(await connectAgent(cfg, `fo_r${i}`, "spawn"));
    senders.push(await connectAgent(cfg, `fo_s${i}`, "spawn"));
  }
  const acknowledged = new Set<string>();
  const received = new Map<string, number>();
  let killedAt = Infinity;
  const backAfter: (number | null)[] = senders.map(() => null);
  let sending = true, receiving = true;
  let sendErrors = 0;

  const receive = async (a: AgentClient) => {
    while (receiving) {
      const r = await a.wait({ timeoutMs: 200, limit: 500 });
      for (const m of r.messages) {
        const tag = m.message.content.split(" ", 1)[0];
        received.set(tag, (received.get(tag) ?? 0) + 1);
      }
      if (r.messages.length) await a.ack(r.messages.map((m) => m.id));
    }
  };
  let seq = 0;
  const send = async (a: AgentClient, i: number) => {
    while (sending) {
      const tag = `s${i}:${seq++}`;
      const started = performance.now();
      try {
        await a.send(`fo_r${i}`, content(tag, cfg.size));
      } catch (e) {
        sendErrors++;
        io.log(`send failed: ${(e as Error).message}`);
        continue;
      }
      acknowledged.add(tag);
      if (started > killedAt && backAfter[i] === null) backAfter[i] = performance.now() - killedAt;
    }
  };
  const rx = receivers.map(receive);
  const tx: Promise<void>[] = [];
  senders.forEach((a, i) => {
    for (let w = 0; w < cfg.window; w++) tx.push(send(a, i));
  });
  await sleep(cfg.beforeMs);
  const beforeKill = acknowledged.size;
  killedAt = performance.now();
  const killedWall = Date.now();
  Deno.kill(cfg.brokerPid, "SIGKILL");
  io.log(`killed broker ${cfg.brokerPid} after ${beforeKill} acknowledged sends`);
  const deadline = Date.now() + 20_000;
  while (backAfter.some((b) => b === null) && Date.now() < deadline) await sleep(5);
  await sleep(cfg.afterMs);
  sending = false;
  await Promise.all(tx);
  const drainUntil = Date.now() + 20_000;
  const missing = () => [...acknowledged].filter((t) => !received.has(t));
  while (missing().length > 0 && Date.now() < drainUntil) await sleep(20);
  receiving = false;
  await Promise.all(rx);
  const status = await senders[0].status();
  const newBroker = status.broker as { pid?: number; store?: string } | undefined;
  const newPid = newBroker?.pid ?? null;
  const lost = missing();
  let duplicates = 0;
  for (const n of received.values()) if (n > 1) duplicates += n - 1;
  await Promise.all([...senders, ...receivers].map((a) => a.close()));
  const back = backAfter.filter((b): b is number => b !== null);
  // When the replacement broker was listening, from its log's "listening" record.
  let readyMs: number | null = null;
  try {
    const log = await Deno.readTextFile(`${cfg.dataDir}/broker.log`);
    for (const r of parseJsonLines(log)) {
      const t = r.event === "listening" ? Date.parse(r.time) : NaN;
      if (t >= killedWall) {
        readyMs = t - killedWall;
        break;
      }
    }
  } catch { /* no log: not reported */ }
  return {
    acknowledged_before_kill: beforeKill,
    acknowledged: acknowledged.size,
    received_distinct: received.size,
    lost: lost.length,
    lost_sample: lost.slice(0, 5),
    duplicates,
    send_errors: sendErrors,
    recovered_agents: back.length,
    first_back_ms: back.length ? round(Math.min(...back), 1) : null,
    all_back_ms: back.length === senders.length ? round(Math.max(...back), 1) : null,
    replacement_listening_ms: readyMs,
    new_broker_pid: newPid,
    new_broker_store: newBroker?.store ?? null,
  };
}

/** Driver side. */
export async function run(o: BenchOptions): Promise<ScenarioResult> {
  const broker = await BrokerProcess.start({ store: o.nats?.url });
  let r: Record<string, unknown> | undefined;
  try {
    r = await runLoad(
      "failover",
      {
        host: broker.host,
        port: broker.port,
        dataDir: broker.dataDir,
        store: o.nats?.url,
        brokerPid: broker.pid,
        agents: o.failoverAgents,
        window: 8,
        size: o.size,
        beforeMs: o.quick ? 1_000 : 3_000,
        afterMs: o.quick ? 500 : 2_000,
      } satisfies FailoverConfig,
      undefined,
      { IPC_NO_HTTP: "1", IPC_SESSION_FILE: `${broker.dataDir}/session.json` },
    );
  } finally {
    // The replacement broker was started detached by an agent: stop it by its
    // pid (it writes it in the data dir's lock file).
    const pid = (r?.new_broker_pid as number | null | undefined) ??
      Number.parseInt(await Deno.readTextFile(`${broker.dataDir}/broker.lock`).catch(() => ""));
    if (pid && pid !== broker.pid && await alive(pid)) {
      Deno.kill(pid, "SIGTERM");
      for (let i = 0; i < 250 && await alive(pid); i++) await sleep(20);
      if (await alive(pid)) Deno.kill(pid, "SIGKILL");
    }
    await broker.close();
  }
  r = r!;
  // The agents start the replacement with the same --store; a SQLite one
  // would make the figures (and the "0 lost") about the wrong store.
  const want = storeKind(o.nats?.url);
  if (o.nats !== undefined && r.new_broker_store !== want) {
    throw new Error(`the replacement broker runs store "${r.new_broker_store}", not "${want}"`);
  }
  const all = r.all_back_ms as number | null;
  const lost = r.lost as number;
  return {
    figures: r,
    rows: [
      {
        scenario: `failover: kill -9 the broker under load (${o.failoverAgents} senders)`,
        metric: "kill to next successful send, slowest agent",
        value: all,
        unit: "ms",
        target: "< 1000",
        met: all === null ? false : all < 1_000,
      },
      {
        scenario: "",
        metric: "kill to next successful send, fastest agent",
        value: r.first_back_ms as number | null,
        unit: "ms",
      },
      {
        scenario: "",
        metric: "acknowledged sends lost",
        value: lost,
        unit: "msgs",
        target: "0",
        met: lost === 0,
      },
      {
        scenario: "",
        metric: "kill to replacement broker listening",
        value: r.replacement_listening_ms as number | null,
        unit: "ms",
      },
      {
        scenario: "",
        metric: "duplicates (redelivered)",
        value: r.duplicates as number,
        unit: "msgs",
      },
    ],
  };
}
