import assert from "node:assert/strict";
import { IpcError } from "../../lib/protocol/errors.ts";
import { editJsonConfig } from "../../lib/setup/json_config.ts";
import type { McpServerEntry } from "../../lib/setup/server_entry.ts";

const ENTRY: McpServerEntry = { type: "stdio", command: "/bin/agent-ipc", args: ["mcp"] };

function edit(text: string | undefined, entry: McpServerEntry = ENTRY) {
  return editJsonConfig({ text, path: "/h/.claude.json", serversKey: "mcpServers", entry });
}

function remove(text: string | undefined) {
  return editJsonConfig({
    text,
    path: "/h/.claude.json",
    serversKey: "mcpServers",
    entry: undefined,
  });
}

Deno.test("editJsonConfig creates the servers object in a new or empty file", () => {
  const expected = `{
  "mcpServers": {
    "agent-ipc": {
      "type": "stdio",
      "command": "/bin/agent-ipc",
      "args": [
        "mcp"
      ]
    }
  }
}
`;
  assert.deepEqual(edit(undefined), { outcome: "added", text: expected });
  assert.deepEqual(edit(""), { outcome: "added", text: expected });
  assert.deepEqual(edit(" \n"), { outcome: "added", text: expected });
});

Deno.test("editJsonConfig keeps other keys and servers, in order", () => {
  const text = JSON.stringify(
    {
      numStartups: 42,
      mcpServers: { github: { command: "gh-mcp", args: [] } },
      projects: { "/x": { allowedTools: [] } },
    },
    null,
    2,
  );
  const result = edit(text);
  assert.equal(result.outcome, "added");
  const value = JSON.parse(result.text);
  assert.deepEqual(Object.keys(value), ["numStartups", "mcpServers", "projects"]);
  assert.deepEqual(Object.keys(value.mcpServers), ["github", "agent-ipc"]);
  assert.deepEqual(value.mcpServers.github, { command: "gh-mcp", args: [] });
  assert.deepEqual(value.projects, { "/x": { allowedTools: [] } });
  // No final newline before, none after.
  assert.ok(!result.text.endsWith("\n"));
});

Deno.test("editJsonConfig is idempotent and removal keeps the rest", () => {
  const text = '{\n    "theme": "dark"\n}\n';
  const added = edit(text);
  assert.match(added.text, /^\{\n {4}"theme": "dark",\n {4}"mcpServers": \{\n {8}"agent-ipc"/);
  assert.deepEqual(edit(added.text), { outcome: "unchanged", text: added.text });
  const removed = remove(added.text);
  assert.equal(removed.outcome, "removed");
  // No "mcpServers": {} left behind: the file had none.
  assert.equal(removed.text, text);
  assert.deepEqual(remove(removed.text), { outcome: "absent", text: removed.text });
  assert.deepEqual(remove(text), { outcome: "absent", text });
});

Deno.test("editJsonConfig updates our entry and keeps the user's fields in it", () => {
  const text = JSON.stringify({
    mcpServers: {
      "agent-ipc": {
        command: "old",
        args: ["mcp", "--name", "old"],
        env: { IPC_INSTANCE: "old", IPC_SHARED_SECRET: "s" },
        trust: true,
      },
    },
  });
  const named: McpServerEntry = {
    command: "/bin/agent-ipc",
    args: ["mcp", "--name", "fred"],
    env: { IPC_INSTANCE: "fred" },
  };
  const result = edit(text, named);
  assert.equal(result.outcome, "updated");
  assert.deepEqual(JSON.parse(result.text).mcpServers["agent-ipc"], {
    command: "/bin/agent-ipc",
    args: ["mcp", "--name", "fred"],
    env: { IPC_SHARED_SECRET: "s", IPC_INSTANCE: "fred" },
    trust: true,
  });
  assert.equal(edit(result.text, named).outcome, "unchanged");
});

Deno.test("editJsonConfig keeps CRLF line endings and tab indentation", () => {
  const result = edit('{\r\n\t"a": 1\r\n}\r\n');
  assert.ok(result.text.startsWith('{\r\n\t"a": 1,\r\n\t"mcpServers": {\r\n\t\t"agent-ipc"'));
  assert.ok(result.text.endsWith("}\r\n"));
  assert.ok(!/[^\r]\n/.test(result.text));
});

Deno.test("editJsonConfig refuses malformed files with the path and the problem", () => {
  const cases: [string, RegExp][] = [
    ['{"mcpServers": {', /is not valid JSON \(/],
    ["[1, 2]", /the top level is an array, expected an object/],
    ["null", /the top level is null, expected an object/],
    ['{"mcpServers": []}', /"mcpServers" is an array, expected an object/],
    ['{"mcpServers": "x"}', /"mcpServers" is a string, expected an object/],
    [
      '{"mcpServers": {"agent-ipc": 3}}',
      /"mcpServers"."agent-ipc" is a number, expected an object/,
    ],
    [
      '{\n  // mine\n  "a": 1,\n}',
      /is not valid JSON \(Property name expected at line 4, column 1\)/,
    ],
  ];
  for (const [text, expected] of cases) {
    for (const run of [edit, remove]) {
      assert.throws(() => run(text), (e: unknown) => {
        assert.ok(e instanceof IpcError);
        assert.equal(e.code, "E_BAD_FIELD");
        assert.match(e.message, /^\/h\/\.claude\.json: /);
        assert.match(e.message, expected);
        assert.match(e.message, /the file was left unchanged$/);
        return true;
      }, text);
    }
  }
});

Deno.test("editJsonConfig keeps comments, layout and numbers it does not own, byte for byte", () => {
  const text = `{
  // Claude Code settings, hand-written
  "userId": 12345678901234567890, /* too big for a double, kept as written */
  "mcpServers": {
    // the docs server
    "docs": { "command": "npx", "args": ["-y", "docs-mcp"] }
  }
}
`;
  const added = edit(text);
  assert.equal(added.outcome, "added");
  assert.equal(
    added.text,
    text.replace(
      `"docs-mcp"] }\n`,
      `"docs-mcp"] },
    "agent-ipc": {
      "type": "stdio",
      "command": "/bin/agent-ipc",
      "args": [
        "mcp"
      ]
    }
`,
    ),
  );
  assert.deepEqual(edit(added.text), { outcome: "unchanged", text: added.text });
  // An update rewrites only the keys that change: comments inside our entry stay too.
  const commented = added.text.replace(
    `"command": "/bin/agent-ipc",`,
    `// mine\n      "command": "old",`,
  );
  const updated = edit(commented);
  assert.equal(updated.outcome, "updated");
  assert.equal(
    updated.text,
    added.text.replace(`"command": "/bin`, `// mine\n      "command": "/bin`),
  );
  const removed = remove(added.text);
  assert.equal(removed.outcome, "removed");
  assert.equal(removed.text, text);
});
