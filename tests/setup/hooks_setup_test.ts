import assert from "node:assert/strict";
import { runAsAssistant } from "../hooks/_run_as_assistant.ts";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { AgentClient } from "../../lib/client/agent_client.ts";
import { McpAgent } from "../../lib/mcp/agent.ts";
import { runSetup, type SetupIo } from "../../lib/setup/setup_command.ts";
import { parseJsoncObject } from "../../lib/setup/jsonc_text.ts";
import { parseToml } from "../../lib/setup/toml_document.ts";
import { CLAUDE_PERMISSION, hookCommand } from "../../lib/setup/hooks.ts";
import { listAgentRecords } from "../../lib/state/agent_records.ts";
import { MAIN, testBroker } from "../_helpers.ts";
import { waitFor } from "../_wait.ts";

const BINARY = "/opt/agent-ipc/bin/agent-ipc";

/** Claude Code's settings.json with the user's own hooks and permissions. */
const CLAUDE_SETTINGS = `{
  "permissions": {
    "allow": [
      "Bash(npm test)"
    ]
  },
  "hooks": {
    "Stop": [
      {
        "hooks": [
          {
            "type": "command",
            "command": "say done"
          }
        ]
      }
    ],
    "PreToolUse": [
      {
        "matcher": "Bash",
        "hooks": [
          {
            "type": "command",
            "command": "check-bash"
          }
        ]
      }
    ]
  }
}
`;

const CODEX_CONFIG = `model = "o3"  # mine
`;

class Home implements Disposable {
  readonly dir = Deno.makeTempDirSync({ prefix: "agent-ipc-hooks-" });
  out = "";
  err = "";
  program: SetupIo["program"] = {
    standalone: true,
    execPath: BINARY,
    mainModule: "file:///unused/main.ts",
  };
  at(...parts: string[]): string {
    return join(this.dir, ...parts);
  }
  write(rel: string, text: string): void {
    Deno.mkdirSync(join(this.at(rel), ".."), { recursive: true });
    Deno.writeTextFileSync(this.at(rel), text);
  }
  read(rel: string): string {
    return Deno.readTextFileSync(this.at(rel));
  }
  json(rel: string) {
    return JSON.parse(this.read(rel));
  }
  exists(rel: string): boolean {
    try {
      Deno.statSync(this.at(rel));
      return true;
    } catch {
      return false;
    }
  }
  async run(...args: string[]): Promise<number> {
    this.out = "";
    this.err = "";
    return await runSetup(args, {
      stdout: (s) => this.out += s,
      stderr: (s) => this.err += s,
      env: { PATH: "", HOME: this.dir },
      home: this.dir,
      os: "linux",
      isWsl: false,
      cwd: this.dir,
      program: this.program,
    });
  }
  [Symbol.dispose](): void {
    Deno.removeSync(this.dir, { recursive: true });
  }
}

const commands = (groups: { hooks?: { command: string }[]; command?: string }[]) =>
  groups.flatMap((g) => g.hooks ? g.hooks.map((h) => h.command) : [g.command]);

/** A hook command with the shell's quiet-marker test in front of `run` (see lib/setup/hooks.ts). */
const QUIET_TEST = 'f="${IPC_DATA_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/agent-ipc}' +
  '/agents/pid-$PPID"; if read -r p 2>/dev/null <"$f.quiet" && kill -0 "$p" 2>/dev/null; then ';

Deno.test("setup claude: hooks and permission merged with the user's, idempotent, removed exactly", async () => {
  using home = new Home();
  home.write(".claude/settings.json", CLAUDE_SETTINGS);
  assert.equal(await home.run("claude", "--name", "claude"), 0, home.err);
  const s = home.json(".claude/settings.json");
  assert.deepEqual(s.permissions.allow, ["Bash(npm test)", CLAUDE_PERMISSION]);
  assert.deepEqual(commands(s.hooks.Stop), ["say done", `${BINARY} hook claude wake`]);
  assert.equal(s.hooks.Stop[1].hooks[0].asyncRewake, true);
  assert.deepEqual(commands(s.hooks.PreToolUse), ["check-bash"], "the user's other hooks stay");
  assert.deepEqual(commands(s.hooks.SessionStart), [
    `${BINARY} hook claude start`,
    `${BINARY} hook claude wake`,
  ]);
  assert.deepEqual(commands(s.hooks.UserPromptSubmit), [
    `${QUIET_TEST}printf 'awake sh\\n' >"$f.state" 2>/dev/null; ` +
    `grep -cF '[agent-ipc]' >/dev/null || printf 'prompt sh\\n' >"$f.prompt" 2>/dev/null; ` +
    `exit 0; fi; exec ${BINARY} hook claude prompt`,
  ]);
  assert.deepEqual(commands(s.hooks.PostToolUse), [
    `${QUIET_TEST}printf 'awake sh\\n' >"$f.state" 2>/dev/null; exit 0; fi; ` +
    `exec ${BINARY} hook claude tool`,
  ]);
  assert.equal(s.hooks.PostToolUse[0].matcher, "*");
  assert.match(home.out, /allows agent-ipc's tools without a prompt/);
  const once = home.read(".claude/settings.json");
  assert.equal(await home.run("claude", "--name", "claude"), 0);
  assert.equal(home.read(".claude/settings.json"), once, "a second run changes nothing");
  assert.match(home.out, /hooks already in/);
  assert.equal(await home.run("claude", "--remove"), 0, home.err);
  assert.equal(
    home.read(".claude/settings.json"),
    CLAUDE_SETTINGS,
    "the user's file, byte for byte",
  );
});

Deno.test("setup --ask keeps the prompts; --no-hooks writes the MCP entry only", async () => {
  using home = new Home();
  assert.equal(await home.run("claude", "codex", "gemini", "--ask", "--name", "x"), 0, home.err);
  assert.equal(home.json(".claude/settings.json").permissions, undefined);
  assert.ok(home.json(".claude/settings.json").hooks.Stop);
  assert.equal(home.json(".gemini/settings.json").mcpServers["agent-ipc"].trust, undefined);
  const codex = parseToml(home.read(".codex/config.toml")).value;
  const entry = (codex.mcp_servers as Record<string, Record<string, unknown>>)["agent-ipc"];
  assert.equal(entry.default_tools_approval_mode, undefined);
  assert.ok(Array.isArray(entry.env_vars), "env_vars is needed either way");
  // --ask after a default run takes the approvals back.
  using again = new Home();
  assert.equal(await again.run("claude", "codex", "gemini", "--name", "x"), 0, again.err);
  assert.equal(await again.run("claude", "codex", "gemini", "--ask", "--name", "x"), 0, again.err);
  assert.equal(again.json(".claude/settings.json").permissions, undefined);
  assert.equal(again.json(".gemini/settings.json").mcpServers["agent-ipc"].trust, undefined);
  assert.doesNotMatch(again.read(".codex/config.toml"), /default_tools_approval_mode/);
  const asked = again.read(".codex/config.toml");
  assert.equal(await again.run("codex", "--ask", "--name", "x-codex"), 0);
  assert.equal(again.read(".codex/config.toml"), asked, "idempotent");
  using bare = new Home();
  assert.equal(await bare.run("claude", "codex", "gemini", "--no-hooks", "--name", "x"), 0);
  assert.ok(!bare.exists(".claude/settings.json"));
  assert.ok(!bare.exists(".codex/hooks.json"));
  assert.equal(bare.json(".gemini/settings.json").hooks, undefined);
  assert.doesNotMatch(bare.read(".codex/config.toml"), /hooks\.state/);
});

Deno.test("setup codex: hooks.json, trust recorded per hook with Codex's hash, taken back by --remove", async () => {
  using home = new Home();
  home.write(".codex/config.toml", CODEX_CONFIG);
  assert.equal(await home.run("codex", "--name", "codex"), 0, home.err);
  const hooksPath = home.at(".codex", "hooks.json");
  const hooks = home.json(".codex/hooks.json").hooks;
  assert.deepEqual(Object.keys(hooks), ["SessionStart", "UserPromptSubmit", "PostToolUse", "Stop"]);
  const config = home.read(".codex/config.toml");
  assert.ok(config.startsWith(CODEX_CONFIG), "the user's lines stay");
  const state =
    (parseToml(config).value.hooks as Record<string, Record<string, { trusted_hash: string }>>)
      .state;
  // The hash, computed independently: sorted keys, compact, timeout and async defaults filled in.
  const h = hooks.PostToolUse[0].hooks[0];
  const identity = `{"event_name":"post_tool_use","hooks":[{"async":false,"command":${
    JSON.stringify(h.command)
  },"timeout":10,"type":"command"}],"matcher":"*"}`;
  const expected = "sha256:" + createHash("sha256").update(identity).digest("hex");
  assert.equal(state[`${hooksPath}:post_tool_use:0:0`].trusted_hash, expected);
  assert.equal(Object.keys(state).length, 4);
  assert.match(home.out, /trusts agent-ipc's 4 hooks/);
  assert.equal(await home.run("codex", "--remove"), 0, home.err);
  assert.equal(home.read(".codex/config.toml"), CODEX_CONFIG, "trust taken back, file restored");
  // hooks.json did not exist before setup: it does not after --remove (nor a backup of it).
  assert.throws(() => home.read(".codex/hooks.json"), Deno.errors.NotFound);
  assert.throws(() => home.read(".codex/hooks.json.bak"), Deno.errors.NotFound);
});

Deno.test("setup --dry-run shows the hooks and writes nothing", async () => {
  using home = new Home();
  home.write(".claude/settings.json", CLAUDE_SETTINGS);
  assert.equal(await home.run("claude", "gemini", "--dry-run", "--name", "n"), 0, home.err);
  assert.equal(home.read(".claude/settings.json"), CLAUDE_SETTINGS);
  assert.ok(!home.exists(".gemini"));
  assert.match(
    home.out,
    /would write hooks for SessionStart, UserPromptSubmit, PostToolUse, Stop in /,
  );
  assert.match(home.out, /\+.*hook claude wake/);
  assert.match(home.out, /\(with the entry\)/, "Gemini's hooks diff builds on its entry's");
});

/** Cursor's hooks.json schema (version 1; flat entries of command + optional fields). */
function checkCursorSchema(doc: Record<string, unknown>): void {
  assert.equal(doc.version, 1);
  const known = new Set(["sessionStart", "stop", "beforeSubmitPrompt", "afterFileEdit"]);
  for (const [event, list] of Object.entries(doc.hooks as Record<string, unknown[]>)) {
    assert.ok(known.has(event), event);
    for (const e of list as Record<string, unknown>[]) {
      assert.equal(typeof e.command, "string");
      for (const k of Object.keys(e)) assert.ok(["command", "loop_limit"].includes(k), k);
    }
  }
}

/** Windsurf's hooks.json schema (snake_case events; command, show_output). */
function checkWindsurfSchema(doc: Record<string, unknown>): void {
  for (const [event, list] of Object.entries(doc.hooks as Record<string, unknown[]>)) {
    assert.match(event, /^(pre|post)_[a-z_]+$/);
    for (const e of list as Record<string, unknown>[]) {
      assert.equal(typeof e.command, "string");
      for (const k of Object.keys(e)) assert.ok(["command", "show_output"].includes(k), k);
    }
  }
}

Deno.test("setup cursor and windsurf: hook files match their schema and their commands work as the assistant runs them", async () => {
  using home = new Home();
  home.program = {
    standalone: false,
    execPath: Deno.execPath(),
    mainModule: pathToFileURL(MAIN).href,
  };
  assert.equal(await home.run("cursor", "windsurf", "--name", "cur"), 0, home.err);
  const cursor = home.json(".cursor/hooks.json");
  checkCursorSchema(cursor);
  const windsurf = home.json(".codeium/windsurf/hooks.json");
  checkWindsurfSchema(windsurf);

  await using b = await testBroker();
  // This test process plays the assistant: the hook's shell is its child.
  await using agent = new McpAgent({
    client: { host: "127.0.0.1", port: b.port, dataDir: b.dataDir, secret: b.secret },
    name: "cur",
    assistant: { pid: Deno.pid },
  });
  await agent.start();
  await waitFor(async () => (await listAgentRecords(b.dataDir)).length === 1);
  await using bob = await AgentClient.connect({
    host: "127.0.0.1",
    port: b.port,
    dataDir: b.dataDir,
    role: "none",
    secret: b.secret,
  });
  await bob.register("bob");
  const env = { IPC_PORT: String(b.port), IPC_DATA_DIR: b.dataDir };
  await bob.send("cur", "hello cursor");
  const start = await runAsAssistant(cursor.hooks.sessionStart[0].command, {
    hook_event_name: "sessionStart",
    conversation_id: "c1",
    workspace_roots: [home.dir],
  }, env);
  assert.equal(start.code, 0);
  assert.match(JSON.parse(start.stdout).additional_context, /hello cursor/);
  await bob.send("cur", "more work");
  const stop = await runAsAssistant(cursor.hooks.stop[0].command, {
    hook_event_name: "stop",
    status: "completed",
    loop_count: 0,
  }, env);
  assert.match(JSON.parse(stop.stdout).followup_message, /more work/);
  const ws = await runAsAssistant(windsurf.hooks.post_cascade_response[0].command, {
    agent_action_name: "post_cascade_response",
  }, env);
  assert.equal(ws.code, 0);
  assert.equal(ws.stdout, "", "Windsurf: notification only, nothing for the model");
});

Deno.test("hook command: the shell's quiet test reads the marker in the data dir the hook is given, quoted", async () => {
  const dir = await Deno.makeTempDir({ prefix: "it's a dir " });
  try {
    await Deno.mkdir(join(dir, "agents"));
    const marker = join(dir, "agents", `pid-${Deno.pid}.quiet`);
    const state = join(dir, "agents", `pid-${Deno.pid}.state`);
    // The launcher would fail loudly if the shell ran it: the marker must settle the hook.
    const cmd = hookCommand(
      { command: "/nonexistent/agent-ipc", args: ["mcp"] },
      "claude",
      "tool",
      "linux",
      [
        "--data-dir",
        dir,
      ],
    );
    await Deno.writeTextFile(marker, `${Deno.pid}\n`); // a live "broker": this process
    const quiet = await runAsAssistant(cmd, {}, {});
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.equal(await Deno.readTextFile(state), "awake sh\n");
    // A marker whose broker is gone is not believed: the launcher runs.
    const gone = new Deno.Command("true").spawn();
    await gone.status;
    await Deno.writeTextFile(marker, `${gone.pid}\n`);
    const loud = await runAsAssistant(cmd, {}, {});
    assert.equal(loud.code, 127, "the launcher was started");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("setup over an earlier setup's plain hook commands replaces them in place; --remove takes them out", async () => {
  using home = new Home();
  const old = (e: string) => ({
    hooks: [{ type: "command", command: `${BINARY} hook claude ${e}` }],
  });
  home.write(
    ".claude/settings.json",
    JSON.stringify({ hooks: { PostToolUse: [{ matcher: "*", ...old("tool") }] } }, null, 2),
  );
  assert.equal(await home.run("claude", "--name", "claude"), 0, home.err);
  const tool = commands(home.json(".claude/settings.json").hooks.PostToolUse);
  assert.equal(tool.length, 1, "replaced, not added beside");
  assert.ok(tool[0]?.startsWith(QUIET_TEST), tool[0]);
  assert.equal(await home.run("claude", "--remove"), 0, home.err);
  assert.equal(home.json(".claude/settings.json").hooks, undefined);
});

Deno.test("setup gemini --wake: the two settings, the waiter's policy rule, the waiter command in the start and prompt hooks", async () => {
  using home = new Home();
  home.write(".gemini/settings.json", `{"tools": {"shell": {"pager": "less"}}}\n`);
  assert.equal(await home.run("gemini", "--name", "gemini", "--wake"), 0, home.err);
  const s = home.json(".gemini/settings.json");
  assert.equal(s.experimental.modelSteering, true);
  assert.deepEqual(s.tools.shell, { pager: "less", backgroundCompletionBehavior: "inject" });
  const waiter = `${BINARY} hook gemini waiter`;
  for (const event of ["SessionStart", "BeforeAgent"]) {
    assert.deepEqual(s.hooks[event][0].hooks[0].env, { IPC_GEMINI_WAITER: waiter }, event);
  }
  assert.equal(s.hooks.AfterTool[0].hooks[0].env, undefined);
  const policy = home.read(".gemini/policies/agent-ipc.toml");
  const rule = parseToml(policy).value as { rule: Record<string, unknown>[] };
  assert.equal(rule.rule[0].toolName, "run_shell_command");
  assert.equal(rule.rule[0].decision, "allow");
  // The rule matches the waiter command alone, not the command with anything after it.
  const re = new RegExp('"command":"' + (rule.rule[0].commandRegex as string));
  assert.ok(re.test(JSON.stringify({ command: waiter, is_background: true })));
  assert.ok(!re.test(JSON.stringify({ command: `${waiter}; rm -rf ~` })));
  assert.match(home.out, /woken when the waiter its model runs in the background ends/);
  // Again: nothing changes. --remove takes the rule out (and the hooks with it).
  assert.equal(await home.run("gemini", "--name", "gemini", "--wake"), 0, home.err);
  assert.equal(home.read(".gemini/policies/agent-ipc.toml"), policy);
  assert.equal(await home.run("gemini", "--remove"), 0, home.err);
  // The policy file was setup's: it goes (it used to stay behind, empty).
  assert.throws(() => home.read(".gemini/policies/agent-ipc.toml"), Deno.errors.NotFound);
  assert.equal(home.json(".gemini/settings.json").hooks, undefined);
});

Deno.test("setup gemini --remove takes back the wake settings --wake created, and only those", async () => {
  // The user's bytes come back whatever --wake had to create for its two settings.
  const originals = [
    `{"tools": {"shell": {"pager": "less"}}}\n`,
    `{\n  // mine\n  "theme": "dark"\n}\n`,
    `{\n  "experimental": {\n    "modelSteering": true\n  },\n  "tools": {}\n}\n`,
  ];
  for (const original of originals) {
    using home = new Home();
    home.write(".gemini/settings.json", original);
    assert.equal(await home.run("gemini", "--name", "gemini", "--wake"), 0, home.err);
    assert.equal(await home.run("gemini", "--name", "gemini", "--wake"), 0, home.err);
    const on = parseJsoncObject(home.read(".gemini/settings.json")) as {
      experimental: { modelSteering: unknown };
      tools: { shell: { backgroundCompletionBehavior: unknown } };
    };
    assert.deepEqual(
      [on.experimental.modelSteering, on.tools.shell.backgroundCompletionBehavior],
      [true, "inject"],
    );
    assert.equal(await home.run("gemini", "--remove"), 0, home.err);
    assert.equal(home.read(".gemini/settings.json"), original);
  }
  {
    // No settings.json before: none after.
    using home = new Home();
    assert.equal(await home.run("gemini", "--name", "gemini", "--wake"), 0, home.err);
    assert.equal(await home.run("gemini", "--remove"), 0, home.err);
    assert.throws(() => home.read(".gemini/settings.json"), Deno.errors.NotFound);
  }
  {
    // A setting the user changed after setup is theirs: --remove leaves it.
    using home = new Home();
    home.write(".gemini/settings.json", `{}\n`);
    assert.equal(await home.run("gemini", "--name", "gemini", "--wake"), 0, home.err);
    const s = home.read(".gemini/settings.json").replace('"inject"', '"notify"');
    home.write(".gemini/settings.json", s);
    assert.equal(await home.run("gemini", "--remove"), 0, home.err);
    assert.deepEqual(home.json(".gemini/settings.json"), {
      tools: { shell: { backgroundCompletionBehavior: "notify" } },
    });
  }
});
