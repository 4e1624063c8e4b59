/**
 * Cluster: two agent-ipc "hosts" (each its own broker process, data dir,
 * port and HOME) share one registry through a 3-node nats-server JetStream
 * cluster (loopback ports, routes on loopback, R3 by default). Agents on
 * both hosts send to each other while NATS nodes are SIGKILLed: in the
 * quick run (CI) the queue stream's leader; in the full run a node that
 * leads nothing of the queue stream, then the queue stream's leader, then
 * the sessions bucket's leader. Each is restarted and must catch up.
 *
 * Proven at the end: every acknowledged send was delivered (`_load.ts`'s
 * ledger: none lost, per-sender order, nothing after its ack), every
 * agent's session is live (the probes' clients never re-register: a lost
 * session would fail their sends), a claim taken before
 * the kills is still there, every stream is back to 3 replicas with no lag.
 * Measured: two probe agents, one per host, send across hosts back to back;
 * the gap between consecutive acknowledged sends (p50, p99, worst), and
 * each kill's stall (kill to the first send acknowledged after it).
 *
 * @module
 */

import { join } from "node:path";
import { AgentClient } from "../../../lib/client/agent_client.ts";
import { openNatsStore } from "../../../lib/state/nats_store.ts";
import { startNatsCluster } from "../../_nats_cluster.ts";
import {
  BrokerProcess,
  formatCounts,
  freePort,
  percentile,
  removeDir,
  type Row,
  row,
  type ScenarioOptions,
  sleep,
  tempDir,
} from "../_common.ts";
import { drain, Worker } from "../_load.ts";

/** One agent-ipc host: a broker on its own port and data dir, with its own HOME. */
interface Host {
  name: string;
  port: number;
  dataDir: string;
  broker: BrokerProcess;
}

/** A probe: sends to a peer on the other host as fast as acks come; records ack times. */
class Probe {
  readonly acks: number[] = [];
  readonly failures: string[] = [];
  /** The first distinct error messages, for the report. */
  readonly messages = new Set<string>();
  #stop = false;
  #run: Promise<void> | undefined;
  constructor(readonly client: AgentClient, readonly to: string) {}
  start(): void {
    this.#run = (async () => {
      for (let k = 0; !this.#stop; k++) {
        try {
          await this.client.send(this.to, `probe ${k}`);
          this.acks.push(Date.now());
        } catch (e) {
          this.failures.push((e as { code?: string }).code ?? (e as Error).message);
          if (this.messages.size < 3) this.messages.add((e as Error).message.slice(0, 300));
        }
        await sleep(20);
      }
    })();
  }
  async stop(): Promise<void> {
    this.#stop = true;
    await this.#run;
  }
  /** Gaps between consecutive acks (ms). */
  gaps(): number[] {
    return this.acks.slice(1).map((t, i) => t - this.acks[i]);
  }
  /** Acks after `at`. */
  acksAfter(at: number): number {
    return this.acks.filter((t) => t > at).length;
  }
  /**
   * The stall a kill at `at` caused: the longest gap between consecutive
   * acks around it (a send in flight at the kill may still be acked at once;
   * the next one waits for the re-election). NaN before sends resumed.
   */
  stallAround(at: number): number {
    if (this.acksAfter(at) < 3) return NaN;
    let worst = 0;
    for (let i = 1; i < this.acks.length; i++) {
      if (this.acks[i] > at && this.acks[i - 1] < at + 30_000) {
        worst = Math.max(worst, this.acks[i] - this.acks[i - 1]);
      }
    }
    return worst;
  }
}

/** Deno's cache dir: a host's own HOME must not send its broker to download everything again. */
async function denoDir(): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), { args: ["info", "--json"] }).output();
  return JSON.parse(new TextDecoder().decode(out.stdout)).denoDir as string;
}

/** Runs the cluster scenario. */
export async function cluster(o: ScenarioOptions): Promise<Row> {
  const t0 = Date.now();
  const dir = await tempDir("cluster");
  const failures: string[] = [];
  const errors: Record<string, number> = {};
  const stalls: string[] = [];
  const workers: Worker[] = [];
  const hosts: Host[] = [];
  const probes: Probe[] = [];
  const clients: AgentClient[] = [];
  await using nats = await startNatsCluster();
  try {
    for (const name of ["A", "B"]) {
      const dataDir = join(dir, name, "data");
      const home = join(dir, name, "home");
      await Deno.mkdir(home, { recursive: true });
      const port = freePort();
      const broker = await BrokerProcess.start(dataDir, {
        port,
        args: ["--store", nats.url],
        env: { HOME: home, DENO_DIR: await denoDir() },
      });
      hosts.push({ name, port, dataDir, broker });
    }
    const perHost = o.quick ? 3 : 5;
    const names = hosts.flatMap((h) =>
      Array.from({ length: perHost }, (_, i) => `${h.name.toLowerCase()}${i}`)
    );
    const outDir = join(dir, "out");
    await Deno.mkdir(outDir);
    hosts.forEach((h, i) => {
      workers.push(
        new Worker("none", names.slice(i * perHost, (i + 1) * perHost), o.seed + i, {
          port: h.port,
          dataDir: h.dataDir,
          peers: names,
          sendEveryMs: 40,
          outDir,
        }),
      );
    });
    for (const w of workers) w.start();
    const readyBy = Date.now() + 60_000;
    while (workers.some((w) => w.ready < w.names.length) && Date.now() < readyBy) await sleep(100);
    if (workers.some((w) => w.ready < w.names.length)) failures.push("agents did not all register");

    // Probes and a claim, one client per host.
    const connect = (h: Host) =>
      AgentClient.connect({
        host: "127.0.0.1",
        port: h.port,
        dataDir: h.dataDir,
        role: "none",
        timeoutMs: 60_000,
      });
    for (const h of hosts) {
      const c = await connect(h);
      clients.push(c);
      await c.register(`probe-${h.name}`);
    }
    for (const [i, c] of clients.entries()) {
      probes.push(new Probe(c, `probe-${hosts[1 - i].name}`));
    }
    const repo = "/work/repo-cluster";
    await clients[0].claim(repo, ["src/owned.ts"], { ttlMs: 3_600_000, reason: "chaos" });
    for (const p of probes) p.start();
    await sleep(2_000);

    // The kills: a follower of the queue stream, its leader, (full) the sessions' leader.
    // Quick (CI): the queue stream's leader, from a healthy cluster. Full: a
    // follower, then the leader, then the sessions bucket's leader, each soon
    // after the previous node's restart, which nats-server 2.9.10 does not
    // always survive (docs/nats.md, "Known limit"): a stress run, not CI's.
    const leaderKill = { what: "the queue stream's leader", stream: "IPC_QUEUE", leader: true };
    const kills: { what: string; stream: string; leader: boolean }[] = o.quick ? [leaderKill] : [
      { what: "a follower of the queue stream", stream: "IPC_QUEUE", leader: false },
      leaderKill,
      { what: "the sessions bucket's leader", stream: "KV_ipc_sessions", leader: true },
    ];
    for (const k of kills) {
      const leader = await nats.streamLeader(k.stream);
      if (!leader) {
        failures.push(`${k.stream} has no leader before the kill`);
        continue;
      }
      const victim = k.leader ? leader : nats.nodes.find((n) => n.name !== leader)!.name;
      const at = Date.now();
      await nats.node(victim).kill();
      // Until both probes have sends started after the kill acknowledged (3 acks:
      // the first may be a send in flight), bounded, then a little more load.
      const by = at + 30_000;
      while (probes.some((p) => p.acksAfter(at) < 3) && Date.now() < by) await sleep(100);
      await sleep(1_000);
      const resumed = probes.map((p) => p.stallAround(at));
      stalls.push(
        `${k.what} (${victim}): ${resumed.map((ms) => `${ms} ms`).join(" / ")}`,
      );
      if (resumed.some((ms) => !(ms < 30_000))) {
        failures.push(`sends did not resume after killing ${k.what} (${victim})`);
      }
      await nats.node(victim).start();
      // Caught up: the restarted node is current on every stream again.
      const check = await openNatsStore(nats.url, { timeoutMs: 5_000 });
      try {
        const by = Date.now() + 30_000;
        let lagging = "";
        while (Date.now() < by) {
          const h = await check.health();
          lagging = h.streams.flatMap((s) => s.lagging.map((l) => `${s.name}:${l.server}`))
            .join(", ");
          if (!lagging) break;
          await sleep(250);
        }
        if (lagging) failures.push(`still lagging 30 s after ${victim} came back: ${lagging}`);
      } finally {
        await check.close();
      }
      // nats-server 2.9.10 reports a restarted node current before it has
      // caught up (docs/nats.md): an operator waits some more, so this does.
      if (!o.quick) await sleep(5_000);
    }
    await sleep(1_000);

    for (const p of probes) await p.stop();
    for (const w of workers) await w.command("stop");
    const ledger = await drain(outDir, names, 30_000);
    for (const w of workers) {
      for (let t = 0; t < 50 && !w.summary(); t++) await sleep(100);
      const sum = w.summary() as { errors: Record<string, number> } | undefined;
      if (!sum) {
        failures.push(`a worker did not report`);
        continue;
      }
      for (const [k, v] of Object.entries(sum.errors)) errors[k] = (errors[k] ?? 0) + v;
    }
    for (const p of probes) for (const f of p.failures) errors[f] = (errors[f] ?? 0) + 1;
    if (probes.some((p) => p.failures.length)) {
      failures.push(`a probe send failed: ${probes.flatMap((p) => [...p.messages]).join(" | ")}`);
    }

    // Sessions and the claim, read through the other host.
    const claims = await clients[1].claims(repo);
    if (!claims.some((c) => c.path === "src/owned.ts" && c.holder === "probe-A")) {
      failures.push(`the claim is gone: ${JSON.stringify(claims)}`);
    }
    const store = await openNatsStore(nats.url, { timeoutMs: 5_000 });
    try {
      const list = await store.instances();
      const live = list.filter((i) => i.sessions > 0).map((i) => i.name);
      const missing = [...names, "probe-A", "probe-B"].filter((n) => !live.includes(n));
      if (missing.length) failures.push(`sessions lost: ${missing.join(", ")}`);
      const h = await store.health();
      const notR3 = h.streams.filter((s) => s.replicas !== 3).map((s) => s.name);
      if (notR3.length) failures.push(`not R3: ${notR3.join(", ")}`);
      // Where each lost message is: still queued (a delivery problem), in history
      // (acknowledged without being recorded), or nowhere (NATS lost it).
      for (const id of ledger.lost.slice(0, 5)) {
        const to = ledger.lostTo?.get(id) ?? "";
        const found = to ? await store.findMessages(id, to).catch(() => []) : [];
        failures.push(
          `lost ${id} to ${to}: ${
            found.length === 0
              ? "in neither queue nor history"
              : found[0].readAt !== undefined
              ? "in history (acknowledged)"
              : "still queued"
          }`,
        );
      }
    } finally {
      await store.close();
    }

    if (ledger.lost.length) failures.push(`${ledger.lost.length} acknowledged sends lost`);
    if (ledger.disorder.length) failures.push(`out of order: ${ledger.disorder.slice(0, 3)}`);
    if (ledger.afterAck.length) failures.push(`after ack: ${ledger.afterAck.slice(0, 3)}`);
    if (ledger.acked < 100) failures.push(`only ${ledger.acked} sends acknowledged`);
    const gaps = probes.flatMap((p) => p.gaps());
    const fmt = (ms: number) => `${Math.round(ms)} ms`;
    return row("cluster", t0, {
      action: `2 hosts (own broker, data dir, port, HOME) x ${perHost} agents + 2 cross-host ` +
        `probes on a 3-node R3 NATS cluster; SIGKILL of ${
          kills.map((k) => k.what).join(", then ")
        }, ` +
        `each restarted and caught up`,
      sent: ledger.acked + ledger.failed,
      acked: ledger.acked,
      delivered: ledger.delivered,
      lost: ledger.lost.length,
      redelivered: ledger.redelivered + ledger.resent,
      errors: formatCounts(errors),
      alive: true,
      notes: `send gap p50 ${fmt(percentile(gaps, 50))}, p99 ${fmt(percentile(gaps, 99))}, ` +
        `worst ${fmt(Math.max(...gaps))} (${gaps.length + probes.length} probe sends); ` +
        `send stall (longest gap around the kill) after ${
          stalls.join("; ")
        } (probe A / probe B); ` +
        `sessions, claim and R3 checked after`,
      failures,
    });
  } finally {
    for (const p of probes) await p.stop();
    for (const c of clients) await c.close().catch(() => {});
    for (const w of workers) await w.kill();
    for (const h of hosts) await h.broker.stop().catch(() => {});
    await removeDir(dir);
  }
}
