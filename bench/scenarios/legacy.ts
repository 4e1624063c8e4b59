/**
 * The legacy protocol, as the original's scripts speak it: one TCP
 * connection per request, one JSON object written with no length and no
 * newline, the reply read until the broker closes. N agents, each in a loop
 * of three `send`s to its neighbour and one `check` (which drains its queue).
 * Reports requests/s and the latency of one request, connect to close.
 *
 * @module
 */

import process from "node:process";
import { authToken } from "../../lib/protocol/auth.ts";
import { readSecret } from "../../lib/state/data_dir.ts";
import { BrokerProcess, childEnv, cpuSecondsOf, freePort, runLoad } from "../_processes.ts";
import {
  type BenchOptions,
  content,
  type LoadIo,
  type ScenarioResult,
  type Target,
} from "../_scenario.ts";
import { type LatencySummary, round, Samples, sleep } from "../_stats.ts";

/** Settings of the load side. */
export interface LegacyConfig extends Target {
  agents: number;
  size: number;
  warmupMs: number;
  durationMs: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** One legacy request: connect, write the object, read until the broker closes. */
export async function legacyRequest(
  host: string,
  port: number,
  body: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const conn = await Deno.connect({ hostname: host, port });
  try {
    conn.setNoDelay(true);
    const data = encoder.encode(JSON.stringify(body));
    let at = 0;
    while (at < data.length) at += await conn.write(data.subarray(at));
    const chunks: Uint8Array[] = [];
    const buf = new Uint8Array(64 * 1024);
    let total = 0;
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      chunks.push(buf.slice(0, n));
      total += n;
    }
    const all = new Uint8Array(total);
    let pos = 0;
    for (const c of chunks) {
      all.set(c, pos);
      pos += c.length;
    }
    return JSON.parse(decoder.decode(all));
  } finally {
    try {
      conn.close();
    } catch { /* closed */ }
  }
}

/** Load side. */
export async function load(cfg: LegacyConfig, io: LoadIo): Promise<Record<string, unknown>> {
  const secret = await readSecret(cfg.dataDir);
  if (!secret) throw new Error(`no secret in ${cfg.dataDir}`);
  const tokens: string[] = [];
  for (let i = 0; i < cfg.agents; i++) {
    const name = `lg${i}`;
    const r = await legacyRequest(cfg.host, cfg.port, {
      action: "register",
      instance_id: name,
      auth_token: authToken(name, secret),
    });
    if (r.status !== "ok") throw new Error(`register ${name}: ${r.message}`);
    tokens.push(String(r.session_token));
  }
  const body = content("legacy", cfg.size);
  let measuring = false, running = true;
  let requests = 0, errors = 0, received = 0;
  const latency = new Samples();
  const errorKinds = new Map<string, number>();
  const agent = async (i: number) => {
    const send = {
      action: "send",
      from_id: `lg${i}`,
      to_id: `lg${(i + 1) % cfg.agents}`,
      message: { content: body },
      session_token: tokens[i],
    };
    const check = { action: "check", instance_id: `lg${i}`, session_token: tokens[i] };
    for (let n = 0; running; n++) {
      const t0 = performance.now();
      try {
        const r = await legacyRequest(cfg.host, cfg.port, n % 4 === 3 ? check : send);
        if (r.status !== "ok") throw new Error(String(r.code ?? r.message));
        if (Array.isArray(r.messages)) received += r.messages.length;
        if (measuring) {
          latency.add(performance.now() - t0);
          requests++;
        }
      } catch (e) {
        errors++;
        const kind = (e as Error).message.slice(0, 60);
        errorKinds.set(kind, (errorKinds.get(kind) ?? 0) + 1);
        await sleep(1);
      }
    }
  };
  const loops = Array.from({ length: cfg.agents }, (_, i) => agent(i));
  await sleep(cfg.warmupMs);
  await io.mark("start");
  const cpu0 = process.cpuUsage();
  measuring = true;
  const t0 = performance.now();
  await sleep(cfg.durationMs);
  measuring = false;
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  await io.mark("end");
  running = false;
  await Promise.all(loops);
  io.log(`legacy: ${requests} requests measured, ${errors} errors`);
  return {
    seconds: round(seconds, 3),
    requests_per_s: round(requests / seconds),
    load_cpu_cores: round((cpu.user + cpu.system) / 1e6 / seconds, 2),
    load_cpu_us_per_request: round((cpu.user + cpu.system) / requests, 1),
    latency_ms: latency.summary(),
    errors,
    error_kinds: Object.fromEntries(errorKinds),
    received,
  };
}

/** The original Python broker's figures under the same load. */
interface Original {
  requestsPerS: number;
  p50: number | null;
  errors: number;
  cpuUsPerRequest: number | null;
}

/**
 * Runs the same legacy load against the original Python broker when
 * BENCH_ORIGINAL_BROKER names its `src/claude_ipc_server.py` (claude-ipc-mcp
 * 2.0.0; see bench/original_broker.py), so the ratio comes from one run on one
 * machine. Undefined when it is not named.
 */
async function originalBroker(cfg: LegacyConfig): Promise<Original | undefined> {
  const path = Deno.env.get("BENCH_ORIGINAL_BROKER");
  if (!path) return undefined;
  const home = await Deno.makeTempDir({ prefix: "agent-ipc-bench-original-" });
  const dataDir = await Deno.makeTempDir({ prefix: "agent-ipc-bench-original-data-" });
  // The load proves its registrations with a data dir's secret; the original checks
  // none without IPC_SHARED_SECRET (which childEnv never passes on).
  await Deno.writeTextFile(`${dataDir}/secret`, "0".repeat(64) + "\n", { mode: 0o600 });
  const port = freePort();
  const child = new Deno.Command("python3", {
    args: [new URL("../original_broker.py", import.meta.url).pathname, path, String(port)],
    clearEnv: true,
    env: childEnv({ HOME: home }),
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    const first = await Promise.race([reader.read(), sleep(15_000).then(() => null)]);
    reader.releaseLock();
    child.stdout.cancel().catch(() => {});
    if (!first?.value?.startsWith("ready")) {
      throw new Error(`the original broker (${path}) did not start`);
    }
    const cpu: Record<string, number | null> = {};
    const r = await runLoad("legacy", { ...cfg, port, dataDir }, async (mark) => {
      cpu[mark] = await cpuSecondsOf(child.pid);
    });
    const perS = r.requests_per_s as number;
    const used = cpu.start != null && cpu.end != null ? cpu.end - cpu.start : null;
    return {
      requestsPerS: perS,
      p50: (r.latency_ms as LatencySummary).p50,
      errors: r.errors as number,
      cpuUsPerRequest: used === null || perS === 0
        ? null
        : round(used * 1e6 / (perS * (r.seconds as number)), 1),
    };
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
    await child.status;
    await Deno.remove(home, { recursive: true }).catch(() => {});
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
}

/** Driver side. */
export async function run(o: BenchOptions): Promise<ScenarioResult> {
  await using broker = await BrokerProcess.start({ store: o.nats?.url });
  const cpu: Record<string, number | null> = {};
  const natsCpu: Record<string, number | null> = {};
  const cfg: LegacyConfig = {
    host: broker.host,
    port: broker.port,
    dataDir: broker.dataDir,
    agents: o.legacyAgents,
    size: o.size,
    warmupMs: o.quick ? 300 : 1_000,
    durationMs: Math.min(o.durationS, 10) * 1000,
  };
  const r = await runLoad(
    "legacy",
    { ...cfg },
    async (mark) => {
      cpu[mark] = await broker.cpuSeconds();
      if (o.nats) natsCpu[mark] = await cpuSecondsOf(o.nats.pid);
    },
  );
  if (natsCpu.start != null && natsCpu.end != null) {
    const used = natsCpu.end - natsCpu.start;
    const seconds = r.seconds as number;
    r.nats_cpu_cores = round(used / seconds, 2);
    r.nats_cpu_us_per_request = round(used * 1e6 / ((r.requests_per_s as number) * seconds), 1);
  }
  if (cpu.start != null && cpu.end != null) {
    const used = cpu.end - cpu.start;
    const seconds = r.seconds as number;
    r.broker_cpu_cores = round(used / seconds, 2);
    r.broker_cpu_us_per_request = round(used * 1e6 / ((r.requests_per_s as number) * seconds), 1);
  }
  const perS = r.requests_per_s as number;
  const lat = r.latency_ms as LatencySummary;
  const orig = o.nats ? undefined : await originalBroker(cfg);
  if (orig) r.original = orig;
  const originalRows = orig
    ? [{
      scenario: "",
      metric: "original Python broker, same load (rate limit off)",
      value: orig.requestsPerS,
      unit: "req/s",
    }, {
      scenario: "",
      metric: "its request latency p50; its CPU per request",
      value: `${orig.p50}; ${orig.cpuUsPerRequest ?? "?"}`,
      unit: "ms; µs",
    }, {
      scenario: "",
      metric: "agent-ipc / original",
      value: orig.requestsPerS > 0 ? `${round(perS / orig.requestsPerS, 1)}x` : null,
      unit: "",
      target: "15x",
      met: orig.requestsPerS > 0 && perS / orig.requestsPerS >= 15,
    }]
    : [];
  return {
    figures: r,
    rows: [
      {
        scenario: `legacy, one connection per request (${o.legacyAgents} agents, 3 send : 1 check)`,
        metric: "requests/s",
        value: perS,
        unit: "req/s",
        target: "≥ 5000",
        met: perS >= 5_000,
      },
      { scenario: "", metric: "request latency p50", value: lat.p50, unit: "ms" },
      { scenario: "", metric: "request latency p99", value: lat.p99, unit: "ms" },
      {
        scenario: "",
        metric: "failed requests",
        value: r.errors as number,
        unit: "reqs",
      },
      {
        scenario: "",
        metric: "broker CPU per request",
        value: (r.broker_cpu_us_per_request as number | undefined) ?? null,
        unit: "µs",
      },
      ...(o.nats
        ? [{
          scenario: "",
          metric: "nats-server CPU per request",
          value: (r.nats_cpu_us_per_request as number | undefined) ?? null,
          unit: "µs",
        }, {
          scenario: "",
          metric: "CPU used: broker + load process + nats-server",
          value: r.broker_cpu_cores === undefined
            ? null
            : `${r.broker_cpu_cores} + ${r.load_cpu_cores} + ${r.nats_cpu_cores ?? "?"}`,
          unit: "cores",
        }]
        : [{
          scenario: "",
          metric: "CPU used: broker + load process",
          value: r.broker_cpu_cores === undefined
            ? null
            : `${r.broker_cpu_cores} + ${r.load_cpu_cores}`,
          unit: "cores",
        }]),
      ...originalRows,
    ],
  };
}
