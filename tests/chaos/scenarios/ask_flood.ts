/**
 * `ask-flood` (issue 24, item 4): thousands of pending `wait_reply` from
 * other processes, then ordinary messages to one of the asking agents. A
 * message must touch only the waits it can satisfy (it used to wake and
 * re-query every wait of its recipient: 150 messages took 13 s and the broker
 * grew ~500 MB), pending waits are capped per session and per process
 * (E_LIMIT), and a process that closes connections with waits pending gets
 * their slots back at once (they were held for the waits' 300 s).
 *
 * @module
 */

import { AgentClient } from "../../../lib/client/agent_client.ts";
import { FramedClient } from "../../../lib/client/framed_client.ts";
import { LIMITS } from "../../../lib/defaults.ts";
import { PERMISSION_FLAGS } from "../../../lib/permissions.ts";
import {
  BrokerProcess,
  brokerStatus,
  bump,
  firstLine,
  formatCounts,
  percentile,
  prover,
  removeDir,
  type Row,
  row,
  rssMiB,
  type ScenarioOptions,
  sleep,
  tempDir,
} from "../_common.ts";

const ASKER = new URL("../_asker.ts", import.meta.url).pathname;

function asker(args: string[], stdin: "null" | "piped"): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", ...PERMISSION_FLAGS, ASKER, ...args],
    stdin,
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
}

/** Polls the broker's status until `ok` holds; the status, or null after `ms`. */
async function statusWhen(
  port: number,
  ok: (s: { connections: number; waiting: number }) => boolean,
  ms: number,
): Promise<{ connections: number; waiting: number; at: number } | null> {
  const t = Date.now();
  let last: { connections: number; waiting: number } | null = null;
  while (Date.now() - t < ms) {
    last = await brokerStatus(port);
    if (last && ok(last)) return { ...last, at: Date.now() - t };
    await sleep(25);
  }
  return null;
}

export async function askFlood(o: ScenarioOptions): Promise<Row> {
  const t0 = Date.now();
  const max = 64;
  const per = LIMITS.maxWaitsPerSession;
  const sessions = LIMITS.maxWaitsPerPeer / per; // a process's share, filled
  const processes = o.quick ? 2 : 4;
  const pendingTarget = processes * sessions * per;
  const messages = 150;
  const dir = await tempDir("ask-flood");
  const broker = await BrokerProcess.start(dir, { args: ["--max-connections", String(max)] });
  const failures: string[] = [];
  const codes: Record<string, number> = {};
  const askers: Deno.ChildProcess[] = [];
  const base = { host: "127.0.0.1", port: broker.port, dataDir: dir, role: "none" as const };
  const sink = await AgentClient.connect(base);
  const sender = await AgentClient.connect(base);
  let hog: FramedClient | undefined;
  try {
    await sink.register("sink");
    await sender.register("sender");
    const rss0 = await rssMiB(broker.pid);

    // Each asking process fills its share: `sessions` sessions of `per` pending
    // wait_reply (distinct questions); one more session asks 50 more: E_LIMIT.
    for (let p = 0; p < processes; p++) {
      const child = asker(
        ["ask", String(broker.port), dir, `ask${p}`, String(sessions), String(per), "50"],
        "piped",
      );
      askers.push(child);
      const r = await firstLine(child);
      for (const [k, v] of Object.entries((r.codes ?? {}) as Record<string, number>)) {
        bump(codes, `askers ${k}`, v);
      }
    }
    const parked = await statusWhen(broker.port, (s) => s.waiting >= pendingTarget, 30_000);
    if (!parked) failures.push(`never ${pendingTarget} waits pending`);
    const waiting = (await brokerStatus(broker.port))?.waiting ?? NaN;
    if (waiting !== pendingTarget) failures.push(`${waiting} waits pending, not ${pendingTarget}`);
    if ((codes["askers E_LIMIT"] ?? 0) !== 50 * processes) {
      failures.push(`each process's extra 50 asks: ${formatCounts(codes)}`);
    }
    const rssPending = await rssMiB(broker.pid);

    // 150 ordinary messages to one asking agent (with `per` pending asks).
    const lat: number[] = [];
    const tSend = performance.now();
    for (let i = 0; i < messages; i++) {
      const t = performance.now();
      await sender.send("ask0-0", `ordinary ${i}`);
      lat.push(performance.now() - t);
    }
    const sendMs = performance.now() - tSend;
    const rssAfter = await rssMiB(broker.pid);
    if (sendMs > 5_000) failures.push(`${messages} messages took ${Math.round(sendMs)} ms`);
    if ((await brokerStatus(broker.port))?.waiting !== pendingTarget) {
      failures.push("ordinary messages ended pending asks");
    }

    // One session of this process trying to hold 2,000 waits.
    hog = await FramedClient.connect({ host: "127.0.0.1", port: broker.port });
    const auth = await prover(dir);
    await hog.request({ action: "register", instance_id: "hog", auth_token: auth("hog") });
    const tries = 2_000;
    const hogCodes: Record<string, number> = {};
    const hogReplies = Array.from(
      { length: tries },
      () =>
        hog!.request({ action: "wait", timeout_ms: 300_000 }).then(
          () => bump(hogCodes, "ok"),
          (e) => bump(hogCodes, (e as { code?: string }).code ?? "error"),
        ),
    );
    const limited = await (async () => {
      const t = Date.now();
      while ((hogCodes.E_LIMIT ?? 0) < tries - per && Date.now() - t < 10_000) await sleep(20);
      return hogCodes.E_LIMIT ?? 0;
    })();
    if (limited !== tries - per) failures.push(`one session: ${formatCounts(hogCodes)}`);
    bump(codes, "one session E_LIMIT", limited);

    // A process that opens many connections, asks on each and exits.
    const before = await statusWhen(broker.port, (s) => s.waiting >= pendingTarget + per, 10_000);
    const dropper = asker(["drop", String(broker.port), dir, "drop", "80"], "null");
    const dropped = await firstLine(dropper);
    await dropper.status;
    const tDrop = Date.now();
    const back = await statusWhen(
      broker.port,
      (s) => s.waiting <= (before?.waiting ?? 0) && s.connections <= (before?.connections ?? 0),
      10_000,
    );
    const freedMs = back ? Date.now() - tDrop : NaN;
    if (!back) failures.push("the exited process's waits or slots were not freed within 10 s");
    for (const [k, v] of Object.entries((dropped.codes ?? {}) as Record<string, number>)) {
      if (k !== "answered") bump(codes, `dropper ${k}`, v);
    }

    // The askers go: every wait ends, memory comes back down.
    for (const a of askers) await a.stdin.close().catch(() => {});
    for (const a of askers) await a.status;
    askers.length = 0;
    hog.close();
    await Promise.all(hogReplies);
    hog = undefined;
    const drained = await statusWhen(broker.port, (s) => s.waiting === 0, 10_000);
    if (!drained) failures.push("waits still pending after every asker left");
    const rssEnd = await rssMiB(broker.pid);
    if (rssPending - rss0 > 200) {
      failures.push(`broker grew ${Math.round(rssPending - rss0)} MiB with the asks pending`);
    }
    const f = (x: number) => x.toFixed(1);
    return row("ask-flood", t0, {
      action: `${processes} processes x ${sessions} sessions x ${per} pending wait_reply ` +
        `(300 s) + 50 over each process's share; ${messages} messages to one asking agent; ` +
        `one session tries ${tries} waits; a process opens 80 connections, asks on each, exits`,
      sent: messages,
      errors: formatCounts(codes),
      alive: (await brokerStatus(broker.port)) !== null,
      notes: `${waiting} asks pending; ${messages} sends to an agent with ${per} of them ` +
        `${Math.round(sendMs)} ms (p50 ${f(percentile(lat, 50))} ms, max ${
          f(Math.max(...lat))
        } ms); broker RSS ${Math.round(rss0)} MiB -> ${Math.round(rssPending)} MiB pending -> ` +
        `${Math.round(rssAfter)} after the sends -> ${Math.round(rssEnd)} after; the exiting ` +
        `process held ${dropped.held} connections, its waits and slots freed in ${freedMs} ms`,
      failures,
    });
  } finally {
    hog?.close();
    for (const a of askers) {
      await a.stdin.close().catch(() => {});
      await a.status;
    }
    await sink.close();
    await sender.close();
    await broker.stop();
    await removeDir(dir);
  }
}
