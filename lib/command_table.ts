/**
 * The one table of the command line: each command's group, synopsis, one-line
 * summary and reference text. The general help (`agent-ipc help`), each
 * command's `Usage:` line and the command table of docs/cli.md are all made
 * from it (`deno task docs` rewrites that table; tests/command_table_test.ts
 * fails when the file, a command's help or its parser disagree with it).
 *
 * @module
 */

/** Where a command is listed in the general help. */
export type CommandGroup = "Messaging" | "File claims" | "Running and setting up";

/** One command of the CLI. */
export interface CommandSpec {
  name: string;
  group: CommandGroup;
  /** Arguments and the command's own flags (not the common ones), after `agent-ipc `. */
  synopsis: string;
  /** One line for the general help. */
  summary: string;
  /** What it does, in full: the command table of docs/cli.md (Markdown, links relative to docs/). */
  reference: string;
}

/** Every command, in the order of the help and of docs/cli.md. */
export const COMMAND_TABLE: readonly CommandSpec[] = [
  {
    name: "register",
    group: "Messaging",
    synopsis: "register NAME [--force]",
    summary: "claim a name and save the session",
    reference:
      "Claims NAME, saves the session. Registering a name again revokes its older sessions. `--force` replaces a corrupt session file (or one others can read).",
  },
  {
    name: "send",
    group: "Messaging",
    synopsis: "send TO MESSAGE... [--data JSON] [--urgent] [--no-wake]",
    summary: 'send a message ("-": read it from stdin)',
    reference:
      "Sends to TO (registered or not yet: it waits) and prints its short id; `--urgent`: shown first in TO's `check`, flagged everywhere. Words are joined with spaces; a lone `-` reads stdin; `--` before a message starting with `-`. `TO` = `all` broadcasts. Over 10 KB: stored as a file, the recipient gets a summary and the path. A message must fit in one request (1 MB, `IPC_MAX_FRAME`). `--no-wake`: shown at the recipient's next prompt, never wakes it.",
  },
  {
    name: "broadcast",
    group: "Messaging",
    synopsis: "broadcast MESSAGE... [--data JSON] [--no-wake]",
    summary: "send a message to every other instance",
    reference:
      "Sends to every other registered instance; full queues are listed as missed (still exit 0).",
  },
  {
    name: "check",
    group: "Messaging",
    synopsis: "check [--peek] [--limit N]",
    summary: "print and acknowledge your messages (--peek: keep them)",
    reference:
      "Prints queued messages, oldest first, then acknowledges them (only after printing). `--peek` leaves them queued.",
  },
  {
    name: "wait",
    group: "Messaging",
    synopsis: "wait [--timeout SECONDS] [--follow] [--count N]",
    summary: "wait for messages (--follow: keep printing them)",
    reference:
      "Waits for messages, prints each batch as it arrives and acknowledges it after printing. Without `--follow`: returns after the first batch; on timeout (default 30 s) prints `No messages within S s` and exits 0. `--follow` keeps going until Ctrl-C, `--count N` or `--timeout`.",
  },
  {
    name: "ask",
    group: "Messaging",
    synopsis: "ask TO MESSAGE... [--timeout SECONDS] [--urgent] [--data JSON]",
    summary: "send a question and wait for its reply",
    reference:
      "Sends a question and waits for its reply (default 60 s), prints it, acknowledges it, exit 0 (`--timeout SECONDS`; `--data JSON` attaches a JSON object; `--urgent` as for `send`). On timeout exit 1 (`E_TIMEOUT`); the question stays queued and a later reply arrives like any message. See [Conversations](conversations.md#conversations).",
  },
  {
    name: "reply",
    group: "Messaging",
    synopsis: "reply ID MESSAGE... [--urgent] [--data JSON]",
    summary: "answer a message (by its #id) in its thread",
    reference:
      "Answers message ID you received (its short id `#k3x9a0q` or full id): to its sender, in its thread, shown with the start of what it answers. `--data JSON` attaches a JSON object; a lone `-` reads the reply from stdin.",
  },
  {
    name: "thread",
    group: "Messaging",
    synopsis: "thread ID [--limit N]",
    summary: "print the conversation a message belongs to",
    reference:
      "Prints the conversation message ID belongs to (its first message and every reply), oldest first; `--limit N`: at most N messages (default 200).",
  },
  {
    name: "receipt",
    group: "Messaging",
    synopsis: "receipt ID",
    summary: "queued, delivered, read or replied: a message you sent",
    reference:
      "Queued, delivered, read or replied, with times: a message you sent (only its sender sees it).",
  },
  {
    name: "list",
    group: "Messaging",
    synopsis: "list",
    summary: "list the registered instances",
    reference:
      "Registered instances: online, queued, assistant awake/idle and last wake (from its hooks), last seen, host.",
  },
  {
    name: "rename",
    group: "Messaging",
    synopsis: "rename NEW",
    summary: "change your name (the old one forwards for 2 hours)",
    reference:
      "Renames you; the old name forwards for 2 hours; others are told; one rename per hour.",
  },
  {
    name: "whoami",
    group: "Messaging",
    synopsis: "whoami",
    summary: "your name and queued messages",
    reference: "Your name and queue depth.",
  },
  {
    name: "status",
    group: "Messaging",
    synopsis: "status",
    summary: "broker address, pid, version, uptime, store, queues",
    reference:
      "Broker port, version, uptime, store, connections, console; with a session also its address, pid and data dir, and every instance with its queue depth.",
  },
  {
    name: "unregister",
    group: "Messaging",
    synopsis: "unregister",
    summary: "end your session and delete the session file",
    reference: "Ends the session and deletes the session file.",
  },
  {
    name: "claim",
    group: "File claims",
    synopsis: "claim PATH_OR_GLOB... [--ttl 30m] [--shared] [--reason TEXT]",
    summary: "claim files you are editing (advisory lease; globs allowed)",
    reference:
      "Claims files you are editing (an advisory lease; see [File claims](claims.md#file-claims)). A conflict names the holder, its reason and expiry, and exits 1.",
  },
  {
    name: "release",
    group: "File claims",
    synopsis: "release [PATH...]",
    summary: "release your claims (no paths: all of them)",
    reference: "Releases your claims on these paths; without paths, every claim you hold.",
  },
  {
    name: "claims",
    group: "File claims",
    synopsis: "claims [--all] [--check-staged [--hook]]",
    summary: "list file claims (--check-staged: for a pre-commit hook)",
    reference:
      "Lists the live claims of this repository (`--all`: every repository). `--check-staged` exits 1 when a staged file is claimed by another agent, and 0 on its own failures (no session, no broker); with `--hook` (the pre-commit hook's form) it exits 3 on a conflict and prints nothing when all is well.",
  },
  {
    name: "broker",
    group: "Running and setting up",
    synopsis: "broker",
    summary: "run the broker in the foreground",
    reference:
      "Runs the broker in the foreground (Ctrl-C stops it); every option of [Configuration](configuration.md#configuration) (`broker --help`). Registering needs the shared secret, `IPC_SHARED_SECRET` or `<data dir>/secret`; the same port also serves the original Python scripts (the legacy wire, [protocol.md](protocol.md#wire-protocol)).",
  },
  {
    name: "stop",
    group: "Running and setting up",
    synopsis: "stop [--data-dir DIR] [--port PORT]",
    summary: "stop the broker of this data dir (deno task start, a background one)",
    reference:
      "Stops the broker of the data dir gracefully (SIGTERM; its pid and address are in `<data dir>/broker.lock`); exit 0 once stopped or when none runs. A broker hosted by an assistant's MCP server is left alone (exit 1): it lives as long as that assistant. When assistants' MCP servers are connected, one of them takes over as the broker (failover), and `stop` says so. `--port PORT`: only if the broker is on PORT.",
  },
  {
    name: "mcp",
    group: "Running and setting up",
    synopsis: "mcp [--name NAME] [--log-file FILE]",
    summary: "run the MCP server over stdio (for AI assistants)",
    reference:
      "Runs the MCP server over stdio, for an assistant's MCP config: `--name NAME` registers at start-up, `--log-file FILE` takes its logs off stderr; it hosts the broker when none runs, so every `broker` option applies. Its 16 tools: [mcp.md](mcp.md#the-mcp-server).",
  },
  {
    name: "setup",
    group: "Running and setting up",
    synopsis:
      "setup TARGET... [--name NAME] [--project DIR] [--ask] [--no-hooks] [--notify] [--remove] [--dry-run]",
    summary: "add agent-ipc to Claude Code, Gemini CLI, Codex, Cursor, Windsurf",
    reference:
      "Adds agent-ipc to Claude Code, Gemini CLI, Codex, Cursor, Windsurf, with its hooks and approvals. Each assistant registers under its own name (`claude`, `codex`, …; `--name X`: `X`, or `X-claude`, … for several), and every setting it runs with that is not the default (`--port`, `--data-dir`, `--store`, `--tls-*`, `--secret-file` or their `IPC_*` variables) goes into each entry and hook: [assistants.md](assistants.md#connecting-your-assistants).",
  },
  {
    name: "doctor",
    group: "Running and setting up",
    synopsis: "doctor [--json]",
    summary: "check every installed assistant's agent-ipc config and say what is missing",
    reference:
      "Checks every installed assistant's config (MCP entry, hooks, tool approval, Codex's hook trust, wake settings), says how an idle session is woken and exactly what is missing, with the setup command that adds it. Reads only; exit 1 when something is missing.",
  },
  {
    name: "hook",
    group: "Running and setting up",
    synopsis: "hook ASSISTANT EVENT [--wake-budget N] [--notify]",
    summary: "run by an assistant's hooks: show messages, wake an idle session",
    reference:
      "Run by an assistant's hooks (setup writes them): shows unread messages, wakes an idle Claude Code session. Never fails the assistant. See [How messages reach your assistant](../README.md#how-messages-reach-your-assistant).",
  },
  {
    name: "web",
    group: "Running and setting up",
    synopsis: "web [--no-open]",
    summary: "print the web console's address with its login token",
    reference:
      "Prints the web console's address with its login token and opens a browser (`--no-open`: only prints it).",
  },
];

/** The spec of the command `name`; throws for a name the table lacks. */
export function commandSpec(name: string): CommandSpec {
  const spec = COMMAND_TABLE.find((c) => c.name === name);
  if (!spec) throw new Error(`no command "${name}" in COMMAND_TABLE`);
  return spec;
}

/** The first line of a command's `--help`: `Usage: agent-ipc SYNOPSIS [options]`. */
export function usageLine(name: string): string {
  return `Usage: agent-ipc ${commandSpec(name).synopsis} [options]`;
}

/** The synopsis without its flags (`claim PATH_OR_GLOB...`), for the general help's list. */
export function shortUsage(spec: CommandSpec): string {
  return spec.synopsis.replace(/ \[--.*$/, "");
}

/** The `help` and `--version` row that closes the reference table. */
export const HELP_ROW: readonly [string, string] = [
  "`help [COMMAND]`, `--version`",
  "Help (same text as `COMMAND --help`; `help --help` explains `help`); the version.",
];

/** The rows of docs/cli.md's command table: `[synopsis cell, reference cell]`. */
export function referenceRows(): [string, string][] {
  return [...COMMAND_TABLE.map((c): [string, string] => [`\`${c.synopsis}\``, c.reference]), [
    ...HELP_ROW,
  ]];
}

/** docs/cli.md's command table as Markdown (unpadded: `deno fmt` aligns it). */
export function referenceTable(): string {
  return ["| Command | What it does |", "| --- | --- |"]
    .concat(referenceRows().map(([a, b]) => `| ${a} | ${b} |`)).join("\n") + "\n";
}
