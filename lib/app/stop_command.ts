/**
 * `agent-ipc stop`: stops the broker of this data dir that the `broker`
 * command runs (`deno task start`, `agent-ipc broker`, or the background
 * broker a messaging command started), gracefully: SIGTERM, on which it
 * closes its port, answers what is in flight, closes its store and releases
 * the data dir. It finds the broker in `<data dir>/broker.lock` (pid,
 * address, what runs it); sending it a signal needs the rights of its user.
 *
 * What it does not do, by design: stop a broker that an assistant's MCP
 * server hosts (it won the election). That broker lives as long as its
 * assistant, and stopping it would only make another MCP server host a new
 * one. For the same reason, when assistants' MCP servers are connected to
 * the stopped broker, one of them takes over (failover); `stop` waits a
 * moment and says so, rather than leaving the user to find a broker still
 * running.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { TIMEOUTS } from "../defaults.ts";
import { type LockHolder, lockHolder } from "../state/data_dir.ts";
import { IpcError } from "../protocol/errors.ts";
import type { CliIo } from "../cli/cli_io.ts";
import { reportError, settingsFor, UsageError } from "../cli/_common.ts";
import { parseErrorMessage } from "../suggest.ts";
import { usageLine } from "../command_table.ts";

/** Help text of `stop`. */
export const STOP_HELP = `${usageLine("stop")}

Stops the broker of this data dir (IPC_DATA_DIR) gracefully: the one that
"deno task start", "agent-ipc broker" or a messaging command started in the
background. Its pid and address are in <data dir>/broker.lock. Exits 0 once
it has stopped, or when none runs.

A broker that an assistant's MCP server hosts is not stopped (exit 1): it
lives as long as that assistant, and another assistant's MCP server would
only host a new one. Close the assistant instead. Likewise, when assistants'
MCP servers are connected, one of them takes over as the broker once this one
stops (failover); stop says so.

Options:
  --data-dir DIR        the broker's data dir (IPC_DATA_DIR)
  --port PORT           only check: the broker must be on PORT (IPC_PORT)
  --json                print one JSON document instead of text
  -h, --help            show this help
`;

const FLAGS = {
  "data-dir": { type: "string" },
  port: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/** How long a broker gets to stop after SIGTERM (grace for in-flight requests, the store). */
const STOP_WAIT_MS = TIMEOUTS.shutdownGraceMs + 8_000;
/** How long to watch for an MCP server taking over once it stopped. */
const TAKEOVER_WAIT_MS = 1_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `stop`; returns the exit status (0 stopped or none ran, 1 not stopped, 2 usage). */
export async function runStopCommand(args: string[], io: CliIo): Promise<number> {
  const json = args.includes("--json");
  let values;
  try {
    ({ values } = parseArgs({ args, options: FLAGS, strict: true, allowPositionals: false }));
  } catch (e) {
    return reportError("stop", io, json, new UsageError(parseErrorMessage(e, FLAGS)));
  }
  if (values.help) {
    io.stdout(STOP_HELP);
    return 0;
  }
  try {
    const settings = settingsFor({ "data-dir": values["data-dir"], port: values.port }, io.env);
    const portAsked = values.port !== undefined || !!io.env.IPC_PORT;
    const dataDir = settings.dataDir;
    const print = (text: string, doc: Record<string, unknown>) =>
      io.stdout(json ? JSON.stringify({ ok: true, ...doc }) + "\n" : text + "\n");
    const holder = await lockHolder(dataDir);
    if (!holder) {
      print(`No broker is running for the data dir ${dataDir}`, {
        stopped: false,
        data_dir: dataDir,
      });
      return 0;
    }
    const where = holder.port !== undefined ? `${holder.host}:${holder.port}` : "(starting)";
    if (portAsked && holder.port !== undefined && holder.port !== settings.port) {
      throw new IpcError(
        "E_NOT_FOUND",
        `The broker of the data dir ${dataDir} runs on ${where} (pid ${holder.pid}), not on port ` +
          `${settings.port}: "agent-ipc stop --port ${holder.port}" stops it`,
        { pid: holder.pid, host: holder.host, port: holder.port },
      );
    }
    if (holder.hostedBy === "mcp") {
      throw new IpcError(
        "E_BUSY",
        `The broker on ${where} runs inside an assistant's MCP server (pid ${holder.pid}): it ` +
          "lives as long as that assistant, and stopping it would only make another assistant's " +
          "MCP server host a new one. Close that assistant to stop it",
        { pid: holder.pid, host: holder.host, port: holder.port, hosted_by: "mcp" },
      );
    }
    // Windows has no SIGTERM for another process; the broker listens for SIGINT there.
    Deno.kill(holder.pid, Deno.build.os === "windows" ? "SIGINT" : "SIGTERM");
    const after = await stopped(dataDir, holder);
    if (after === "running") {
      throw new IpcError(
        "E_TIMEOUT",
        `The broker on ${where} (pid ${holder.pid}) did not stop within ${
          STOP_WAIT_MS / 1000
        } s: see ${dataDir}/broker.log`,
      );
    }
    const next = after === "stopped" ? await takeover(dataDir) : after;
    let text = `Stopped the broker on ${where} (pid ${holder.pid})`;
    if (next) {
      text += `\nAn assistant's MCP server (pid ${next.pid}) took over as the broker on ` +
        `${next.host}:${next.port}: the assistants' MCP servers keep agent-ipc running while ` +
        "they run (failover); close them to stop it for good";
    }
    print(text, {
      stopped: true,
      pid: holder.pid,
      host: holder.host,
      port: holder.port,
      ...(next ? { taken_over_by: next } : {}),
    });
    return 0;
  } catch (e) {
    return reportError("stop", io, json, e);
  }
}

/** Waits until `holder` no longer holds the data dir: "stopped", a new holder, or "running". */
async function stopped(
  dataDir: string,
  holder: LockHolder,
): Promise<"stopped" | "running" | LockHolder> {
  const deadline = Date.now() + STOP_WAIT_MS;
  while (Date.now() < deadline) {
    const now = await lockHolder(dataDir);
    if (!now) return "stopped";
    if (now.pid !== holder.pid) return now;
    await sleep(50);
  }
  return "running";
}

/** A broker that took the data dir over within a moment (an MCP server's failover), if any. */
async function takeover(dataDir: string): Promise<LockHolder | undefined> {
  const deadline = Date.now() + TAKEOVER_WAIT_MS;
  while (Date.now() < deadline) {
    const now = await lockHolder(dataDir);
    if (now?.port !== undefined) return now;
    await sleep(50);
  }
  return undefined;
}
