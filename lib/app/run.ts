/**
 * The command line: picks the command from the arguments, runs it with an
 * injectable {@linkcode CliIo} and returns the exit status (0 success,
 * 1 the operation failed, 2 usage error). The top of the program: client
 * commands live in `lib/cli/` (`session_commands.ts`, `message_commands.ts`);
 * `broker`, `setup`, `mcp` and `web` are loaded only when asked for, so a
 * client command starts fast.
 *
 * @module
 */

import { useSelfCommand } from "../self_command.ts";
import { VERSION } from "../version.ts";
import { didYouMean } from "../suggest.ts";
import { homeDir } from "../config.ts";
import { type CliIo, denoIo } from "../cli/cli_io.ts";
import { type ClientCommand, reportError, runClientCommand, UsageError } from "../cli/_common.ts";
import { LIST, REGISTER, RENAME, STATUS, UNREGISTER, WHOAMI } from "../cli/session_commands.ts";
import { BROADCAST, CHECK, SEND, WAIT } from "../cli/message_commands.ts";
import { CLAIM, CLAIMS, RELEASE } from "../cli/claim_commands.ts";
import { ASK, RECEIPT, REPLY, THREAD } from "../cli/conversation_commands.ts";
import { COMMAND_TABLE, commandSpec, shortUsage } from "../command_table.ts";

/** A command as the dispatcher sees it. */
interface Command {
  /** One line for the command list. */
  summary: string;
  /** Full help, or how to get it from the command itself. */
  help: (io: CliIo) => Promise<string | number>;
  run: (args: string[], io: CliIo) => Promise<number>;
}

// deno-lint-ignore no-explicit-any
function client(cmd: ClientCommand<any>): Command {
  return {
    summary: commandSpec(cmd.name).summary,
    help: () => Promise.resolve(cmd.help),
    run: (args, io) => runClientCommand(cmd, args, io),
  };
}

/** Runs a command that prints its own help (`setup --help`, `mcp --help`, `web --help`). */
const ownHelp = (name: string) => async (io: CliIo) => await COMMANDS[name].run(["--help"], io);

function lineIo(io: CliIo) {
  const nl = (s: string) => s.endsWith("\n") ? s : s + "\n";
  return { stdout: (s: string) => io.stdout(nl(s)), stderr: (s: string) => io.stderr(nl(s)) };
}

async function isWsl(io: CliIo): Promise<boolean> {
  if (Deno.build.os !== "linux") return false;
  if (io.env.WSL_DISTRO_NAME || io.env.WSL_INTEROP) return true;
  try {
    return /microsoft/i.test(await Deno.readTextFile("/proc/sys/kernel/osrelease"));
  } catch {
    return false;
  }
}

/** Loads an optional module; a clear exit-1 error when it is not part of this build. */
async function load<T>(name: string, importer: () => Promise<T>, io: CliIo): Promise<T | null> {
  try {
    return await importer();
  } catch (e) {
    io.stderr(`agent-ipc ${name}: this command is not available: ${(e as Error).message}\n`);
    return null;
  }
}

const COMMANDS: Record<string, Command> = {
  register: client(REGISTER),
  send: client(SEND),
  broadcast: client(BROADCAST),
  check: client(CHECK),
  wait: client(WAIT),
  ask: client(ASK),
  reply: client(REPLY),
  thread: client(THREAD),
  receipt: client(RECEIPT),
  list: client(LIST),
  rename: client(RENAME),
  whoami: client(WHOAMI),
  status: client(STATUS),
  unregister: client(UNREGISTER),
  claim: client(CLAIM),
  release: client(RELEASE),
  claims: client(CLAIMS),
  broker: {
    summary: commandSpec("broker").summary,
    help: async () => (await import("./broker_command.ts")).BROKER_HELP,
    run: async (args, io) => {
      const { runBrokerCommand } = await import("./broker_command.ts");
      return await runBrokerCommand(args, lineIo(io));
    },
  },
  stop: {
    summary: commandSpec("stop").summary,
    help: async () => (await import("./stop_command.ts")).STOP_HELP,
    run: async (args, io) => (await import("./stop_command.ts")).runStopCommand(args, io),
  },
  mcp: {
    summary: commandSpec("mcp").summary,
    help: ownHelp("mcp"),
    run: async (args, io) => {
      const mod = await load("mcp", () => import("./mcp_command.ts"), io);
      if (!mod) return 1;
      return await mod.runMcpCommand(args, {
        stdout: io.stdout,
        stderr: io.stderr,
        env: (name) => io.env[name],
      });
    },
  },
  setup: {
    summary: commandSpec("setup").summary,
    help: ownHelp("setup"),
    run: async (args, io) => {
      const mod = await load("setup", () => import("../setup/setup_command.ts"), io);
      if (!mod) return 1;
      return await mod.runSetup(args, {
        stdout: io.stdout,
        stderr: io.stderr,
        env: io.env,
        home: homeDir((name) => io.env[name]),
        os: Deno.build.os,
        isWsl: await isWsl(io),
        cwd: Deno.cwd(),
      });
    },
  },
  doctor: {
    summary: commandSpec("doctor").summary,
    help: ownHelp("doctor"),
    run: async (args, io) => {
      const mod = await load("doctor", () => import("../setup/doctor.ts"), io);
      if (!mod) return 1;
      return await mod.runDoctor(args, {
        stdout: io.stdout,
        stderr: io.stderr,
        env: io.env,
        home: homeDir((name) => io.env[name]),
        os: Deno.build.os,
        isWsl: await isWsl(io),
        cwd: Deno.cwd(),
      });
    },
  },
  hook: {
    summary: commandSpec("hook").summary,
    help: ownHelp("hook"),
    run: async (args, io) => (await import("./hook_main.ts")).runHookCli(args, io),
  },
  web: {
    summary: commandSpec("web").summary,
    help: ownHelp("web"),
    run: async (args, io) => {
      const mod = await load("web", () => import("../web/web_command.ts"), io);
      if (!mod) return 1;
      return await mod.runWebCommand(args, { stdout: io.stdout, stderr: io.stderr, env: io.env });
    },
  },
};

/** The names `runCli` dispatches, in the order of {@linkcode COMMAND_TABLE}. */
export const COMMAND_NAMES: readonly string[] = Object.keys(COMMANDS);

const HELP_HELP = `Usage: agent-ipc help [COMMAND] [--json]

Without COMMAND: the list of commands. With one: its help, the same text as
"agent-ipc COMMAND --help".

Example:
  agent-ipc help send
`;

/** The general help text. */
export function generalHelp(): string {
  let out = `agent-ipc ${VERSION}: lets AI assistants (and you) message each other.

Usage: agent-ipc COMMAND [ARGUMENTS] [OPTIONS]
`;
  let group = "";
  for (const spec of COMMAND_TABLE) {
    if (spec.group !== group) out += `\n${group = spec.group}:\n`;
    out += `  ${shortUsage(spec).padEnd(22)}${COMMANDS[spec.name].summary}\n`;
  }
  out += `
Other:
  help [COMMAND]        this help, or a command's (same as COMMAND --help)
  --version             print the version

Options of every messaging command:
  --host HOST  --port PORT  --data-dir DIR  --session-file FILE  --json  -h, --help
Environment: IPC_HOST, IPC_PORT, IPC_DATA_DIR, IPC_SESSION_FILE, IPC_SHARED_SECRET, IPC_LOG.
A messaging command that finds no broker starts one in the background.
Exit status: 0 success, 1 the operation failed, 2 usage error.

Example:
  agent-ipc register fred && agent-ipc send bob "hello" && agent-ipc check
`;
  return out;
}

async function help(args: string[], io: CliIo): Promise<number> {
  const json = args.includes("--json");
  const rest = args.filter((a) => a !== "--json");
  if (rest.length === 0) {
    io.stdout(json ? JSON.stringify({ ok: true, help: generalHelp() }) + "\n" : generalHelp());
    return 0;
  }
  const name = rest[0];
  if ((name === "--help" || name === "-h") && rest.length === 1) {
    io.stdout(json ? JSON.stringify({ ok: true, help: HELP_HELP }) + "\n" : HELP_HELP);
    return 0;
  }
  const cmd = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!cmd || rest.length > 1) {
    const what = cmd ? `Unexpected argument "${rest[1]}"` : `Unknown command "${name}"`;
    return reportError(
      "help",
      io,
      json,
      new UsageError(`${what}: usage is "agent-ipc help [COMMAND]"`),
    );
  }
  const text = await cmd.help(io);
  if (typeof text === "number") return text;
  io.stdout(json ? JSON.stringify({ ok: true, help: text }) + "\n" : text);
  return 0;
}

/**
 * Runs the command line `args` (without the program name); returns the exit
 * status: 0 success, 1 the operation failed, 2 usage error.
 *
 * @example
 * ```ts
 * const code = await runCli(["send", "bob", "hello"]);
 * ```
 */
export async function runCli(args: string[], io?: CliIo): Promise<number> {
  if (!io) {
    // The real command line: hints name the command this person can type (tests pass an io).
    io = denoIo();
    useSelfCommand();
  }
  const [command, ...rest] = args;
  if (command === undefined) {
    io.stderr(generalHelp());
    return 2;
  }
  if (command === "--version" || command === "-V") {
    const json = rest.includes("--json");
    if (rest.some((a) => a !== "--json")) {
      return reportError("", io, json, new UsageError(`Unexpected argument "${rest[0]}"`));
    }
    io.stdout(
      json ? JSON.stringify({ ok: true, version: VERSION }) + "\n" : `agent-ipc ${VERSION}\n`,
    );
    return 0;
  }
  if (command === "help" || command === "--help" || command === "-h") return await help(rest, io);
  if (!Object.hasOwn(COMMANDS, command)) {
    const hint = command.startsWith("-")
      ? `Unknown option "${command}" before the command: put options after it`
      : `Unknown command "${command}"${didYouMean(command, [...Object.keys(COMMANDS), "help"])}`;
    return reportError("", io, args.includes("--json"), new UsageError(hint));
  }
  return await COMMANDS[command].run(rest, io);
}
