import assert from "node:assert/strict";
import {
  resolveTarget,
  TARGET_IDS,
  type TargetConfig,
  type TargetContext,
} from "../../lib/setup/targets.ts";

function paths(ctx: TargetContext): Record<string, string> {
  return Object.fromEntries(TARGET_IDS.map((id) => {
    const target = resolveTarget(id, ctx);
    return [id, typeof target === "string" ? `(none: ${target})` : target.path];
  }));
}

const UNIX_PATHS = {
  claude: "/home/me/.claude.json",
  gemini: "/home/me/.gemini/settings.json",
  codex: "/home/me/.codex/config.toml",
  cursor: "/home/me/.cursor/mcp.json",
  windsurf: "/home/me/.codeium/windsurf/mcp_config.json",
};

Deno.test("config paths on Linux", () => {
  assert.deepEqual(paths({ os: "linux", isWsl: false, home: "/home/me", env: {} }), UNIX_PATHS);
});

Deno.test("config paths on macOS", () => {
  assert.deepEqual(paths({ os: "darwin", isWsl: false, home: "/Users/me", env: {} }), {
    claude: "/Users/me/.claude.json",
    gemini: "/Users/me/.gemini/settings.json",
    codex: "/Users/me/.codex/config.toml",
    cursor: "/Users/me/.cursor/mcp.json",
    windsurf: "/Users/me/.codeium/windsurf/mcp_config.json",
  });
});

Deno.test("config paths on Windows use %USERPROFILE%", () => {
  const env = { USERPROFILE: "C:\\Users\\me", APPDATA: "C:\\Users\\me\\AppData\\Roaming" };
  const expected = {
    claude: "C:\\Users\\me\\.claude.json",
    gemini: "C:\\Users\\me\\.gemini\\settings.json",
    codex: "C:\\Users\\me\\.codex\\config.toml",
    cursor: "C:\\Users\\me\\.cursor\\mcp.json",
    windsurf: "C:\\Users\\me\\.codeium\\windsurf\\mcp_config.json",
  };
  assert.deepEqual(paths({ os: "windows", isWsl: false, home: "D:\\elsewhere", env }), expected);
  // Without USERPROFILE the given home is used.
  assert.deepEqual(
    paths({ os: "windows", isWsl: false, home: "C:\\Users\\me", env: {} }),
    expected,
  );
});

Deno.test("config paths on WSL are the Linux home's, with a note for Windows-side editors", () => {
  const ctx: TargetContext = { os: "linux", isWsl: true, home: "/home/me", env: {} };
  assert.deepEqual(paths(ctx), UNIX_PATHS);
  const cursor = resolveTarget("cursor", ctx) as TargetConfig;
  assert.match(cursor.note ?? "", /Windows/);
  const onLinux = resolveTarget("cursor", { ...ctx, isWsl: false }) as TargetConfig;
  assert.equal(onLinux.note, undefined);
});

Deno.test("CLAUDE_CONFIG_DIR and CODEX_HOME move the configs", () => {
  const env = { CLAUDE_CONFIG_DIR: "/cfg/claude", CODEX_HOME: "/cfg/codex" };
  const ctx: TargetContext = { os: "linux", isWsl: false, home: "/home/me", env };
  assert.equal((resolveTarget("claude", ctx) as TargetConfig).path, "/cfg/claude/.claude.json");
  assert.equal((resolveTarget("codex", ctx) as TargetConfig).path, "/cfg/codex/config.toml");
  assert.deepEqual((resolveTarget("codex", ctx) as TargetConfig).markers, ["/cfg/codex"]);
});

Deno.test("project-level configs, and none for Windsurf", () => {
  const ctx: TargetContext = {
    os: "linux",
    isWsl: false,
    home: "/home/me",
    env: {},
    project: "/src/app",
  };
  assert.deepEqual(paths(ctx), {
    claude: "/src/app/.mcp.json",
    gemini: "/src/app/.gemini/settings.json",
    codex: "/src/app/.codex/config.toml",
    cursor: "/src/app/.cursor/mcp.json",
    windsurf: "(none: Windsurf has no project-level MCP config; run without --project)",
  });
  const win = {
    os: "windows",
    isWsl: false,
    home: "C:\\Users\\me",
    env: {},
    project: "C:\\src\\app",
  } as const;
  assert.equal((resolveTarget("claude", win) as TargetConfig).path, "C:\\src\\app\\.mcp.json");
});

Deno.test("formats and server keys", () => {
  const ctx: TargetContext = { os: "linux", isWsl: false, home: "/h", env: {} };
  const shape = TARGET_IDS.map((id) => {
    const t = resolveTarget(id, ctx) as TargetConfig;
    return [id, t.format, t.serversKey, t.withType];
  });
  assert.deepEqual(shape, [
    ["claude", "json", "mcpServers", true],
    ["gemini", "json", "mcpServers", false],
    ["codex", "toml", "mcp_servers", false],
    ["cursor", "json", "mcpServers", false],
    ["windsurf", "json", "mcpServers", false],
  ]);
});
