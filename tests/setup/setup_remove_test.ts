/**
 * `setup --remove` undoes exactly what setup did, in the layouts of issue 24
 * (item 5), and a setup is all or nothing per assistant. The random layouts
 * are in setup_roundtrip_test.ts; these are the reported cases, by name.
 */

import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { runSetup } from "../../lib/setup/setup_command.ts";
import { filesUnder } from "./_fixtures.ts";

class Home implements Disposable {
  readonly dir = Deno.makeTempDirSync({ prefix: "ipc-remove-" });
  out = "";
  err = "";
  write(rel: string, text: string): void {
    Deno.mkdirSync(dirname(join(this.dir, rel)), { recursive: true });
    Deno.writeTextFileSync(join(this.dir, rel), text);
  }
  read(rel: string): string {
    return Deno.readTextFileSync(join(this.dir, rel));
  }
  async run(...args: string[]): Promise<number> {
    this.out = "";
    this.err = "";
    return await runSetup(args, {
      stdout: (s) => void (this.out += s),
      stderr: (s) => void (this.err += s),
      env: { PATH: "", HOME: this.dir },
      home: this.dir,
      os: "linux",
      isWsl: false,
      cwd: this.dir,
      program: { standalone: true, execPath: "/opt/agent-ipc", mainModule: "file:///x" },
    });
  }
  [Symbol.dispose](): void {
    Deno.removeSync(this.dir, { recursive: true });
  }
}

// As Claude Code's docs write settings: one-line "allow", a user's hook on one line.
const ONE_LINE_SETTINGS = `{
  "permissions": {
    "allow": ["Bash(npm run lint)", "Bash(npm run test:*)", "Read(~/.zshrc)"]
  },
  "hooks": {
    "Stop": [{ "hooks": [{ "type": "command", "command": "say done" }] }]
  }
}
`;

Deno.test("setup --remove: one-line allow arrays and one-line user hooks come back byte for byte", async () => {
  using home = new Home();
  home.write(".claude.json", `{"numStartups": 3}`);
  home.write(".claude/settings.json", ONE_LINE_SETTINGS);
  assert.equal(await home.run("claude"), 0, home.err);
  assert.match(home.read(".claude/settings.json"), /"Read\(~\/\.zshrc\)", "mcp__agent-ipc"\]/);
  assert.equal(await home.run("claude", "--remove"), 0, home.err);
  assert.equal(home.read(".claude/settings.json"), ONE_LINE_SETTINGS);
  // A config that had no mcpServers key gets none back (not "mcpServers": {}).
  assert.equal(home.read(".claude.json"), `{"numStartups": 3}`);
  for (
    const [id, rel, text] of [
      [
        "gemini",
        ".gemini/settings.json",
        `{"theme": "Default", "hooks": {"AfterTool": [{"hooks": [{"type": "command", "command": "lint"}]}]}}\n`,
      ],
      [
        "cursor",
        ".cursor/hooks.json",
        `{"version": 1, "hooks": {"stop": [{"command": "say bye"}]}}`,
      ],
      [
        "codex",
        ".codex/hooks.json",
        `{"hooks": {"Stop": [{"hooks": [{"type": "command", "command": "x"}]}]}}`,
      ],
    ]
  ) {
    home.write(rel, text);
    assert.equal(await home.run(id), 0, home.err);
    assert.notEqual(home.read(rel), text);
    assert.equal(await home.run(id, "--remove"), 0, home.err);
    assert.equal(home.read(rel), text, `${id}: ${rel}`);
  }
});

Deno.test("setup is all or nothing per assistant: an invalid ~/.claude.json leaves settings.json alone", async () => {
  using home = new Home();
  home.write(".claude.json", `{"numStartups": 3,`);
  home.write(".claude/settings.json", ONE_LINE_SETTINGS);
  home.write(".gemini/settings.json", `{}\n`);
  assert.equal(await home.run("claude", "gemini"), 1);
  assert.match(home.err, /\.claude\.json: is not valid JSON/);
  assert.match(home.err, /Claude Code: nothing changed \(setup is all or nothing per assistant\)/);
  assert.equal(home.read(".claude/settings.json"), ONE_LINE_SETTINGS, "no hooks, no permission");
  assert.equal(home.read(".claude.json"), `{"numStartups": 3,`);
  // The other assistant is still set up.
  assert.match(home.read(".gemini/settings.json"), /agent-ipc/);
  // And --remove of a half-broken assistant changes nothing either.
  home.write(".claude/settings.json", `{"hooks": []}`);
  home.write(".claude.json", `{"mcpServers": {"agent-ipc": {"command": "x"}}}`);
  assert.equal(await home.run("claude", "--remove"), 1);
  assert.equal(home.read(".claude.json"), `{"mcpServers": {"agent-ipc": {"command": "x"}}}`);
});

Deno.test("setup --remove deletes the files setup created, and leaves no backup of them", async () => {
  for (const id of ["claude", "gemini", "codex", "cursor", "windsurf"]) {
    using home = new Home();
    assert.equal(await home.run(id), 0, home.err);
    const created = Object.keys(filesUnder(home.dir));
    assert.ok(created.length >= 1, `${id}: ${created}`);
    // --dry-run says which files would go, and deletes none.
    assert.equal(await home.run(id, "--remove", "--dry-run"), 0, home.err);
    assert.match(home.out, /would delete .* \(setup created it\)/);
    assert.deepEqual(Object.keys(filesUnder(home.dir)), created);
    assert.equal(await home.run(id, "--remove"), 0, home.err);
    // Windsurf's new mcp_config.json is what Windsurf creates itself: left as Windsurf would
    // have it (with the usual .bak of what --remove changed, checked apart).
    const left = id === "windsurf"
      ? { [join(home.dir, ".codeium/windsurf/mcp_config.json")]: `{\n  "mcpServers": {}\n}\n` }
      : {};
    const ws = join(home.dir, ".codeium/windsurf/mcp_config.json");
    const files = filesUnder(
      home.dir,
      (name) => id !== "windsurf" || name !== "mcp_config.json.bak",
    );
    assert.deepEqual(files, left, `${id}: no file, no .bak left of ${created}`);
    if (id === "windsurf") assert.match(Deno.readTextFileSync(`${ws}.bak`), /"agent-ipc"/);
    assert.match(home.out, /deleted it \(setup created it\)/);
  }
});

Deno.test("setup --remove gives back a `{}` file byte for byte, and Windsurf's own empty servers", async () => {
  using home = new Home();
  const files: [string, string, string][] = [
    ["gemini", ".gemini/settings.json", "{}"],
    ["cursor", ".cursor/hooks.json", `{"version": 1}\n`],
    ["windsurf", ".codeium/windsurf/mcp_config.json", `{\n  "mcpServers": {}\n}\n`],
    ["cursor", ".cursor/mcp.json", "// mine\n{}\n"],
    ["windsurf", ".codeium/windsurf/hooks.json", "{}"],
    ["claude", ".claude.json", `{"mcpServers": {}}\n`],
    ["claude", ".claude/settings.json", "{}"],
    ["codex", ".codex/hooks.json", "{}\r\n"],
    ["codex", ".codex/config.toml", "# mine\n"],
  ];
  for (const [, rel, text] of files) home.write(rel, text);
  const ids = [...new Set(files.map(([id]) => id))];
  assert.equal(await home.run(...ids), 0, home.err);
  for (const [, rel, text] of files) assert.notEqual(home.read(rel), text, rel);
  assert.equal(await home.run(...ids, "--remove"), 0, home.err);
  for (const [, rel, text] of files) assert.equal(home.read(rel), text, rel);
});

Deno.test("setup --remove keeps a symlinked config it emptied (the link is the user's)", async () => {
  using home = new Home();
  home.write("dotfiles/hooks.json", "");
  Deno.mkdirSync(join(home.dir, ".codeium/windsurf"), { recursive: true });
  Deno.symlinkSync(
    join(home.dir, "dotfiles/hooks.json"),
    join(home.dir, ".codeium/windsurf/hooks.json"),
  );
  assert.equal(await home.run("windsurf"), 0, home.err);
  assert.match(home.read("dotfiles/hooks.json"), /hook windsurf/);
  assert.equal(await home.run("windsurf", "--remove"), 0, home.err);
  assert.ok(Deno.lstatSync(join(home.dir, ".codeium/windsurf/hooks.json")).isSymlink);
  assert.equal(home.read("dotfiles/hooks.json"), "{}\n");
});

Deno.test("setup --remove leaves a user's own empty hooks that never held ours", async () => {
  using home = new Home();
  const settings = `{"model": "opus", "hooks": {}}\n`;
  home.write(".claude.json", `{"numStartups": 3}`);
  home.write(".claude/settings.json", settings);
  home.write(".gemini/settings.json", `{\n  "hooks": {},\n  "theme": "x"\n}\n`);
  assert.equal(await home.run("claude", "gemini", "--remove"), 0, home.err);
  assert.equal(home.read(".claude/settings.json"), settings);
  assert.equal(home.read(".gemini/settings.json"), `{\n  "hooks": {},\n  "theme": "x"\n}\n`);
  // The same after a setup --no-hooks and its --remove.
  assert.equal(await home.run("claude", "--no-hooks"), 0, home.err);
  assert.equal(await home.run("claude", "--remove"), 0, home.err);
  assert.equal(home.read(".claude/settings.json"), settings);
});
