/**
 * `deno task bench`: starts a broker as a subprocess (the real program, the
 * durable SQLite store or, with `--store nats`, a `nats-server -js` the
 * driver runs, a fresh data dir, a free port), drives it from a
 * separate load process, prints a table and writes the same figures as JSON.
 * Figures are reported, never asserted: the exit status is non-zero only when
 * a scenario could not run or an acknowledged message was lost.
 *
 * Run `deno task bench --help` for the options.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { dirname } from "node:path";
import { VERSION } from "../lib/version.ts";
import { denoFlags, limits, readProc } from "./_processes.ts";
import { NatsServer } from "./_nats.ts";
import type { BenchOptions, Row, ScenarioResult } from "./_scenario.ts";
import { round } from "./_stats.ts";

/** The NATS backlog by default: NATS enqueues slower than SQLite, and the run stays bounded. */
const NATS_QUEUED = 100_000;
const NATS_QUEUED_QUICK = 10_000;

/** Help text. */
export const HELP = `Usage: deno task bench [options]

Benchmarks agent-ipc: a broker subprocess (main.ts broker, SQLite store or
--store nats, fresh data dir) driven by a separate load process over loopback.

Options:
  --store STORE           sqlite (default) or nats: a nats-server -js on a free
                          loopback port, started by the bench (needs nats-server
                          on PATH), emptied before each scenario and stopped at
                          the end; every broker gets --store nats://127.0.0.1:PORT
  --quick                 CI smoke mode: small counts, finishes in under a minute
  --agents N              agents of the throughput scenario (default 20)
  --duration S            measured seconds of throughput and legacy (default 10, quick 3)
  --size BYTES            message content size (default 128)
  --window N              in-flight sends per agent in the throughput scenario (default 16)
  --legacy-agents N       agents of the legacy scenario (default 10)
  --queued N              messages of the backlog scenario (default 1000000, quick 50000;
                          with --store nats ${NATS_QUEUED}, quick ${NATS_QUEUED_QUICK})
  --recipients N          recipients of the backlog (default 100)
  --samples N             one-at-a-time sends measured for latency (default 2000, quick 300)
  --failover-agents N     senders (and receivers) of the failover scenario (default 4)
  --only LIST             comma-separated scenarios: ${"latency,throughput,legacy,backlog,mcp,failover,hooks,reach"}
  --json PATH             where to write the JSON figures (default bench/results.json)
  --cpu-prof DIR          write V8 CPU profiles of the broker and load processes to DIR
  -h, --help              show this help

Figures vary by machine: they are reported, not asserted. The exit status is 1
only when a scenario fails to run or messages are lost.

BENCH_BROKER_ENTRY=/other/checkout/main.ts runs that program as the broker
(A/B comparisons of broker changes under the same load).

BENCH_ORIGINAL_BROKER=/path/to/claude-ipc-mcp/src/claude_ipc_server.py runs the
legacy load against the original Python broker too, right after agent-ipc's
(python3; rate limit off, see bench/original_broker.py), and prints the ratio.
`;

const SCENARIOS: Record<string, () => Promise<(o: BenchOptions) => Promise<ScenarioResult>>> = {
  latency: async () => (await import("./scenarios/latency.ts")).run,
  throughput: async () => (await import("./scenarios/throughput.ts")).run,
  legacy: async () => (await import("./scenarios/legacy.ts")).run,
  backlog: async () => (await import("./scenarios/backlog.ts")).run,
  mcp: async () => (await import("./scenarios/mcp.ts")).run,
  failover: async () => (await import("./scenarios/failover.ts")).run,
  hooks: async () => (await import("./scenarios/hooks.ts")).run,
  reach: async () => (await import("./scenarios/reach.ts")).run,
};

function int(value: string | undefined, flag: string, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) {
    throw new RangeError(
      `Invalid --${flag} "${value}": expected a whole number of at least ${min}`,
    );
  }
  return n;
}

/** Parses the command line; throws `RangeError` / `TypeError` on misuse. */
export function parseOptions(
  args: string[],
): BenchOptions & { json: string; help: boolean; cpuProf?: string } {
  const { values } = parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      quick: { type: "boolean" },
      store: { type: "string" },
      agents: { type: "string" },
      duration: { type: "string" },
      size: { type: "string" },
      window: { type: "string" },
      "legacy-agents": { type: "string" },
      queued: { type: "string" },
      recipients: { type: "string" },
      samples: { type: "string" },
      "failover-agents": { type: "string" },
      only: { type: "string" },
      json: { type: "string" },
      "cpu-prof": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  const quick = values.quick === true;
  const store = values.store ?? "sqlite";
  if (store !== "sqlite" && store !== "nats") {
    throw new RangeError(`Invalid --store "${store}": use sqlite or nats`);
  }
  const nats = store === "nats";
  const only = values.only ? values.only.split(",").map((s) => s.trim()).filter(Boolean) : [];
  for (const name of only) {
    if (!(name in SCENARIOS)) {
      throw new RangeError(
        `Unknown scenario "${name}" in --only: use ${Object.keys(SCENARIOS).join(", ")}`,
      );
    }
  }
  return {
    quick,
    agents: int(values.agents, "agents", 20, 2),
    durationS: int(values.duration, "duration", quick ? 3 : 10),
    size: int(values.size, "size", 128),
    window: int(values.window, "window", 16),
    legacyAgents: int(values["legacy-agents"], "legacy-agents", 10, 2),
    queued: int(
      values.queued,
      "queued",
      nats ? (quick ? NATS_QUEUED_QUICK : NATS_QUEUED) : (quick ? 50_000 : 1_000_000),
    ),
    recipients: int(values.recipients, "recipients", 100),
    samples: int(values.samples, "samples", quick ? 300 : 2_000),
    failoverAgents: int(values["failover-agents"], "failover-agents", 4),
    only,
    store,
    json: values.json ?? new URL("./results.json", import.meta.url).pathname,
    cpuProf: values["cpu-prof"],
    help: values.help === true,
  };
}

/** Where the figures came from. */
export async function machine(): Promise<Record<string, unknown>> {
  const cpuinfo = await readProc("/proc/cpuinfo");
  const cpu = cpuinfo ? /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] : undefined;
  let load: number[] | undefined;
  try {
    load = Deno.loadavg().map((x) => round(x, 2));
  } catch { /* not permitted */ }
  let memory: number | undefined;
  try {
    memory = round(Deno.systemMemoryInfo().total / 1024 ** 3, 1);
  } catch { /* not permitted */ }
  return {
    os: `${Deno.build.os} ${Deno.osRelease?.() ?? ""}`.trim(),
    arch: Deno.build.arch,
    cpu: cpu ?? "unknown",
    cores: navigator.hardwareConcurrency,
    memory_gib: memory,
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    load_average: load,
  };
}

function cell(v: Row["value"]): string {
  if (v === null) return "n/a";
  if (typeof v === "number") {
    return Math.abs(v) >= 1000 ? Math.round(v).toLocaleString("en") : String(v);
  }
  return v;
}

/**
 * The report as a Markdown table; with `store`, the header names it
 * (`Scenario (store: nats)`).
 */
export function table(rows: Row[], store?: string): string {
  const head = [
    store ? `Scenario (store: ${store})` : "Scenario",
    "Metric",
    "Value",
    "Unit",
    "Target",
    "Met",
  ];
  const body = rows.map((r) => [
    r.scenario,
    r.metric,
    cell(r.value),
    r.unit,
    r.target ?? "",
    r.met === undefined ? "" : r.met === null ? "n/a" : r.met ? "yes" : "NO",
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) =>
    "| " + cells.map((c, i) => i === 2 ? c.padStart(widths[i]) : c.padEnd(widths[i])).join(" | ") +
    " |";
  return [
    line(head),
    "|" + widths.map((w, i) => (i === 2 ? "-".repeat(w + 1) + ":" : "-".repeat(w + 2))).join("|") +
    "|",
    ...body.map(line),
  ].join("\n");
}

async function gitCommit(): Promise<string | undefined> {
  try {
    const out = await new Deno.Command("git", {
      args: ["rev-parse", "--short", "HEAD"],
      cwd: new URL("..", import.meta.url).pathname,
      stdout: "piped",
      stderr: "null",
    }).output();
    return out.success ? new TextDecoder().decode(out.stdout).trim() : undefined;
  } catch {
    return undefined;
  }
}

/** Runs the benchmark; returns the exit status. */
export async function main(args: string[]): Promise<number> {
  let o: ReturnType<typeof parseOptions>;
  try {
    o = parseOptions(args);
  } catch (e) {
    console.error(`bench: ${(e as Error).message}\nRun "deno task bench --help" for usage.`);
    return 2;
  }
  if (o.help) {
    console.log(HELP);
    return 0;
  }
  // Quick mode is for CI: a scenario that hangs fails fast instead.
  limits.loadTimeoutMs = o.quick ? 120_000 : 15 * 60_000;
  if (o.cpuProf) {
    await Deno.mkdir(o.cpuProf, { recursive: true });
    denoFlags.push("--cpu-prof", `--cpu-prof-dir=${o.cpuProf}`);
  }
  let nats: NatsServer | undefined;
  if (o.store === "nats") {
    try {
      nats = await NatsServer.start();
    } catch (e) {
      console.error(`bench: ${(e as Error).message}`);
      return 1;
    }
    console.error(`bench: ${nats.version} on ${nats.url}`);
  }
  try {
    return await runAll(o, nats);
  } finally {
    await nats?.close();
  }
}

async function runAll(o: ReturnType<typeof parseOptions>, nats?: NatsServer): Promise<number> {
  const started = new Date();
  const before = await machine();
  const t0 = performance.now();
  const names = o.only.length ? o.only : Object.keys(SCENARIOS);
  const rows: Row[] = [];
  const results: Record<string, unknown> = {};
  let failed = false;
  let first = true;
  for (const name of names) {
    console.error(`bench: ${name}…`);
    const s0 = performance.now();
    try {
      if (nats) {
        // An empty store for each scenario, as each SQLite one gets a fresh data dir.
        if (!first) await nats.reset();
        o.nats = { url: nats.url, pid: nats.pid!, storeDir: nats.storeDir };
      }
      first = false;
      const r = await (await SCENARIOS[name]())(o);
      rows.push(...r.rows);
      results[name] = { ...r.figures, seconds_total: round((performance.now() - s0) / 1000, 1) };
      if (
        r.rows.some((row) =>
          row.metric.includes("lost") && typeof row.value === "number" && row.value > 0
        )
      ) {
        failed = true;
      }
    } catch (e) {
      failed = true;
      const message = (e as Error)?.message ?? String(e);
      console.error(`bench: ${name} failed: ${(e as Error)?.stack ?? e}`);
      rows.push({ scenario: name, metric: "failed", value: message.split("\n")[0], unit: "" });
      results[name] = { error: message };
    }
  }
  const after = await machine();
  const report = {
    agent_ipc: VERSION,
    commit: await gitCommit(),
    date: started.toISOString(),
    quick: o.quick,
    store: o.store,
    store_server: nats?.version,
    seconds: round((performance.now() - t0) / 1000, 1),
    machine: { ...before, load_average_after: after.load_average },
    options: { ...o, help: undefined, json: undefined, cpuProf: undefined, nats: undefined },
    rows,
    results,
  };
  console.log(
    table(
      rows,
      nats ? `nats, ${nats.version.replace(/^nats-server: /, "nats-server ")}` : "sqlite",
    ),
  );
  console.log(
    `\n${o.store} store; ${before.cores} cores, ${before.cpu}, Deno ${before.deno}; load average ` +
      `${(before.load_average as number[] | undefined)?.join(" ") ?? "?"} before, ` +
      `${(after.load_average as number[] | undefined)?.join(" ") ?? "?"} after; ` +
      `${report.seconds} s${o.quick ? " (quick)" : ""}`,
  );
  await Deno.mkdir(dirname(o.json), { recursive: true });
  await Deno.writeTextFile(o.json, JSON.stringify(report, null, 2) + "\n");
  console.log(`figures written to ${o.json}`);
  return failed ? 1 : 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
