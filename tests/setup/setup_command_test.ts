import assert from "node:assert/strict";
import { join } from "node:path";
import { PERMISSION_FLAGS } from "../../lib/permissions.ts";
import { runSetup, type SetupIo } from "../../lib/setup/setup_command.ts";
import { parseToml } from "../../lib/setup/toml_document.ts";
import { CODEX_ENV_VARS } from "../../lib/setup/hooks.ts";
import {
  CLAUDE_FIXTURE,
  CODEX_FIXTURE,
  filesUnder,
  FIXTURE_FILES,
  GEMINI_FIXTURE,
} from "./_fixtures.ts";

const BINARY = "/opt/agent-ipc/bin/agent-ipc";

const FILES = FIXTURE_FILES;

type Target = keyof typeof FILES;
const TARGETS = Object.keys(FILES) as Target[];

/** A temporary HOME, removed at the end of the test. */
class Home {
  readonly dir: string;
  out = "";
  err = "";
  constructor() {
    this.dir = Deno.makeTempDirSync({ prefix: "agent-ipc-setup-" });
  }
  path(target: Target): string {
    return join(this.dir, FILES[target][0]);
  }
  install(...targets: Target[]): void {
    for (const target of targets) {
      Deno.mkdirSync(join(this.path(target), ".."), { recursive: true });
      Deno.writeTextFileSync(this.path(target), FILES[target][1]);
    }
  }
  read(target: Target): string {
    return Deno.readTextFileSync(this.path(target));
  }
  json(target: Target) {
    return JSON.parse(this.read(target));
  }
  exists(path: string): boolean {
    try {
      Deno.lstatSync(path);
      return true;
    } catch {
      return false;
    }
  }
  /** Every file under HOME with its content, to prove that nothing was written. */
  snapshot(): Record<string, string> {
    return filesUnder(this.dir);
  }
  io(overrides: Partial<SetupIo> = {}): SetupIo {
    return {
      stdout: (s) => this.out += s,
      stderr: (s) => this.err += s,
      env: { PATH: "", HOME: this.dir },
      home: this.dir,
      os: "linux",
      isWsl: false,
      cwd: this.dir,
      program: { standalone: true, execPath: BINARY, mainModule: "file:///unused/main.ts" },
      ...overrides,
    };
  }
  async run(...args: string[]): Promise<number> {
    this.out = "";
    this.err = "";
    return await runSetup(args, this.io());
  }
  [Symbol.dispose](): void {
    Deno.removeSync(this.dir, { recursive: true });
  }
}

Deno.test("setup adds the entry to each assistant's config and keeps everything else", async () => {
  using home = new Home();
  home.install(...TARGETS);
  assert.equal(await home.run(...TARGETS, "--name", "fred"), 0, home.err);
  assert.equal(home.err, "");
  assert.match(home.out, /^MCP server command: \/opt\/agent-ipc\/bin\/agent-ipc mcp --name NAME\n/);
  // Five assistants, five names: --name is the stem, each adds its own.
  assert.match(home.out, /\nNames: Claude Code "fred-claude", Gemini CLI "fred-gemini", /);

  const entryOf = (target: Target) => ({
    command: BINARY,
    args: ["mcp", "--name", `fred-${target}`],
    env: { IPC_INSTANCE: `fred-${target}` },
  });
  const claude = home.json("claude");
  assert.deepEqual(claude.mcpServers["agent-ipc"], { type: "stdio", ...entryOf("claude") });
  assert.deepEqual(claude.mcpServers.github, JSON.parse(CLAUDE_FIXTURE).mcpServers.github);
  assert.deepEqual(claude.projects, JSON.parse(CLAUDE_FIXTURE).projects);
  assert.equal(claude.userID, "abc123");
  for (const target of ["gemini", "cursor", "windsurf"] as const) {
    const value = home.json(target);
    // Gemini CLI trusts the server (no prompt per call) unless --ask.
    const entry = entryOf(target);
    const expected = target === "gemini" ? { ...entry, trust: true } : entry;
    assert.deepEqual(value.mcpServers["agent-ipc"], expected, target);
    // Gemini keeps its hooks in the same file (tests/setup/hooks_setup_test.ts).
    const { mcpServers: _, hooks: _hooks, ...others } = value;
    const { mcpServers: __, ...fixtureOthers } = JSON.parse(FILES[target][1]);
    assert.deepEqual(others, fixtureOthers, target);
  }
  assert.deepEqual(home.json("gemini").mcpServers.docs, JSON.parse(GEMINI_FIXTURE).mcpServers.docs);
  // Codex: the user's file is kept byte for byte, comments included, our table appended.
  const codex = home.read("codex");
  assert.ok(codex.startsWith(CODEX_FIXTURE), codex);
  assert.ok(
    codex.slice(CODEX_FIXTURE.length).startsWith(
      `\n[mcp_servers.agent-ipc]\ncommand = "${BINARY}"\nargs = ["mcp", "--name", "fred-codex"]\n` +
        `env_vars = [${CODEX_ENV_VARS.map((v) => `"${v}"`).join(", ")}]\n` +
        `default_tools_approval_mode = "approve"\nenv = { IPC_INSTANCE = "fred-codex" }\n`,
    ),
    codex,
  );
  const servers = parseToml(codex).value.mcp_servers as Record<string, unknown>;
  assert.deepEqual(Object.keys(servers), ["docs", "agent-ipc"]);

  // Each file was backed up before its first change.
  for (const target of TARGETS) {
    assert.equal(Deno.readTextFileSync(home.path(target) + ".bak"), FILES[target][1], target);
    assert.match(home.out, new RegExp(`added agent-ipc to ${home.path(target)} \\(backup: `));
  }
  assert.match(home.out, /Restart the assistants/);
});

Deno.test("setup run twice leaves the files byte-identical and says already configured", async () => {
  using home = new Home();
  home.install(...TARGETS);
  assert.equal(await home.run(...TARGETS, "--name", "fred"), 0, home.err);
  for (const target of TARGETS) Deno.removeSync(home.path(target) + ".bak");
  const before = home.snapshot();
  assert.equal(await home.run(...TARGETS, "--name", "fred"), 0, home.err);
  assert.deepEqual(home.snapshot(), before, "no file written, no backup made");
  for (const label of ["Claude Code", "Gemini CLI", "Codex", "Cursor", "Windsurf"]) {
    assert.match(home.out, new RegExp(`${label}: already configured in `));
  }
  assert.doesNotMatch(home.out, /Restart/);
  // A different name is an update, in place.
  assert.equal(await home.run("codex", "--name", "wilma"), 0, home.err);
  assert.match(home.out, /Codex: updated agent-ipc in /);
  assert.match(home.read("codex"), /args = \["mcp", "--name", "wilma"\]/);
  assert.doesNotMatch(home.read("codex"), /fred/);
});

Deno.test("setup --remove takes the entry out and restores the original files", async () => {
  using home = new Home();
  home.install(...TARGETS);
  assert.equal(await home.run(...TARGETS, "--name", "fred"), 0, home.err);
  assert.equal(await home.run(...TARGETS, "--remove"), 0, home.err);
  for (const target of TARGETS) {
    // The fixtures are in the assistants' own format, so removal gives back the same bytes.
    assert.equal(home.read(target), FILES[target][1], target);
    assert.match(home.out, new RegExp(`removed agent-ipc from ${home.path(target)}`));
  }
  assert.doesNotMatch(home.out, /MCP server command/);
  const before = home.snapshot();
  assert.equal(await home.run(...TARGETS, "--remove"), 0, home.err);
  assert.match(home.out, /Codex: agent-ipc is not configured in /);
  assert.deepEqual(home.snapshot(), before);
});

Deno.test("setup --dry-run shows a diff and writes nothing", async () => {
  using home = new Home();
  home.install("claude", "codex");
  const before = home.snapshot();
  assert.equal(await home.run("claude", "codex", "gemini", "--dry-run", "--name", "fred"), 0);
  assert.deepEqual(home.snapshot(), before, "no file written");
  assert.ok(!home.exists(join(home.dir, ".gemini")), "no directory created");
  assert.match(
    home.out,
    /Claude Code: would add agent-ipc to .*\.claude\.json \(dry run, nothing written\)/,
  );
  assert.ok(
    home.out.includes(
      `--- ${home.path("claude")} (now)\n+++ ${home.path("claude")} (after setup)\n`,
    ),
  );
  assert.ok(home.out.includes(`+    },\n+    "agent-ipc": {\n+      "type": "stdio",\n`), home.out);
  assert.ok(home.out.includes("\n@@ -13,6 +13,18 @@\n"), "the diff is exact");
  assert.ok(
    home.out.includes(` [profiles.fast]\n model = "gpt-5-mini"\n+\n+[mcp_servers.agent-ipc]\n`),
  );
  assert.ok(
    home.out.includes(
      `--- /dev/null\n+++ ${home.path("gemini")} (after setup)\n@@ -0,0 +1,16 @@\n+{\n`,
    ),
  );
  assert.doesNotMatch(home.out, /Restart/);

  assert.equal(await home.run("claude", "codex", "--name", "fred"), 0);
  const configured = home.snapshot();
  assert.equal(await home.run("claude", "codex", "--remove", "--dry-run"), 0);
  assert.deepEqual(home.snapshot(), configured);
  assert.match(home.out, /Codex: would remove agent-ipc from /);
  assert.ok(home.out.includes(`-[mcp_servers.agent-ipc]\n`));
});

Deno.test("setup leaves malformed configs untouched and exits 1, doing the others", async () => {
  using home = new Home();
  home.install("claude");
  const broken = {
    codex: [
      'model = "o3"\n[mcp_servers\n',
      /Codex: .*config\.toml: is not valid TOML \(Line 3, column 1: Unterminated table-key/,
    ],
    gemini: ['{"mcpServers": {"x": 1},}', /Gemini CLI: .*settings\.json: is not valid JSON/],
    cursor: [
      '{"mcpServers": []}\n',
      /Cursor: .*mcp\.json: "mcpServers" is an array, expected an object/,
    ],
    windsurf: ['[{"mcpServers": {}}]', /Windsurf: .*mcp_config\.json: the top level is an array/],
  } as const;
  for (const [target, [text]] of Object.entries(broken)) {
    Deno.mkdirSync(join(home.path(target as Target), ".."), { recursive: true });
    Deno.writeTextFileSync(home.path(target as Target), text);
  }
  for (const extra of [[], ["--remove"], ["--dry-run"]]) {
    assert.equal(await home.run(...TARGETS, ...extra), 1, extra.join(" "));
    for (const [target, [text, message]] of Object.entries(broken)) {
      assert.match(home.err, message);
      assert.equal(home.read(target as Target), text, "left untouched");
      assert.ok(
        !home.exists(home.path(target as Target) + ".bak"),
        "no backup of an untouched file",
      );
    }
    assert.match(home.err, /the file was left unchanged\n/);
  }
  // Claude Code, whose file was fine, was configured (and then removed) all the same.
  assert.equal(home.read("claude"), CLAUDE_FIXTURE);
  assert.ok(home.exists(home.path("claude") + ".bak"));
});

Deno.test("setup usage errors exit 2 and write nothing", async () => {
  using home = new Home();
  home.install(...TARGETS);
  const before = home.snapshot();
  const cases: [string[], RegExp][] = [
    [[], /Name an assistant, or all/],
    [["vim"], /Unknown assistant "vim"/],
    [["claude", "--bogus"], /Unknown option '--bogus'/],
    [["claude", "--name"], /Option '--name <value>' argument missing/],
    [["claude", "--name", "two words"], /Invalid --name "two words"/],
    [["claude", "--name="], /Invalid --name ""/],
    [["claude", "--project", "no/such/dir"], /--project "no\/such\/dir" is not a directory/],
    [["windsurf", "--project", "."], /Windsurf has no project-level MCP config/],
  ];
  for (const [args, message] of cases) {
    assert.equal(await home.run(...args), 2, args.join(" "));
    assert.match(home.err, message, args.join(" "));
    assert.match(home.err, /Usage: agent-ipc setup /);
    assert.equal(home.out, "");
  }
  assert.deepEqual(home.snapshot(), before);
  assert.equal(await home.run("--help"), 0);
  assert.match(home.out, /^Usage: agent-ipc setup /);
  assert.ok(home.out.includes(home.path("codex")), "help shows this machine's paths");
  assert.match(home.out, /Windows\s+side/);
  assert.equal(home.err, "");
});

Deno.test("setup all configures the assistants found and skips the others", async () => {
  using home = new Home();
  assert.equal(await home.run("all"), 1);
  assert.match(home.err, /found none of the assistants/);
  assert.deepEqual(home.snapshot(), {});

  Deno.mkdirSync(join(home.dir, ".codex"));
  Deno.mkdirSync(join(home.dir, ".claude"));
  assert.equal(await home.run("all"), 0, home.err);
  assert.match(home.out, /Claude Code: added agent-ipc to /);
  assert.match(home.out, /Codex: added agent-ipc to /);
  assert.match(home.out, /Gemini CLI: skipped \(not found: .*\.gemini\)/);
  assert.match(home.out, /Cursor: skipped/);
  assert.match(home.out, /Windsurf: skipped/);
  // Without --name each assistant registers under its own name, and setup says so.
  assert.match(
    home.out,
    /\nNames: Claude Code "claude", Gemini CLI "gemini", Codex "codex", Cursor "cursor", Windsurf "windsurf" \(each assistant's own name/,
  );
  assert.deepEqual(home.json("claude"), {
    mcpServers: {
      "agent-ipc": {
        type: "stdio",
        command: BINARY,
        args: ["mcp", "--name", "claude"],
        env: { IPC_INSTANCE: "claude" },
      },
    },
  });
  assert.ok(
    home.read("codex").startsWith(
      `[mcp_servers.agent-ipc]\ncommand = "${BINARY}"\nargs = ["mcp", "--name", "codex"]\nenv_vars = [`,
    ),
  );
  assert.ok(!home.exists(home.path("codex") + ".bak"), "a new file has nothing to back up");
});

Deno.test("setup --project writes the project's configs", async () => {
  using home = new Home();
  const project = join(home.dir, "src", "app");
  Deno.mkdirSync(project, { recursive: true });
  assert.equal(await home.run("claude", "codex", "--project", "src/app"), 0, home.err);
  assert.deepEqual(JSON.parse(Deno.readTextFileSync(join(project, ".mcp.json"))), {
    mcpServers: {
      "agent-ipc": {
        type: "stdio",
        command: BINARY,
        args: ["mcp", "--name", "claude"],
        env: { IPC_INSTANCE: "claude" },
      },
    },
  });
  assert.match(
    Deno.readTextFileSync(join(project, ".codex", "config.toml")),
    /^\[mcp_servers\.agent-ipc\]\n/,
  );
  assert.match(home.out, /note: Codex reads a project's \.codex\/config\.toml only when it trusts/);
  assert.ok(!home.exists(home.path("claude")), "the user config is not touched");
  assert.equal(await home.run("all", "--project", project), 0, home.err);
  assert.match(home.out, /Windsurf: skipped \(no project-level config\)/);
  assert.match(home.out, /Claude Code: already configured in /);
  assert.ok(home.exists(join(project, ".cursor", "mcp.json")));
  assert.ok(home.exists(join(project, ".gemini", "settings.json")));
});

Deno.test("setup writes through a symlinked config and keeps its permissions", async () => {
  using home = new Home();
  const dotfiles = join(home.dir, "dotfiles");
  Deno.mkdirSync(dotfiles);
  Deno.writeTextFileSync(join(dotfiles, "claude.json"), CLAUDE_FIXTURE, { mode: 0o600 });
  Deno.chmodSync(join(dotfiles, "claude.json"), 0o600);
  Deno.symlinkSync(join(dotfiles, "claude.json"), home.path("claude"));
  assert.equal(await home.run("claude"), 0, home.err);
  assert.ok(Deno.lstatSync(home.path("claude")).isSymlink, "still a link");
  const real = Deno.statSync(join(dotfiles, "claude.json"));
  assert.equal(real.mode! & 0o777, 0o600);
  assert.ok("agent-ipc" in home.json("claude").mcpServers);
  assert.equal(Deno.readTextFileSync(home.path("claude") + ".bak"), CLAUDE_FIXTURE);
  assert.deepEqual(
    [...Deno.readDirSync(dotfiles)].map((e) => e.name),
    ["claude.json"],
    "no temporary file left behind",
  );
});

Deno.test("setup without a compiled binary uses deno run with the permission flags", async () => {
  using home = new Home();
  const io = home.io({ program: undefined });
  assert.equal(await runSetup(["cursor"], io), 0, home.err);
  const entry = home.json("cursor").mcpServers["agent-ipc"];
  assert.equal(entry.command, Deno.execPath());
  assert.deepEqual(entry.args.slice(0, 1 + PERMISSION_FLAGS.length), ["run", ...PERMISSION_FLAGS]);
  assert.deepEqual(entry.args.slice(-3), ["mcp", "--name", "cursor"]);
  assert.equal(entry.args.at(-4), new URL(Deno.mainModule).pathname);
});
