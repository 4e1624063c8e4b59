/**
 * Crash: 20 agents send and receive while the broker process is SIGKILLed 5
 * times at random (seeded) moments; the survivors re-elect.
 *
 * Design: 4 worker processes of 5 agents each (`_agent_worker.ts`). One
 * worker runs its AgentClients with role "host" (like the MCP server: the
 * winner hosts the broker in its own process), three with role "spawn" (like
 * the CLI: the winner starts a detached `main.ts broker`). Whoever holds the
 * broker is killed: either a host worker (its 5 agents die with it, and the
 * harness restarts that worker, as a user would restart the assistant) or a
 * detached broker (no agent dies). With one host worker the two alternate:
 * when it dies only spawn-role survivors remain and one of them starts a
 * detached broker; when that one is killed, the restarted host worker binds
 * the port first. Each time the harness waits for a new
 * broker to answer before the next kill and reports how long that took.
 *
 * Accounting (see `_load.ts`): a send is acknowledged when its client got the
 * ok reply; receivers record each delivery before acknowledging it. At the
 * end every acknowledged send must have been recorded by its recipient, one
 * sender's messages in order, and no message may come back after its
 * recipient's ack succeeded. Redeliveries before the ack, and a send retried
 * across a failover (two ids for one (sender, k)), are at-least-once and
 * allowed (counted).
 *
 * @module
 */

import { join } from "node:path";
import {
  alive,
  brokerStatus,
  formatCounts,
  freePort,
  removeDir,
  type Row,
  row,
  type ScenarioOptions,
  sleep,
  tempDir,
} from "../_common.ts";
import { mulberry32 } from "../_fuzz.ts";
import { brokerLog, countEvents } from "../../_helpers.ts";
import { START_FAILED } from "../../../lib/client/spawn.ts";
import { drain, killBrokersOn, Worker } from "../_load.ts";

/** Runs the crash scenario. */
export async function crash(o: ScenarioOptions): Promise<Row> {
  const t0 = Date.now();
  const rand = mulberry32(o.seed ^ 0xc7a5);
  const kills = o.quick ? 3 : 5;
  const perWorker = o.quick ? 3 : 5;
  const dir = await tempDir("crash");
  const dataDir = join(dir, "data");
  const outDir = join(dir, "out");
  await Deno.mkdir(outDir);
  const port = freePort();
  const roles = ["host", "spawn", "spawn", "spawn"] as const;
  const names = roles.flatMap((_, w) => Array.from({ length: perWorker }, (_, i) => `a${w}x${i}`));
  const base = { port, dataDir, peers: names, sendEveryMs: 40, outDir };
  const workers = roles.map((role, w) =>
    new Worker(role, names.slice(w * perWorker, (w + 1) * perWorker), o.seed + w, base)
  );
  const failures: string[] = [];
  const reelect: number[] = [];
  let hostKills = 0;
  let detachedKills = 0;
  let aliveAtEnd = false;
  const errors: Record<string, number> = {};
  try {
    for (const w of workers) w.start();
    const deadline = Date.now() + 60_000;
    while (workers.some((w) => w.ready < w.names.length) && Date.now() < deadline) await sleep(200);
    if (workers.some((w) => w.ready < w.names.length)) failures.push("agents did not all register");

    for (let i = 0; i < kills; i++) {
      await sleep(1_500 + rand() * 2_500);
      const s = await brokerStatus(port, 3_000);
      if (!s) {
        failures.push(`kill ${i + 1}: no broker answered before the kill`);
        continue;
      }
      const killedAt = Date.now();
      const host = workers.find((w) => w.pid === s.pid);
      if (host) {
        hostKills++;
        await host.kill();
      } else {
        detachedKills++;
        Deno.kill(s.pid, "SIGKILL");
        for (let t = 0; t < 100 && alive(s.pid); t++) await sleep(20);
      }
      // The survivors re-elect; time until a new broker answers.
      let next: Awaited<ReturnType<typeof brokerStatus>> = null;
      while (Date.now() - killedAt < 30_000) {
        next = await brokerStatus(port, 1_000);
        if (next && next.pid !== s.pid) break;
        await sleep(20);
      }
      if (!next || next.pid === s.pid) failures.push(`kill ${i + 1}: nobody took over in 30 s`);
      else reelect.push(Date.now() - killedAt);
      // The assistant whose process died comes back (its queue waited for it).
      if (host) {
        await sleep(300 + rand() * 700);
        host.start();
      }
    }
    await sleep(1_500);
    for (const w of workers) await w.command("stop");
    const ledger = await drain(outDir, names, 45_000);
    aliveAtEnd = (await brokerStatus(port, 3_000)) !== null;
    for (const w of workers) {
      for (let t = 0; t < 50 && !w.summary(); t++) await sleep(100);
      const sum = w.summary() as { errors: Record<string, number> } | undefined;
      if (!sum) continue;
      for (const [k, v] of Object.entries(sum.errors)) errors[k] = (errors[k] ?? 0) + v;
    }
    if (ledger.lost.length) failures.push(`${ledger.lost.length} acknowledged sends lost`);
    if (ledger.disorder.length) {
      failures.push(`out of order: ${ledger.disorder.slice(0, 3).join("; ")}`);
    }
    if (ledger.afterAck.length) {
      failures.push(`after ack: ${ledger.afterAck.slice(0, 3).join("; ")}`);
    }
    if (!aliveAtEnd) failures.push("no broker at the end");
    if (reelect.length < kills) failures.push(`${kills - reelect.length} kills without takeover`);
    if (ledger.acked < 200) failures.push(`only ${ledger.acked} sends acknowledged`);
    reelect.sort((a, b) => a - b);
    // Spawn-role survivors each start a detached broker when none answers; all
    // but one lose the race for the data dir (or the port) and exit.
    const log = await brokerLog(dataDir);
    const started = countEvents(log, "listening");
    const lostRace = countEvents(log, START_FAILED);
    return row("crash", t0, {
      action:
        `${names.length} agents in 4 processes (1 host role, 3 spawn role); ${kills} SIGKILLs of the broker ` +
        `(${hostKills} hosting agent processes, ${detachedKills} detached)`,
      sent: ledger.acked + ledger.failed,
      acked: ledger.acked,
      delivered: ledger.delivered,
      lost: ledger.lost.length,
      redelivered: ledger.redelivered + ledger.resent,
      errors: formatCounts(errors),
      alive: aliveAtEnd,
      notes:
        `re-election ${
          reelect.length ? `${reelect[0]}-${reelect[reelect.length - 1]} ms` : "n/a"
        }; ` +
        `${ledger.redelivered} redelivered before ack, ${ledger.resent} resent; ` +
        `order and no-duplicate-after-ack checked; detached brokers: ${started} served, ` +
        `${lostRace} lost the race and exited`,
      failures,
    });
  } finally {
    for (const w of workers) await w.kill();
    await killBrokersOn(port);
    await removeDir(dir);
  }
}
