/**
 * `agent-ipc broker`: runs a broker in the foreground until SIGINT or SIGTERM,
 * then shuts down in order (listener, connections, store). Settings come from
 * flags, then `IPC_*` variables, then defaults.
 *
 * @module
 */

import { selfName, shellWord } from "../self_command.ts";
import { usageLine } from "../command_table.ts";
import { dirname } from "node:path";
import { parseArgs } from "node:util";
import {
  defaultDataDir,
  type EnvReader,
  natsReplicasFrom,
  type Settings,
  settingsFromEnv,
} from "../config.ts";
import { DEFAULT_HOST, type NumericSetting, SETTINGS as S } from "../defaults.ts";
import { IpcError } from "../protocol/errors.ts";
import { fileSink, logger, setLogLevel, setLogSink } from "../log.ts";
import { checkNetworkMode } from "../broker/server.ts";
import { isDataDirLocked } from "../state/data_dir.ts";
import { START_FAILED } from "../client/spawn.ts";
import { parseErrorMessage } from "../suggest.ts";
import { type BrokerAndConsole, hostBroker, type HostOptions } from "./host_broker.ts";

const log = logger("broker");

/** Help text of `broker`. */
export const BROKER_HELP = `${usageLine("broker")}

Runs the message broker in the foreground (Ctrl-C stops it cleanly).

Registering needs the shared secret: IPC_SHARED_SECRET when set, else the
random secret the broker creates once in <data dir>/secret (mode 0600). The
same port serves agent-ipc's clients and the original claude-ipc-mcp Python
scripts (the legacy protocol: one JSON request per connection); give those
the secret: IPC_SHARED_SECRET="$(cat <data dir>/secret)".

Options:
  --host HOST           address to bind (default ${DEFAULT_HOST}, IPC_HOST)
  --port PORT           port to bind (default ${S.port.default}, ${S.port.env})
  --data-dir DIR        state directory (default: per-user data dir, IPC_DATA_DIR)
  --store STORE         "sqlite" (default) or nats://host:4222 (IPC_STORE)
  --nats-token TOKEN    NATS token (IPC_NATS_TOKEN)
  --nats-creds FILE     NATS credentials file (IPC_NATS_CREDS)
  --nats-replicas N     replicas of each NATS stream, bucket and consumer, 1-5 (default: 3
                        in a cluster of 3 or more servers, else 1; IPC_NATS_REPLICAS)
  --http-port PORT      web console port (default ${S.httpPort.default}, ${S.httpPort.env})
  --no-http             do not serve the web console
  --history-days N      keep delivered messages N days for history (default ${S.historyDays.default})
  --max-frame BYTES     largest request (default ${S.maxFrame.default}, ${S.maxFrame.env})
  --max-connections N   (default ${S.maxConnections.default}, ${S.maxConnections.env})
  --idle-timeout-ms MS  time to complete a started frame (default ${S.idleTimeoutMs.default})
  --queue-cap N         messages per recipient queue (default ${S.queueCap.default}, ${S.queueCap.env})
  --tls-cert FILE       PEM certificate: required to bind a non-loopback --host
  --tls-key FILE        PEM private key
  --tls-ca FILE         CA certificate to trust for a TLS broker on another host (IPC_TLS_CA)
  --log-file FILE       append logs to FILE instead of stderr
  --log-level LEVEL     debug, info, warn, error, silent (IPC_LOG)
  -h, --help            show this help

Example:
  agent-ipc broker --port ${S.port.default} --data-dir ~/.local/share/agent-ipc
`;

/** Flag definitions of `broker`, shared with commands that host one. */
export const BROKER_FLAGS = {
  host: { type: "string" },
  port: { type: "string" },
  "data-dir": { type: "string" },
  store: { type: "string" },
  "nats-token": { type: "string" },
  "nats-creds": { type: "string" },
  "nats-replicas": { type: "string" },
  "http-port": { type: "string" },
  "no-http": { type: "boolean" },
  "history-days": { type: "string" },
  "max-frame": { type: "string" },
  "max-connections": { type: "string" },
  "idle-timeout-ms": { type: "string" },
  "queue-cap": { type: "string" },
  "tls-cert": { type: "string" },
  "tls-key": { type: "string" },
  "tls-ca": { type: "string" },
  "log-file": { type: "string" },
  "log-level": { type: "string" },
} as const;

/** The value of a numeric flag, within the setting's range. */
function int(value: string, setting: NumericSetting): number {
  const { flag, min, max } = setting;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new RangeError(
      `Invalid --${flag} "${value}": expected a whole number from ${min} to ${max}`,
    );
  }
  return n;
}

/** Applies parsed broker flags over settings from the environment. */
export function applyBrokerFlags(
  values: Record<string, string | boolean | undefined>,
  env?: EnvReader,
): Settings {
  const s = settingsFromEnv(env);
  const str = (k: string) => values[k] as string | undefined;
  if (str("host")) s.host = str("host")!;
  if (str("port") !== undefined) s.port = int(str("port")!, S.port);
  if (str("data-dir")) s.dataDir = str("data-dir")!;
  if (str("store")) s.store = str("store")!;
  if (str("nats-token")) s.natsToken = str("nats-token");
  if (str("nats-creds")) s.natsCreds = str("nats-creds");
  if (str("nats-replicas") !== undefined) {
    s.natsReplicas = natsReplicasFrom(str("nats-replicas"), "--nats-replicas");
  }
  if (str("http-port") !== undefined) s.httpPort = int(str("http-port")!, S.httpPort);
  if (values["no-http"]) s.noHttp = true;
  if (str("history-days") !== undefined) {
    s.historyDays = int(str("history-days")!, S.historyDays);
  }
  if (str("max-frame") !== undefined) {
    s.maxFrame = int(str("max-frame")!, S.maxFrame);
  }
  if (str("max-connections") !== undefined) {
    s.maxConnections = int(str("max-connections")!, S.maxConnections);
  }
  if (str("idle-timeout-ms") !== undefined) {
    s.idleTimeoutMs = int(str("idle-timeout-ms")!, S.idleTimeoutMs);
  }
  if (str("queue-cap") !== undefined) s.queueCap = int(str("queue-cap")!, S.queueCap);
  if (str("tls-cert")) s.tlsCert = str("tls-cert");
  if (str("tls-key")) s.tlsKey = str("tls-key");
  if (str("tls-ca")) s.tlsCa = str("tls-ca");
  if (str("log-level")) s.logLevel = str("log-level");
  return s;
}

/**
 * Broker options from settings: checks network mode and reads the TLS files.
 * Shared by `broker` and by `mcp` (which may host the broker when elected; a
 * client of a remote broker skips the network-mode check, which is the broker's).
 */
export async function brokerOptionsFromSettings(
  s: Settings,
  { checkNetwork = true } = {},
): Promise<HostOptions> {
  if ((s.tlsCert === undefined) !== (s.tlsKey === undefined)) {
    throw new IpcError("E_BAD_FIELD", "Give both --tls-cert and --tls-key, or neither");
  }
  if (checkNetwork) checkNetworkMode(s.host, s.tlsCert !== undefined, s.secret !== undefined);
  const tls = s.tlsCert && s.tlsKey
    ? { cert: await Deno.readTextFile(s.tlsCert), key: await Deno.readTextFile(s.tlsKey) }
    : undefined;
  return {
    host: s.host,
    port: s.port,
    dataDir: s.dataDir,
    store: s.store,
    natsToken: s.natsToken,
    natsCreds: s.natsCreds,
    natsReplicas: s.natsReplicas,
    secret: s.secret,
    maxFrame: s.maxFrame,
    maxConnections: s.maxConnections,
    idleTimeoutMs: s.idleTimeoutMs,
    queueCap: s.queueCap,
    historyDays: s.historyDays,
    tls,
    console: s.noHttp ? undefined : { port: s.httpPort },
  };
}

/** Starts a broker, with its console unless `--no-http`, from settings. */
export async function startBrokerFromSettings(
  s: Settings,
  listener?: Deno.Listener,
): Promise<BrokerAndConsole> {
  return await hostBroker({ ...await brokerOptionsFromSettings(s), listener });
}

/**
 * What `broker` prints once it serves: where it is and how to connect
 * assistants, with the settings a client needs to find it (a port or data
 * dir that is not the default; setup writes them into the assistants' configs).
 */
export function connectHint(
  host: string,
  port: number,
  consoleUrl?: string,
  command = "agent-ipc",
  dataDir?: string,
): string {
  // Copyable as printed: the settings a client needs to find this broker (a port or
  // data dir that is not the default; setup writes them into the assistants' configs),
  // then the command this program is run with (selfCommand()).
  const vars = [
    ...(port === S.port.default ? [] : [`${S.port.env}=${port}`]),
    ...(dataDir && dataDir !== defaultDataDir() ? [`IPC_DATA_DIR=${shellWord(dataDir)}`] : []),
  ];
  const env = [...vars, command].join(" ");
  return [
    `agent-ipc broker serving on ${host}:${port}${consoleUrl ? `, web console ${consoleUrl}` : ""}`,
    `Connect assistants:`,
    `  MCP (Claude Code, Gemini CLI, Codex, Cursor, Windsurf): ${env} setup all`,
    `    (each assistant registers under its own name: claude, codex, gemini, cursor, windsurf)`,
    `  shell or scripts:  ${env} register NAME; ${env} send TO "hello"; ${env} check`,
    `  web console login: ${env} web`,
    command === "agent-ipc"
      ? `(Ctrl-C or "${env} stop" stops the broker)`
      : `(Ctrl-C or "${env} stop" stops the broker; "deno task install" in the checkout installs the agent-ipc command)`,
  ].join("\n");
}

/** Runs `broker`; returns the exit code. */
export async function runBrokerCommand(
  args: string[],
  io: { stdout: (s: string) => void; stderr: (s: string) => void } = {
    stdout: (s) => console.log(s),
    stderr: (s) => console.error(s),
  },
): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args,
      options: { ...BROKER_FLAGS, help: { type: "boolean", short: "h" } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    const message = parseErrorMessage(e, BROKER_FLAGS);
    io.stderr(`agent-ipc broker: ${message}\nRun "agent-ipc broker --help" for usage.`);
    return 2;
  }
  if (values.help) {
    io.stdout(BROKER_HELP);
    return 0;
  }
  let settings: Settings;
  try {
    settings = applyBrokerFlags(values);
  } catch (e) {
    io.stderr(`agent-ipc broker: ${(e as Error).message}`);
    return 2;
  }
  setLogLevel(settings.logLevel);
  const logFile = values["log-file"] as string | undefined;
  let logHandle: Deno.FsFile | undefined;
  if (logFile) {
    try {
      // The log usually lives in the data dir, which may not exist yet on a fresh machine.
      await Deno.mkdir(dirname(logFile), { recursive: true, mode: 0o700 });
      logHandle = await Deno.open(logFile, { append: true, create: true, mode: 0o600 });
      setLogSink(fileSink(logHandle));
    } catch (e) {
      io.stderr(`agent-ipc broker: cannot open log file "${logFile}": ${(e as Error).message}`);
      return 1;
    }
  }
  // Signals are taken before the port is bound: a SIGTERM that comes as soon as the port
  // answers (a supervisor, `agent-ipc stop`) must stop the broker in order, not kill it.
  let broker: BrokerAndConsole | undefined;
  let stopRequested = false;
  const stop = () => {
    stopRequested = true;
    void broker?.close();
  };
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  for (const sig of signals) Deno.addSignalListener(sig, stop);
  const unlisten = () => {
    for (const sig of signals) Deno.removeSignalListener(sig, stop);
  };
  try {
    broker = await startBrokerFromSettings(settings);
  } catch (e) {
    unlisten();
    const addrInUse = e instanceof Deno.errors.AddrInUse;
    const held = isDataDirLocked(e) ? (e as IpcError).details : undefined;
    const msg = addrInUse
      ? `port ${settings.port} on ${settings.host} is already in use (another broker or program): ` +
        `"agent-ipc status" tells whether it is a broker; otherwise pick --port`
      : typeof held?.port === "number"
      ? `already running on ${held.host}:${held.port} (pid ${held.pid}) with the data dir ` +
        `${settings.dataDir}: "agent-ipc stop${
          held.port === S.port.default ? "" : ` --port ${held.port}`
        }" stops it; a second broker needs its own --data-dir and --port`
      : (e as Error).message;
    // The election of the client that started this broker reads this record back:
    // `transient` (lost a race for the port or the data dir) means "try again".
    if (logHandle) {
      log.error(`cannot start: ${msg}`, {
        event: START_FAILED,
        reason: msg,
        transient: addrInUse || isDataDirLocked(e),
      });
    }
    io.stderr(`agent-ipc broker: cannot start: ${msg}`);
    logHandle?.close();
    return 1;
  }
  io.stdout(
    connectHint(
      broker.hostname,
      broker.port,
      broker.consoleUrl,
      selfName(),
      settings.dataDir,
    ),
  );
  if (stopRequested) void broker.close();
  await broker.finished;
  unlisten();
  logHandle?.close();
  return 0;
}
