import assert from "node:assert/strict";
import { IpcError } from "../../lib/protocol/errors.ts";
import type { McpServerEntry } from "../../lib/setup/server_entry.ts";
import { editTomlConfig } from "../../lib/setup/toml_config.ts";
import { parseToml } from "../../lib/setup/toml_document.ts";
import { formatValue } from "../../lib/setup/toml_text.ts";

const ENTRY: McpServerEntry = { command: "/usr/local/bin/agent-ipc", args: ["mcp"] };
const NAMED: McpServerEntry = {
  command: "/usr/local/bin/agent-ipc",
  args: ["mcp", "--name", "fred"],
  env: { IPC_INSTANCE: "fred" },
};
const SECTION = `[mcp_servers.agent-ipc]
command = "/usr/local/bin/agent-ipc"
args = ["mcp"]
`;

function edit(text: string | undefined, entry: McpServerEntry | undefined) {
  return editTomlConfig({ text, path: "/h/.codex/config.toml", serversKey: "mcp_servers", entry });
}

const USER_CONFIG = `# Codex settings, hand-written
model = "o3" # the fast one
approval_policy = "on-request"

# Docs lookups
[mcp_servers.docs]
command = "npx"
args = ["-y", "docs-mcp"] # pinned
env = { TOKEN = "t" }

# Profiles follow
[profiles.work]
model = "gpt-5"
`;

Deno.test("editTomlConfig creates a new file with only our table", () => {
  const result = edit(undefined, ENTRY);
  assert.equal(result.outcome, "added");
  assert.equal(result.text, SECTION);
});

Deno.test("editTomlConfig appends to a user's file, keeping every byte of it", () => {
  const result = edit(USER_CONFIG, NAMED);
  assert.equal(result.outcome, "added");
  assert.equal(
    result.text,
    USER_CONFIG + `
[mcp_servers.agent-ipc]
command = "/usr/local/bin/agent-ipc"
args = ["mcp", "--name", "fred"]
env = { IPC_INSTANCE = "fred" }
`,
  );
  const parsed = parseToml(result.text).value as Record<string, Record<string, unknown>>;
  assert.deepEqual(Object.keys(parsed.mcp_servers), ["docs", "agent-ipc"]);
});

Deno.test("editTomlConfig is idempotent and removal restores the original", () => {
  const added = edit(USER_CONFIG, NAMED);
  const again = edit(added.text, NAMED);
  assert.equal(again.outcome, "unchanged");
  assert.equal(again.text, added.text);
  const removed = edit(added.text, undefined);
  assert.equal(removed.outcome, "removed");
  assert.equal(removed.text, USER_CONFIG);
  assert.deepEqual(edit(removed.text, undefined), { outcome: "absent", text: USER_CONFIG });
  // A file without a final newline: a blank line before our table, none after it, and
  // removal gives the bytes back.
  const bare = 'model = "o3"';
  assert.equal(edit(bare, ENTRY).text, `${bare}\n\n${SECTION.replace(/\n$/, "")}`);
  assert.equal(edit(edit(bare, ENTRY).text, undefined).text, bare);
});

Deno.test("editTomlConfig replaces our table in place, keeping the user's own keys", () => {
  const text = `model = "o3"

# agent-ipc, set up by hand
[mcp_servers.agent-ipc]
command = "agent-ipc"
args = ["mcp", "--name", "old"]
startup_timeout_sec = 20.0
tool_timeout_sec = 60
# this comment belongs to the next table
[mcp_servers.agent-ipc.env]
IPC_INSTANCE = "old"
IPC_SHARED_SECRET = "s3cret"

# Profiles
[profiles.work]
model = "gpt-5"
`;
  const result = edit(text, NAMED);
  assert.equal(result.outcome, "updated");
  assert.equal(
    result.text,
    `model = "o3"

# agent-ipc, set up by hand
[mcp_servers.agent-ipc]
command = "/usr/local/bin/agent-ipc"
args = ["mcp", "--name", "fred"]
startup_timeout_sec = 20.0
tool_timeout_sec = 60
env = { IPC_SHARED_SECRET = "s3cret", IPC_INSTANCE = "fred" }

# Profiles
[profiles.work]
model = "gpt-5"
`,
  );
  assert.equal(edit(result.text, NAMED).outcome, "unchanged");
  // Dropping --name drops IPC_INSTANCE but keeps the user's variable.
  const unnamed = edit(result.text, ENTRY);
  assert.match(unnamed.text, /\nenv = \{ IPC_SHARED_SECRET = "s3cret" \}\n/);
  assert.match(unnamed.text, /\nargs = \["mcp"\]\n/);
});

Deno.test("editTomlConfig takes out dotted and inline definitions of our entry", () => {
  const text = `[mcp_servers]
other = { command = "x" }
agent-ipc.command = "old"
agent-ipc.args = [
  "mcp",
]

[other]
a = 1
`;
  const removed = edit(text, undefined);
  assert.equal(removed.outcome, "removed");
  assert.equal(removed.text, `[mcp_servers]\nother = { command = "x" }\n\n[other]\na = 1\n`);
  const replaced = edit(`[mcp_servers]\n"agent-ipc" = { command = "old", args = [] }\n`, ENTRY);
  assert.equal(replaced.outcome, "updated");
  assert.equal(replaced.text, `[mcp_servers]\n\n${SECTION}`);
});

Deno.test("editTomlConfig keeps CRLF line endings", () => {
  const text = 'model = "o3"\r\n';
  const result = edit(text, ENTRY);
  assert.equal(result.text, `model = "o3"\r\n\r\n${SECTION.replaceAll("\n", "\r\n")}`);
  assert.equal(edit(result.text, undefined).text, text);
});

Deno.test("editTomlConfig refuses malformed files and wrong types", () => {
  const cases: [string, RegExp][] = [
    ["model = \n", /is not valid TOML \(Line 2, column 1: Unspecified values are invalid\)/],
    ["[mcp_servers]\n[mcp_servers]\n", /Defining a key multiple times is invalid/],
    ['mcp_servers = "x"\n', /"mcp_servers" is a string, expected a table/],
    ["mcp_servers = [1]\n", /"mcp_servers" is an array, expected a table/],
    ["[[mcp_servers]]\nx = 1\n", /"mcp_servers" is an array of tables, expected a table/],
    ['[mcp_servers]\nagent-ipc = "x"\n', /"mcp_servers.agent-ipc" is a string, expected a table/],
    ['mcp_servers = { other = { command = "x" } }\n', /"mcp_servers" is an inline table/],
  ];
  for (const [text, expected] of cases) {
    assert.throws(() => edit(text, ENTRY), (e: unknown) => {
      assert.ok(e instanceof IpcError);
      assert.equal(e.code, "E_BAD_FIELD");
      assert.match(e.message, /^\/h\/\.codex\/config\.toml: /);
      assert.match(e.message, expected);
      assert.match(e.message, /the file was left unchanged$/);
      return true;
    }, text);
  }
  // An inline table without our entry has nothing to remove.
  const inline = 'mcp_servers = { other = { command = "x" } }\n';
  assert.equal(edit(inline, undefined).outcome, "absent");
});

Deno.test("formatValue writes values that parse back to the same value", () => {
  const table = parseToml(`a = "q\\"uote\\\\ \\u0001 é"
b = 1.0
c = 1e21
d = -inf
e = 42
f = [true, 1979-05-27T07:32:00Z, { x = "y" }]
g = {}
`).value;
  const again = parseToml(
    Object.entries(table).map(([k, v]) => `${k} = ${formatValue(v)}\n`).join(""),
  ).value;
  assert.deepEqual(again, table);
  assert.equal(formatValue(1), "1.0");
  assert.equal(formatValue(1n), "1");
});
