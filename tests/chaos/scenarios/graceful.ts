/**
 * Graceful stop: SIGTERM to the broker during load, twice; nothing
 * acknowledged is lost.
 *
 * Design: the harness starts the real program (`main.ts broker`); 10 agents
 * in 2 worker processes (role "spawn", like CLI clients) send and receive.
 * The broker gets SIGTERM and must exit 0 (listener, connections, store, in
 * that order); the agents' election starts a detached successor, which in
 * turn gets SIGTERM (found through `status`). Same accounting as the crash
 * scenario (`_load.ts`).
 *
 * @module
 */

import { join } from "node:path";
import {
  alive,
  BrokerProcess,
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
import { drain, killBrokersOn, Worker } from "../_load.ts";

async function takeover(port: number, oldPid: number, ms: number): Promise<number | null> {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    const s = await brokerStatus(port, 1_000);
    if (s && s.pid !== oldPid) return Date.now() - t0;
    await sleep(20);
  }
  return null;
}

/** Runs the graceful-stop scenario. */
export async function graceful(o: ScenarioOptions): Promise<Row> {
  const t0 = Date.now();
  const dir = await tempDir("graceful");
  const dataDir = join(dir, "data");
  const outDir = join(dir, "out");
  await Deno.mkdir(outDir);
  await Deno.mkdir(dataDir, { mode: 0o700 });
  const port = freePort();
  const perWorker = 5;
  const names = [0, 1].flatMap((w) => Array.from({ length: perWorker }, (_, i) => `g${w}x${i}`));
  const base = { port, dataDir, peers: names, sendEveryMs: 25, outDir };
  const workers = [0, 1].map((w) =>
    new Worker("spawn", names.slice(w * perWorker, (w + 1) * perWorker), o.seed + 10 + w, base)
  );
  const failures: string[] = [];
  const stops: string[] = [];
  const errors: Record<string, number> = {};
  let aliveAtEnd = false;
  let first: BrokerProcess | undefined;
  try {
    first = await BrokerProcess.start(dataDir, { port });
    for (const w of workers) w.start();
    const deadline = Date.now() + 60_000;
    while (workers.some((w) => w.ready < w.names.length) && Date.now() < deadline) await sleep(200);
    if (workers.some((w) => w.ready < w.names.length)) failures.push("agents did not all register");
    await sleep(o.quick ? 1_500 : 3_000);

    // 1: our own broker process.
    let t = Date.now();
    first.kill("SIGTERM");
    const code = await first.child.status.then((s) => s.code);
    const exitMs = Date.now() - t;
    if (code !== 0) {
      failures.push(`broker exited ${code} on SIGTERM: ${(await first.stderr()).slice(-300)}`);
    }
    const took1 = await takeover(port, first.pid, 30_000);
    if (took1 === null) failures.push("nobody took over after the first SIGTERM");
    stops.push(`exit 0 in ${exitMs} ms, successor after ${took1} ms`);
    await sleep(o.quick ? 1_500 : 3_000);

    // 2: the detached successor the agents started.
    const s = await brokerStatus(port, 3_000);
    if (!s) failures.push("no broker before the second SIGTERM");
    else {
      t = Date.now();
      Deno.kill(s.pid, "SIGTERM");
      while (alive(s.pid) && Date.now() - t < 15_000) await sleep(20);
      const gone = Date.now() - t;
      if (alive(s.pid)) failures.push("the successor did not exit within 15 s of SIGTERM");
      const took2 = await takeover(port, s.pid, 30_000);
      if (took2 === null) failures.push("nobody took over after the second SIGTERM");
      stops.push(`exited in ${gone} ms, successor after ${took2} ms`);
    }
    await sleep(o.quick ? 1_000 : 2_000);
    for (const w of workers) await w.command("stop");
    const ledger = await drain(outDir, names, 45_000);
    aliveAtEnd = (await brokerStatus(port, 3_000)) !== null;
    for (const w of workers) {
      for (let i = 0; i < 50 && !w.summary(); i++) await sleep(100);
      const sum = w.summary() as { errors: Record<string, number> } | undefined;
      for (const [k, v] of Object.entries(sum?.errors ?? {})) errors[k] = (errors[k] ?? 0) + v;
    }
    if (ledger.lost.length) failures.push(`${ledger.lost.length} acknowledged sends lost`);
    if (ledger.disorder.length) {
      failures.push(`out of order: ${ledger.disorder.slice(0, 3).join("; ")}`);
    }
    if (ledger.afterAck.length) {
      failures.push(`after ack: ${ledger.afterAck.slice(0, 3).join("; ")}`);
    }
    if (!aliveAtEnd) failures.push("no broker at the end");
    if (ledger.acked < 200) failures.push(`only ${ledger.acked} sends acknowledged`);
    return row("graceful", t0, {
      action: `${names.length} agents in 2 processes (spawn role); SIGTERM to the broker twice ` +
        `(the harness's, then the detached successor)`,
      sent: ledger.acked + ledger.failed,
      acked: ledger.acked,
      delivered: ledger.delivered,
      lost: ledger.lost.length,
      redelivered: ledger.redelivered + ledger.resent,
      errors: formatCounts(errors),
      alive: aliveAtEnd,
      notes: stops.join("; "),
      failures,
    });
  } finally {
    for (const w of workers) await w.kill();
    first?.kill("SIGKILL");
    await first?.child.status;
    await killBrokersOn(port);
    await removeDir(dir);
  }
}
