/**
 * `agent-ipc mcp`: the MCP server an assistant's config runs. Speaks MCP on
 * stdin/stdout (nothing else goes to stdout; logs go to stderr or
 * `--log-file`), joins the broker or wins the election and hosts it, and
 * registers `--name` / `IPC_INSTANCE` at start-up. Runs until stdin closes
 * or SIGINT/SIGTERM.
 *
 * @module
 */

import { TOOL_SPECS } from "../mcp/tool_specs.ts";
import { usageLine } from "../command_table.ts";
import { parseArgs } from "node:util";
import { denoEnv, type EnvReader, type Settings } from "../config.ts";
import { DEFAULT_HOST, SETTINGS } from "../defaults.ts";
import { fileSink, logger, setLogLevel, setLogSink } from "../log.ts";
import type { ConnectOptions } from "../client/framed_client.ts";
import { isReservedName, NAME_PATTERN } from "../protocol/validate.ts";
import { applyBrokerFlags, BROKER_FLAGS, brokerOptionsFromSettings } from "./broker_command.ts";
import { hostBrokerWith, type HostOptions } from "./host_broker.ts";
import { McpAgent, type McpAgentOptions } from "../mcp/agent.ts";
import { createIpcMcpServer } from "../mcp/server.ts";
import { stdioTransport } from "../mcp/stdio.ts";
import { parseErrorMessage } from "../suggest.ts";

const log = logger("mcp");

/** The help's list of tools: every entry of TOOL_SPECS, wrapped at 80 columns. */
function toolsHelp(): string {
  const names = Object.keys(TOOL_SPECS);
  const lines = [`Tools (${names.length}):`];
  for (const name of names) {
    const last = lines.length - 1;
    if (lines[last].length + name.length + 2 > 80) lines.push(" ");
    lines[lines.length - 1] += ` ${name},`;
  }
  return lines.join("\n").replace(/,$/, ".");
}

/** Help text of `mcp`. */
export const MCP_HELP = `${usageLine("mcp")}

Runs the MCP server over stdio, for an AI assistant's MCP config. It joins the
broker on --port, or hosts it when none runs (and takes over when its host stops).

Options:
  --name NAME           register as NAME at start-up (IPC_INSTANCE); otherwise
                        the assistant calls the register tool
  --host HOST           broker address (default ${DEFAULT_HOST}, IPC_HOST)
  --port PORT           broker port (default ${SETTINGS.port.default}, ${SETTINGS.port.env})
  --data-dir DIR        state directory (IPC_DATA_DIR)
  --http-port PORT      web console port when hosting (default ${SETTINGS.httpPort.default}, ${SETTINGS.httpPort.env})
  --no-http             no web console when hosting (IPC_NO_HTTP=1)
  --log-file FILE       append logs to FILE instead of stderr
  --log-level LEVEL     debug, info, warn, error, silent (IPC_LOG)
  -h, --help            show this help
  Every option of "agent-ipc broker" applies to the broker this process may host.

${toolsHelp()}
Resources: ipc://inbox, ipc://status.

Example (Claude Code):
  claude mcp add agent-ipc -- agent-ipc mcp --name claude
`;

/** The flags of `mcp`: the broker's (for hosting) and the name. */
export const MCP_FLAGS = {
  ...BROKER_FLAGS,
  name: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/**
 * Client and hosted-broker options from settings: the client gets the way to
 * host a broker (with these broker options) should it win the election.
 */
export async function agentOptions(
  s: Settings,
): Promise<{ client: McpAgentOptions["client"]; broker: Partial<HostOptions> }> {
  const broker: Partial<HostOptions> = await brokerOptionsFromSettings(s, {
    checkNetwork: false,
  });
  let tls: ConnectOptions["tls"];
  if (s.tlsCa) tls = { caCerts: [await Deno.readTextFile(s.tlsCa)] };
  else if (broker.tls) tls = { caCerts: [broker.tls.cert] };
  const client = {
    host: s.host,
    port: s.port,
    dataDir: s.dataDir,
    secret: s.secret,
    maxFrame: s.maxFrame * 2,
    tls,
    hostBroker: hostBrokerWith({ ...broker, hostedBy: "mcp" }),
  };
  return { client, broker };
}

/** Output for `--help` and usage errors (never protocol). */
export interface McpIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  env: EnvReader;
}

const defaultIo: McpIo = {
  stdout: (s) => void Deno.stdout.writeSync(new TextEncoder().encode(s)),
  stderr: (s) => void Deno.stderr.writeSync(new TextEncoder().encode(s)),
  env: denoEnv,
};

/** Runs `mcp` until stdin closes or a signal; returns the exit status (2: usage error). */
export async function runMcpCommand(args: string[], io: McpIo = defaultIo): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args, options: MCP_FLAGS, strict: true, allowPositionals: false }));
  } catch (e) {
    const message = parseErrorMessage(e, MCP_FLAGS);
    io.stderr(`agent-ipc mcp: ${message}\nRun "agent-ipc mcp --help" for usage.\n`);
    return 2;
  }
  if (values.help) {
    io.stdout(MCP_HELP);
    return 0;
  }
  let settings: Settings;
  try {
    settings = applyBrokerFlags(values, io.env);
  } catch (e) {
    io.stderr(`agent-ipc mcp: ${(e as Error).message}\n`);
    return 2;
  }
  const name = (values.name as string | undefined) || io.env("IPC_INSTANCE") || undefined;
  if (name !== undefined && (!NAME_PATTERN.test(name) || isReservedName(name))) {
    io.stderr(
      `agent-ipc mcp: invalid name "${name}" (--name, IPC_INSTANCE): use 1 to 32 of ` +
        `A-Z a-z 0-9 _ -, not system, all or human\n`,
    );
    return 2;
  }
  setLogLevel(settings.logLevel);
  const logFile = values["log-file"] as string | undefined;
  let logHandle: Deno.FsFile | undefined;
  if (logFile) {
    try {
      logHandle = await Deno.open(logFile, { append: true, create: true, mode: 0o600 });
    } catch (e) {
      io.stderr(`agent-ipc mcp: cannot open log file "${logFile}": ${(e as Error).message}\n`);
      return 1;
    }
    setLogSink(fileSink(logHandle));
  }
  // Stdout is the protocol: anything a library prints goes to stderr instead.
  const saved = { log: console.log, info: console.info, debug: console.debug };
  console.log = console.info = console.debug = console.error;
  try {
    let options: McpAgentOptions["client"];
    try {
      ({ client: options } = await agentOptions(settings));
    } catch (e) {
      io.stderr(`agent-ipc mcp: ${(e as Error).message}\n`);
      return 1;
    }
    // The parent is the assistant: its hooks find this session under that pid.
    const sessionId = io.env("CLAUDE_CODE_SESSION_ID") || undefined;
    return await serve(
      new McpAgent({ client: options, name, assistant: { pid: Deno.ppid, sessionId } }),
    );
  } finally {
    Object.assign(console, saved);
    logHandle?.close();
  }
}

async function serve(agent: McpAgent): Promise<number> {
  const app = createIpcMcpServer(agent);
  const { transport, stdinEnded } = stdioTransport();
  let stop!: (why: string) => void;
  const stopped = new Promise<string>((resolve) => stop = resolve);
  void stdinEnded.then(() => stop("stdin closed"));
  app.server.server.onclose = () => stop("transport closed");
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  const onSignal = () => stop("signal");
  for (const sig of signals) Deno.addSignalListener(sig, onSignal);
  try {
    await app.connect(transport);
    log.info(`MCP server ready on stdio (broker ${agent.address})`);
    void agent.start();
    log.info(`stopping: ${await stopped}`);
  } finally {
    for (const sig of signals) Deno.removeSignalListener(sig, onSignal);
    await app.close().catch(() => {});
    await agent.close().catch((e) => log.warn(`close: ${(e as Error).message}`));
    await app.resources.watcher.close();
  }
  return 0;
}
