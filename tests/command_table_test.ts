/**
 * Help and reference come from one table (lib/command_table.ts) and stay in
 * step with it: the dispatcher knows exactly its commands, every command's
 * `--help` starts with the table's usage line and names each flag its parser
 * takes, no help has an empty Options heading, `mcp --help` lists every tool
 * of TOOL_SPECS, and docs/cli.md's command table is the one the table makes.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { COMMAND_TABLE, commandSpec, referenceRows, usageLine } from "../lib/command_table.ts";
import { COMMAND_NAMES, runCli } from "../lib/app/run.ts";
import { TOOL_SPECS } from "../lib/mcp/tool_specs.ts";
import { BROKER_FLAGS, BROKER_HELP } from "../lib/app/broker_command.ts";
import { MCP_FLAGS, MCP_HELP } from "../lib/app/mcp_command.ts";
import { WEB_FLAGS, WEB_HELP } from "../lib/web/web_command.ts";
import * as session from "../lib/cli/session_commands.ts";
import * as message from "../lib/cli/message_commands.ts";
import * as claim from "../lib/cli/claim_commands.ts";
import * as conversation from "../lib/cli/conversation_commands.ts";
import { TABLE_END, TABLE_START, withTable } from "../lib/release/cli_reference.ts";
import { recordingIo } from "./cli/_cli.ts";

const root = new URL("../", import.meta.url).pathname;

/** The client commands, from their modules (not from the table, which they must match). */
const CLIENT = [session, message, claim, conversation].flatMap((m) =>
  Object.values(m).filter((v): v is { name: string; help: string; flags: object } =>
    typeof v === "object" && v !== null && "flags" in v && "help" in v
  )
);

async function help(name: string): Promise<string> {
  const io = recordingIo({});
  assert.equal(await runCli(["help", name], io), 0, io.err);
  return io.out;
}

/** What is wrong with one help text measured against its spec and parser flags. */
export function helpProblems(name: string, text: string, flags: string[]): string[] {
  const problems: string[] = [];
  const synopsis = commandSpec(name).synopsis;
  for (const f of flags) {
    if (!synopsis.includes(`--${f}`)) problems.push(`${name}: --${f} not in the table's synopsis`);
    if (!text.includes(`--${f}`)) problems.push(`${name}: --${f} not in its help`);
  }
  for (const f of synopsis.match(/--[\w-]+/g) ?? []) {
    if (!text.includes(f)) problems.push(`${name}: ${f} of the synopsis not in its help`);
  }
  if (/^Options:\n\s*(\n|Common options:)/m.test(text)) problems.push(`${name}: empty Options`);
  return problems;
}

Deno.test("the dispatcher runs exactly the table's commands, in its order", () => {
  assert.deepEqual(COMMAND_NAMES, COMMAND_TABLE.map((c) => c.name));
  assert.deepEqual(CLIENT.map((c) => c.name).sort(), [
    "ask",
    "broadcast",
    "check",
    "claim",
    "claims",
    "list",
    "receipt",
    "register",
    "release",
    "rename",
    "reply",
    "send",
    "status",
    "thread",
    "unregister",
    "wait",
    "whoami",
  ]);
});

Deno.test("every client command's help starts with the table's usage and names its flags", () => {
  const problems = CLIENT.flatMap((c) => {
    const own = helpProblems(c.name, c.help, Object.keys(c.flags));
    return c.help.startsWith(usageLine(c.name) + "\n") ? own : [...own, `${c.name}: usage line`];
  });
  assert.deepEqual(problems, []);
  // The check can fail: a flag missing from the help, an empty heading.
  assert.deepEqual(
    helpProblems("thread", "Usage: agent-ipc thread ID\n\nOptions:\nCommon options:\n", ["limit"]),
    [
      "thread: --limit not in its help",
      "thread: --limit of the synopsis not in its help",
      "thread: empty Options",
    ],
  );
});

Deno.test("broker, mcp, setup, hook and web help: the table's usage and flags", async () => {
  const problems: string[] = [];
  for (const name of ["broker", "mcp", "setup", "hook", "web"]) {
    const text = await help(name);
    problems.push(...helpProblems(name, text, []));
    if (["broker", "mcp", "web"].includes(name) && !text.startsWith(usageLine(name) + "\n")) {
      problems.push(`${name}: usage line`);
    }
  }
  assert.deepEqual(problems, []);
});

Deno.test("mcp --help lists every tool; broker --help the secret and the legacy protocol", async () => {
  const mcp = await help("mcp");
  const names = Object.keys(TOOL_SPECS);
  assert.equal(names.length, 16);
  for (const t of names) assert.match(mcp, new RegExp(`[ ,]${t}[,.]`), `mcp --help lacks ${t}`);
  assert.match(mcp, /Tools \(16\):/);
  const broker = await help("broker");
  assert.match(broker, /IPC_SHARED_SECRET/);
  assert.match(broker, /<data dir>\/secret/);
  assert.match(broker, /legacy protocol/);
  assert.match(broker, /Python\s+scripts/);
});

Deno.test("help --help explains help; the general help lists every command", async () => {
  for (const args of [["help", "--help"], ["help", "-h"], ["--help", "--help"]]) {
    const io = recordingIo({});
    assert.equal(await runCli(args, io), 0, `${args}: ${io.err}`);
    assert.match(io.out, /^Usage: agent-ipc help \[COMMAND\]/);
  }
  const general = recordingIo({});
  assert.equal(await runCli(["help"], general), 0);
  for (const c of COMMAND_TABLE) {
    assert.ok(general.out.includes(`\n  ${c.synopsis.split(" ")[0]}`), c.name);
    assert.ok(general.out.includes(c.summary), c.summary);
  }
});

Deno.test("docs/cli.md's command table is the one lib/command_table.ts makes", async () => {
  const text = await Deno.readTextFile(join(root, "docs", "cli.md"));
  const section = text.slice(text.indexOf(TABLE_START), text.indexOf(TABLE_END));
  const rows = section.split("\n").filter((l) => l.startsWith("| ") && !/^\| -/.test(l))
    .slice(1) // the header
    .map((l) => l.slice(1, -1).split(" | ").map((c) => c.trim()));
  assert.deepEqual(rows, referenceRows(), "docs/cli.md is stale: run `deno task docs`");
  // The reference names the flags the issue found missing.
  const flat = rows.map((r) => r[0]).join("\n");
  for (const f of ["ask TO MESSAGE... [--timeout SECONDS] [--urgent] [--data JSON]", "--limit N"]) {
    assert.ok(flat.includes(f), f);
  }
  assert.match(flat, /`reply ID MESSAGE\.\.\. \[--urgent\] \[--data JSON\]`/);
  assert.match(flat, /`web \[--no-open\]`/);
  assert.throws(() => withTable("no markers", "| x |"), /lacks the markers/);
});

Deno.test("broker, mcp and web help name every flag their parsers take", () => {
  const missing = (flags: object, help: string, skip: string[] = []) =>
    Object.keys(flags).filter((f) => !skip.includes(f) && !help.includes(`--${f}`));
  assert.deepEqual(missing(BROKER_FLAGS, BROKER_HELP), []);
  assert.deepEqual(missing(WEB_FLAGS, WEB_HELP), []);
  // mcp takes every broker flag (it may host one) and says so; its own must be listed.
  assert.match(MCP_HELP, /Every option of "agent-ipc broker" applies/);
  assert.deepEqual(missing(MCP_FLAGS, MCP_HELP, Object.keys(BROKER_FLAGS)), []);
  assert.deepEqual(missing({ bogus: {} }, BROKER_HELP), ["bogus"]); // the check can fail
});
