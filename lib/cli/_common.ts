/**
 * What every client command of the CLI shares: the common flags, strict
 * argument parsing with types derived from the parser, settings from flags
 * over `IPC_*` variables, the connection (a missing broker is started in the
 * background, never hosted here), the saved session, and one way to print
 * results and errors (human text, or one JSON document with `--json`).
 *
 * @module
 */

import { selfName } from "../self_command.ts";
import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { type Settings, settingsFromEnv } from "../config.ts";
import { DEFAULT_HOST, SETTINGS } from "../defaults.ts";
import { IpcError } from "../protocol/errors.ts";
import { setLogLevel, setLogSink } from "../log.ts";
import { parseErrorMessage } from "../suggest.ts";
import { AgentClient, type AgentClientOptions, type Session } from "../client/agent_client.ts";
import { readSessionFile } from "../client/session_file.ts";
import type { CliIo } from "./cli_io.ts";

/** Flags every client command takes. */
export const COMMON_FLAGS = {
  host: { type: "string" },
  port: { type: "string" },
  "data-dir": { type: "string" },
  "session-file": { type: "string" },
  "tls-ca": { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/** Help lines of {@linkcode COMMON_FLAGS}, for every command's help. */
export const COMMON_HELP = `Common options:
  --host HOST           broker address (default ${DEFAULT_HOST}, IPC_HOST)
  --port PORT           broker port (default ${SETTINGS.port.default}, ${SETTINGS.port.env})
  --data-dir DIR        broker data dir: secret, log (IPC_DATA_DIR)
  --session-file FILE   saved session (default ~/.ipc-session, IPC_SESSION_FILE)
  --tls-ca FILE         CA certificate of a TLS broker on another host (IPC_TLS_CA)
  --json                print one JSON document instead of text
  -h, --help            show this help`;

/** A misuse of the command line: exit status 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Parses `args` strictly with the common flags plus `options`. */
export function parseCommand<const O extends ParseArgsOptionsConfig>(args: string[], options: O) {
  return parseArgs({
    args,
    options: { ...COMMON_FLAGS, ...options },
    strict: true,
    allowPositionals: true,
  });
}

/** The parsed flag values of a command with extra `options`. */
export type CommandValues<O extends ParseArgsOptionsConfig> = ReturnType<
  typeof parseCommand<O>
>["values"];

/** Everything a client command's body gets. */
export interface CommandContext<O extends ParseArgsOptionsConfig> {
  name: string;
  io: CliIo;
  values: CommandValues<O>;
  positionals: string[];
  settings: Settings;
  /** True with `--json`. */
  json: boolean;
  /** Prints a result: `human` as text, or `{ok: true, ...doc}` as JSON. */
  print: (human: string, doc: Record<string, unknown>) => void;
}

/** One client command. */
export interface ClientCommand<O extends ParseArgsOptionsConfig> {
  name: string;
  /** Full `--help` text. */
  help: string;
  /** Flags beyond {@linkcode COMMON_FLAGS}. */
  flags: O;
  /** How many positional arguments it takes, and how to name them in errors. */
  positionals: { min: number; max: number; usage: string };
  /** Runs the command; resolves with the exit status (default 0). */
  run: (ctx: CommandContext<O>) => Promise<number | void>;
}

/** Parses a whole number flag or throws a UsageError. */
export function intFlag(
  value: string | undefined,
  flag: string,
  min: number,
  max: number,
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === "" || !Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(
      `Invalid --${flag} "${value}": expected a whole number from ${min} to ${max}`,
    );
  }
  return n;
}

/** Settings from the environment, overridden by the common flags. */
export function settingsFor(
  values: CommandValues<Record<never, never>>,
  env: CliIo["env"],
): Settings {
  let s: Settings;
  try {
    s = settingsFromEnv((name) => env[name]);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (values.host) s.host = values.host;
  const port = intFlag(values.port, "port", 1, 65535);
  if (port !== undefined) s.port = port;
  if (s.port === 0) throw new UsageError(`Invalid IPC_PORT "0": a client needs the broker's port`);
  if (values["data-dir"]) s.dataDir = values["data-dir"];
  if (values["session-file"]) s.sessionFile = values["session-file"];
  if (values["tls-ca"]) s.tlsCa = values["tls-ca"];
  return s;
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host.startsWith("127.");
}

/**
 * Connects to the broker with `session` (if any). On loopback a missing broker
 * is started detached in the background; a remote one must already run (TLS).
 */
export async function connectClient(
  s: Settings,
  session?: Session,
  extra: Partial<AgentClientOptions> = {},
): Promise<AgentClient> {
  const local = isLoopback(s.host);
  let tls: AgentClientOptions["tls"];
  if (s.tlsCa) tls = { caCerts: [await Deno.readTextFile(s.tlsCa)] };
  else if (!local) tls = true;
  if (local) {
    // A detached broker logs to <data-dir>/broker.log, which it opens before it
    // creates the data dir: make sure the directory is there (private).
    await Deno.mkdir(s.dataDir, { recursive: true, mode: 0o700 }).catch(() => {});
  }
  return await AgentClient.connect({
    host: s.host,
    port: s.port,
    dataDir: s.dataDir,
    role: local ? "spawn" : "none",
    secret: s.secret,
    session,
    autoReregister: false,
    tls,
    ...extra,
  });
}

/** The saved session, or an E_SESSION error telling how to register. */
export async function requireSession(s: Settings): Promise<Session> {
  const session = await readSessionFile(s.sessionFile);
  if (!session) {
    throw new IpcError(
      "E_SESSION",
      `not registered: run "${selfName()} register NAME" first (no session in "${s.sessionFile}")`,
    );
  }
  return session;
}

/** The error for a saved session the broker no longer knows. */
export function expiredSession(session: Session): IpcError {
  return new IpcError(
    "E_SESSION",
    `The session of "${session.name}" is no longer valid (revoked by a newer registration, ` +
      `unregistered, or the broker's data was reset): run "${selfName()} register ${session.name}" again`,
  );
}

/** Connects with the saved session; throws when there is none or the broker rejects it. */
export async function connectWithSession(
  s: Settings,
  extra: Partial<AgentClientOptions> = {},
): Promise<{ client: AgentClient; session: Session }> {
  const session = await requireSession(s);
  const client = await connectClient(s, session, extra);
  if (!client.session) {
    await client.close();
    throw expiredSession(session);
  }
  return { client, session };
}

/**
 * Routes library log lines to stderr, briefly ("agent-ipc: starting one in the
 * background"): the election's notes and every warning.
 */
function routeLogs(io: CliIo): void {
  setLogLevel(io.env.IPC_LOG || "info");
  const verbose = io.env.IPC_LOG === "debug" || io.env.IPC_LOG === "info";
  setLogSink((r) => {
    if (!verbose && r.level === "info" && r.scope !== "election") return;
    io.stderr(`agent-ipc: ${r.message}\n`);
  });
}

/** Prints an error the way every command does; returns its exit status. */
export function reportError(
  name: string,
  io: CliIo,
  json: boolean,
  e: unknown,
): number {
  const usage = e instanceof UsageError;
  const code = usage ? "E_USAGE" : e instanceof IpcError ? e.code : "E_INTERNAL";
  const message = (e as Error)?.message ?? String(e);
  const prefix = name ? `agent-ipc ${name}` : "agent-ipc";
  io.stderr(
    `${prefix}: ${message}\n` +
      (usage ? `Run "${selfName()} ${name ? name + " " : ""}--help" for usage.\n` : ""),
  );
  if (json) {
    try {
      // Details the broker gave (the conflicts of a claim) come along.
      const details = e instanceof IpcError ? e.details : undefined;
      io.stdout(JSON.stringify({ ...details, ok: false, code, error: message }) + "\n");
    } catch { /* stdout gone */ }
  }
  return usage ? 2 : 1;
}

/** Parses, checks and runs a client command; returns the exit status. */
export async function runClientCommand<const O extends ParseArgsOptionsConfig>(
  cmd: ClientCommand<O>,
  args: string[],
  io: CliIo,
): Promise<number> {
  const jsonRequested = args.includes("--json");
  let parsed: ReturnType<typeof parseCommand<O>>;
  try {
    parsed = parseCommand(args, cmd.flags);
  } catch (e) {
    const message = parseErrorMessage(e, { ...COMMON_FLAGS, ...cmd.flags });
    return reportError(cmd.name, io, jsonRequested, new UsageError(message));
  }
  const values = parsed.values as CommandValues<O>;
  const common = parsed.values as CommandValues<Record<never, never>>;
  const json = common.json === true;
  if (common.help) {
    io.stdout(cmd.help);
    return 0;
  }
  try {
    const { min, max, usage } = cmd.positionals;
    const n = parsed.positionals.length;
    if (n < min || n > max) {
      const what = n < min
        ? "Missing arguments"
        : `Unexpected argument "${parsed.positionals[max]}"`;
      throw new UsageError(`${what}: usage is "agent-ipc ${cmd.name}${usage ? " " + usage : ""}"`);
    }
    const settings = settingsFor(common, io.env);
    routeLogs(io);
    const print = (human: string, doc: Record<string, unknown>) => {
      io.stdout(json ? JSON.stringify({ ok: true, ...doc }) + "\n" : human);
    };
    const code = await cmd.run({
      name: cmd.name,
      io,
      values,
      positionals: parsed.positionals,
      settings,
      json,
      print,
    });
    return code ?? 0;
  } catch (e) {
    return reportError(cmd.name, io, json, e);
  }
}

/** Joins message words, or reads the message from stdin for a lone `-`. */
export async function messageText(words: string[], io: CliIo): Promise<string> {
  let text: string;
  if (words.length === 1 && words[0] === "-") {
    text = (await io.readStdin()).replace(/\r?\n$/, "");
  } else {
    text = words.join(" ");
  }
  if (text.length === 0) throw new UsageError("The message is empty");
  return text;
}

/** Parses `--data JSON` (an object) or throws a UsageError. */
export function dataFlag(raw: string | undefined): Record<string, unknown> | undefined {
  if (raw === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new UsageError(`Invalid --data: not valid JSON`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new UsageError(`Invalid --data: must be a JSON object like '{"key": "value"}'`);
  }
  return value as Record<string, unknown>;
}
