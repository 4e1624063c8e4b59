/**
 * Cross-host benchmark (issue 25): two broker processes ("host A" and
 * "host B", own data dirs and ports) share one NATS registry; agents on A
 * send to agents on B. Measured in the same run, in alternating rounds (the
 * machine is noisy), on a one-node nats-server (R1) and on a 3-node
 * JetStream cluster on loopback (R3, routes on loopback):
 *
 * - latency: one message at a time, from the send on A to its arrival in a
 *   `wait` on B (p50, p99);
 * - throughput: N senders on A, each with a window of pipelined sends, to N
 *   receivers on B that wait and acknowledge; delivered messages/s.
 *
 * Run: `deno run -A bench/cross_host.ts [--quick] [--rounds N] [--agents N]
 * [--duration S] [--samples N]`. Needs `nats-server`.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { AgentClient } from "../lib/client/agent_client.ts";
import { IpcError } from "../lib/protocol/errors.ts";
import { BrokerProcess } from "./_processes.ts";
import { NatsServer } from "./_nats.ts";
import { round, Samples, sleep } from "./_stats.ts";
import { type NatsCluster, startNatsCluster } from "../tests/_nats_cluster.ts";

interface Figures {
  p50: number | null;
  p99: number | null;
  perSecond: number;
}

async function hosts(store: string): Promise<[BrokerProcess, BrokerProcess]> {
  return [await BrokerProcess.start({ store }), await BrokerProcess.start({ store })];
}

function agent(b: BrokerProcess, name: string): Promise<AgentClient> {
  return AgentClient.connect({
    host: "127.0.0.1",
    port: b.port,
    dataDir: b.dataDir,
    role: "none",
    timeoutMs: 30_000,
  }).then(async (c) => {
    await c.register(name);
    return c;
  });
}

/** One message at a time, A -> B: time from the send to its arrival in B's wait. */
async function latency(a: BrokerProcess, b: BrokerProcess, samples: number, tag: string) {
  const from = await agent(a, `lat-a-${tag}`);
  const to = await agent(b, `lat-b-${tag}`);
  const s = new Samples();
  try {
    for (let i = 0; i < samples + 20; i++) {
      const waiting = to.wait({ timeoutMs: 10_000, ack: true, limit: 1 });
      await sleep(1); // the wait is parked on B before the send
      const t0 = performance.now();
      await from.send(`lat-b-${tag}`, `latency ${i}`);
      const got = await waiting;
      if (got.messages.length !== 1) throw new Error(`latency ${i}: nothing arrived in 10 s`);
      if (i >= 20) s.add(performance.now() - t0); // the first 20 warm up
    }
  } finally {
    await from.close();
    await to.close();
  }
  return s;
}

/** N senders on A (window of pipelined sends each) to N receivers on B: delivered/s. */
async function throughput(
  a: BrokerProcess,
  b: BrokerProcess,
  agents: number,
  window: number,
  durationMs: number,
  tag: string,
): Promise<number> {
  const senders = await Promise.all(
    Array.from({ length: agents }, (_, i) => agent(a, `tp-a${i}-${tag}`)),
  );
  const receivers = await Promise.all(
    Array.from({ length: agents }, (_, i) => agent(b, `tp-b${i}-${tag}`)),
  );
  let measuring = false;
  let sending = true;
  let receiving = true;
  let delivered = 0;
  const body = "cross-host " + "x".repeat(100);
  const send = async (c: AgentClient, to: string) => {
    while (sending) {
      try {
        await c.send(to, body);
      } catch (e) {
        if (e instanceof IpcError && e.code === "E_QUEUE_FULL") await sleep(5);
        else throw e;
      }
    }
  };
  const recv = async (c: AgentClient) => {
    while (receiving) {
      const r = await c.wait({ timeoutMs: 200, ack: true, limit: 200 });
      if (measuring) delivered += r.messages.length;
    }
  };
  const loops = [
    ...senders.flatMap((c, i) => Array.from({ length: window }, () => send(c, `tp-b${i}-${tag}`))),
  ];
  const recvLoops = receivers.map(recv);
  await sleep(1_000); // warm-up
  measuring = true;
  const t0 = performance.now();
  await sleep(durationMs);
  measuring = false;
  const perSecond = delivered / ((performance.now() - t0) / 1000);
  sending = false;
  await Promise.all(loops);
  receiving = false;
  await Promise.all(recvLoops);
  await Promise.all([...senders, ...receivers].map((c) => c.close()));
  return perSecond;
}

async function measure(
  store: string,
  o: { samples: number; agents: number; window: number; durationMs: number },
  tag: string,
): Promise<Figures> {
  const [a, b] = await hosts(store);
  try {
    const lat = await latency(a, b, o.samples, tag);
    const perSecond = await throughput(a, b, o.agents, o.window, o.durationMs, tag);
    return { p50: lat.percentile(50), p99: lat.percentile(99), perSecond };
  } finally {
    await a.close();
    await b.close();
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      quick: { type: "boolean" },
      rounds: { type: "string" },
      agents: { type: "string" },
      duration: { type: "string" },
      samples: { type: "string" },
    },
  });
  const quick = values.quick === true;
  const rounds = Number(values.rounds ?? (quick ? 1 : 3));
  const o = {
    samples: Number(values.samples ?? (quick ? 100 : 500)),
    agents: Number(values.agents ?? (quick ? 4 : 10)),
    window: 8,
    durationMs: Number(values.duration ?? (quick ? 2 : 5)) * 1000,
  };
  await using single = await NatsServer.start();
  let cluster: NatsCluster | undefined;
  try {
    cluster = await startNatsCluster();
    console.error(`bench cross-host: ${single.version}; ${JSON.stringify(o)}, ${rounds} rounds`);
    const results: Record<string, Figures[]> = { "1 node, R1": [], "3 nodes, R3": [] };
    for (let r = 0; r < rounds; r++) {
      // Alternating, so drift in the machine's load hits both alike.
      results["1 node, R1"].push(await measure(single.url, o, `r1x${r}`));
      results["3 nodes, R3"].push(await measure(cluster.url, o, `r3x${r}`));
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    console.log("| NATS | send -> receive p50 | p99 | throughput (delivered/s) |");
    console.log("|---|---|---|---|");
    for (const [name, rs] of Object.entries(results)) {
      console.log(
        `| ${name} | ${round(median(rs.map((x) => x.p50 ?? NaN)), 2)} ms | ${
          round(median(rs.map((x) => x.p99 ?? NaN)), 2)
        } ms | ${Math.round(median(rs.map((x) => x.perSecond)))} |`,
      );
    }
    console.log(
      `(medians of ${rounds} alternating rounds; each: ${o.samples} one-at-a-time sends, then ` +
        `${o.agents} senders x window ${o.window} for ${o.durationMs / 1000} s)`,
    );
  } finally {
    await cluster?.[Symbol.asyncDispose]();
  }
}
