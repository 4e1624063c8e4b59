/**
 * MCP: the cold start of `main.ts mcp` (spawn to `initialize` answered, the
 * way an assistant starts it; the broker already runs), measured raw (one
 * JSON-RPC line on stdin, time to the first line on stdout) and through the
 * MCP SDK's client (`Client.connect` over `StdioClientTransport`, which adds
 * the client's own spawn and validation), then the round trip of a `send`
 * tool call through the SDK client. Reported as not available when this
 * checkout has no MCP server.
 *
 * @module
 */

import { join } from "node:path";
import { Client, StdioClientTransport } from "../../tests/_deps.ts";
import { mcpInitialize } from "../../tests/_helpers.ts";
import { RUN_FLAGS } from "../../lib/permissions.ts";
import { BrokerProcess, childEnv, runLoad } from "../_processes.ts";
import {
  type BenchOptions,
  connectAgent,
  type LoadIo,
  type ScenarioResult,
  type Target,
} from "../_scenario.ts";
import { type LatencySummary, round, Samples } from "../_stats.ts";

const ROOT = new URL("../../", import.meta.url);
const MAIN = new URL("main.ts", ROOT).pathname;

/** Settings of the load side. */
export interface McpConfig extends Target {
  starts: number;
  calls: number;
}

/** True when this checkout has the `mcp` command. */
export async function mcpAvailable(): Promise<boolean> {
  // lib/app/ since the layering pass; lib/cli/ in older checkouts.
  for (const dir of ["lib/app/", "lib/cli/"]) {
    const run = await Deno.readTextFile(new URL(`${dir}run.ts`, ROOT)).catch(() => "");
    if (/mcp_command\.ts/.test(run)) return true;
  }
  return false;
}

function mcpArgs(cfg: McpConfig, name: string): string[] {
  return [
    "run",
    ...RUN_FLAGS,
    MAIN,
    "mcp",
    "--name",
    name,
    "--host",
    cfg.host,
    "--port",
    String(cfg.port),
    "--data-dir",
    cfg.dataDir,
    "--no-http",
    "--log-level",
    "warn",
  ];
}

function mcpEnv(cfg: McpConfig, name: string): Record<string, string> {
  return childEnv({
    IPC_SESSION_FILE: join(cfg.dataDir, `${name}.session`),
    IPC_NO_HTTP: "1",
  });
}

/**
 * The server's own cold start: spawn, write `initialize` on stdin, time the
 * first line on stdout (no client library in the way).
 */
async function rawColdStart(cfg: McpConfig, name: string): Promise<number> {
  const t0 = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: mcpArgs(cfg, name),
    clearEnv: true,
    env: mcpEnv(cfg, name),
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(
    new TextEncoder().encode(
      JSON.stringify(mcpInitialize("agent-ipc-bench")) + "\n",
    ),
  );
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  const ms = performance.now() - t0;
  await writer.close().catch(() => {});
  await reader.cancel().catch(() => {});
  await child.status;
  if (!text.includes('"result"')) throw new Error(`initialize failed: ${text.slice(0, 200)}`);
  return ms;
}

function transport(cfg: McpConfig, name: string): StdioClientTransport {
  return new StdioClientTransport({
    command: Deno.execPath(),
    args: mcpArgs(cfg, name),
    env: mcpEnv(cfg, name),
    stderr: "inherit",
  });
}

/** Load side. */
export async function load(cfg: McpConfig, _io: LoadIo): Promise<Record<string, unknown>> {
  const receiver = await connectAgent(cfg, "mcp_rx");
  const cold = new Samples();
  const coldMs: number[] = [];
  const sdk = new Samples();
  let client: Client | undefined;
  try {
    for (let i = 0; i < cfg.starts; i++) {
      const ms = await rawColdStart(cfg, `mcp_raw${i}`);
      cold.add(ms);
      coldMs.push(round(ms, 1));
    }
    for (let i = 0; i < cfg.starts; i++) {
      const c = new Client({ name: "agent-ipc-bench", version: "1" });
      const t0 = performance.now();
      await c.connect(transport(cfg, `mcp_tx${i}`));
      sdk.add(performance.now() - t0);
      if (i < cfg.starts - 1) await c.close();
      else client = c;
    }
    const calls = new Samples();
    let failed = 0;
    for (let i = 0; i < cfg.calls + 5; i++) {
      const t0 = performance.now();
      const r = await client!.callTool({
        name: "send",
        arguments: { to: "mcp_rx", message: `mcp bench ${i}` },
      });
      if (r.isError) failed++;
      if (i >= 5) calls.add(performance.now() - t0);
    }
    const got = await receiver.check({ ack: true, limit: 10_000 });
    return {
      cold_start_ms: cold.summary(),
      cold_starts_ms: coldMs,
      sdk_connect_ms: sdk.summary(),
      send_tool_ms: calls.summary(),
      send_tool_errors: failed,
      received: got.messages.length,
    };
  } finally {
    await client?.close();
    await receiver.close();
  }
}

/** Driver side. */
export async function run(o: BenchOptions): Promise<ScenarioResult> {
  if (!(await mcpAvailable())) {
    return {
      figures: { available: false },
      rows: [{
        scenario: "MCP (main.ts mcp)",
        metric: "not available in this checkout",
        value: null,
        unit: "",
        target: "< 500 ms cold start",
        met: null,
      }],
    };
  }
  await using broker = await BrokerProcess.start({ store: o.nats?.url });
  const r = await runLoad(
    "mcp",
    {
      host: broker.host,
      port: broker.port,
      dataDir: broker.dataDir,
      starts: o.quick ? 3 : 7,
      calls: o.quick ? 50 : 300,
    } satisfies McpConfig,
  );
  const cold = r.cold_start_ms as LatencySummary;
  const call = r.send_tool_ms as LatencySummary;
  return {
    figures: r,
    rows: [
      {
        scenario: "MCP: main.ts mcp over stdio (broker running)",
        metric: `cold start to initialize answered (raw JSON-RPC), p50 of ${cold.count}`,
        value: cold.p50,
        unit: "ms",
        target: "< 500",
        met: cold.p50 === null ? null : cold.p50 < 500,
      },
      { scenario: "", metric: "cold start, slowest", value: cold.max, unit: "ms" },
      {
        scenario: "",
        metric: "SDK client connect (spawn + initialize + initialized) p50",
        value: (r.sdk_connect_ms as LatencySummary).p50,
        unit: "ms",
      },
      {
        scenario: "",
        metric: "send tool call round trip (SDK client) p50",
        value: call.p50,
        unit: "ms",
      },
      {
        scenario: "",
        metric: "send tool call round trip (SDK client) p99",
        value: call.p99,
        unit: "ms",
      },
    ],
  };
}
