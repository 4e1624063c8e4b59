/**
 * Property test of `setup` and `setup --remove`: random user configs for
 * Claude Code, Gemini CLI, Cursor, Windsurf and Codex (one-line and pretty
 * JSON, JSONC with comments, CRLF, TOML with comments and inline tables,
 * the user's own hooks, permissions and servers) -> setup -> remove gives
 * back the original bytes, and setup's own output is always valid for its
 * parser (the issue: `--remove` refused its own output on one-line arrays).
 * Seeded: a failure prints the seed and the files to replay it.
 */

import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { runSetup } from "../../lib/setup/setup_command.ts";
import { parseJsoncObject } from "../../lib/setup/jsonc_text.ts";
import { parseToml } from "../../lib/setup/toml_document.ts";

/** mulberry32: small, seeded, good enough to pick layouts. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    chance: (p: number) => next() < p,
    int: (n: number) => Math.floor(next() * n),
    pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)],
  };
}
type Rng = ReturnType<typeof rng>;

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** JSON text in a random layout: pretty, one-line, or mixed per node; comments when `jsonc`. */
function writeJson(value: Json, r: Rng, opts: { jsonc: boolean }): string {
  const indentUnit = r.pick(["  ", "    ", "\t"]);
  const eol = r.chance(0.15) ? "\r\n" : "\n";
  const oneLineAll = r.chance(0.3);
  const comment = () => r.pick(["// mine", "// keep this", "/* note */"]);
  const write = (v: Json, depth: number, oneLine: boolean): string => {
    if (v === null || typeof v !== "object") return JSON.stringify(v);
    const entries: [string | null, Json][] = Array.isArray(v)
      ? v.map((x) => [null, x])
      : Object.entries(v);
    const [open, close] = Array.isArray(v) ? ["[", "]"] : ["{", "}"];
    if (entries.length === 0) return open + close;
    const inline = oneLine || r.chance(0.25);
    const item = ([k, x]: [string | null, Json], inl: boolean) =>
      (k === null ? "" : JSON.stringify(k) + (r.chance(0.8) ? ": " : ":")) +
      write(x, depth + 1, inl);
    if (inline) {
      const sep = r.chance(0.8) ? ", " : ",";
      return open + entries.map((e) => item(e, true)).join(sep) + close;
    }
    const pad = indentUnit.repeat(depth + 1);
    const lines = entries.map((e, i) => {
      const before = opts.jsonc && r.chance(0.15) ? `${pad}${comment()}${eol}` : "";
      const last = i === entries.length - 1;
      const after = opts.jsonc && r.chance(0.15) ? ` ${r.pick(["// why", "/* x */"])}` : "";
      return `${before}${pad}${item(e, false)}${last ? "" : ","}${after}`;
    });
    return `${open}${eol}${lines.join(eol)}${eol}${indentUnit.repeat(depth)}${close}`;
  };
  const head = opts.jsonc && r.chance(0.2) ? `// ${r.pick(["settings", "my config"])}${eol}` : "";
  return head + write(value, 0, oneLineAll) + (r.chance(0.7) ? eol : "");
}

const userHook = (r: Rng, flat: boolean): Json => {
  const command = r.pick(["say done", "npm test", "./check.sh --fast", "echo 'hi there'"]);
  if (flat) return r.chance(0.5) ? { command } : { command, timeout: 5 };
  const group: { [k: string]: Json } = { hooks: [{ type: "command", command }] };
  if (r.chance(0.4)) group.matcher = r.pick(["Bash", "*", "Edit|Write"]);
  return group;
};

/** Some of `keys`, each a non-empty list of the user's hooks (setup never sees an empty one). */
function userHooks(r: Rng, keys: string[], flat: boolean): { [k: string]: Json } | undefined {
  if (r.chance(0.35)) return undefined;
  const out: { [k: string]: Json } = {};
  for (const k of keys) {
    if (r.chance(0.5)) out[k] = Array.from({ length: 1 + r.int(2) }, () => userHook(r, flat));
  }
  return Object.keys(out).length ? out : undefined;
}

function otherServers(r: Rng): { [k: string]: Json } | undefined {
  if (r.chance(0.4)) return undefined;
  return {
    github: { command: "npx", args: ["-y", "@modelcontextprotocol/server-github"] },
    ...(r.chance(0.5) ? { docs: { command: "uvx", args: ["docs-mcp"], env: { K: "v" } } } : {}),
  };
}

function obj(entries: [string, Json | undefined][], r: Rng): { [k: string]: Json } {
  const kept = entries.filter(([, v]) => v !== undefined) as [string, Json][];
  // A file with none of them: sometimes `{}`, sometimes `{"mcpServers": {}}` as Windsurf and
  // Cursor write it themselves; both come back byte for byte.
  if (kept.length === 0 && entries.some(([k]) => k === "mcpServers") && r.chance(0.5)) {
    return { mcpServers: {} };
  }
  // The user's keys in any order.
  for (let i = kept.length - 1; i > 0; i--) {
    const j = r.int(i + 1);
    [kept[i], kept[j]] = [kept[j], kept[i]];
  }
  return Object.fromEntries(kept);
}

/** A random Codex config.toml (comments, tables, inline tables, CRLF). */
function writeToml(r: Rng): string {
  const eol = r.chance(0.15) ? "\r\n" : "\n";
  const lines: string[] = [];
  if (r.chance(0.4)) lines.push("# my codex config");
  if (r.chance(0.7)) lines.push(`model = "o3"${r.chance(0.4) ? "  # mine" : ""}`);
  if (r.chance(0.5)) lines.push(`approval_policy = "on-request"`);
  if (r.chance(0.3)) lines.push(`tui = { notifications = true, animations = false }`);
  const tables: string[][] = [];
  if (r.chance(0.5)) tables.push(["[features]", "web_search_request = true"]);
  if (r.chance(0.5)) {
    tables.push([
      "[mcp_servers.docs]",
      'command = "uvx"',
      r.chance(0.5) ? 'args = ["docs-mcp"]' : 'args = [\n  "docs-mcp",\n]',
      ...(r.chance(0.5) ? ['env = { K = "v" }'] : []),
    ]);
  }
  if (r.chance(0.4)) tables.push(['[projects."/home/me/app"]', 'trust_level = "trusted"']);
  if (r.chance(0.3)) tables.push(["[profiles.fast]", 'model = "o4-mini" # quick']);
  for (let i = tables.length - 1; i > 0; i--) {
    const j = r.int(i + 1);
    [tables[i], tables[j]] = [tables[j], tables[i]];
  }
  for (const t of tables) {
    if (lines.length) lines.push("");
    if (r.chance(0.2)) lines.push("# section");
    lines.push(...t);
  }
  const text = lines.join(eol);
  return text === "" ? "" : text + (r.chance(0.85) ? eol : "");
}

type Files = Record<string, string>;
type Assistant = "claude" | "gemini" | "cursor" | "windsurf" | "codex";

/** The files of one assistant as a user might have them (some absent). */
function userConfig(id: Assistant, r: Rng): Files {
  const jsonc = r.chance(0.5);
  const w = (v: Json) => writeJson(v, r, { jsonc });
  const files: Files = {};
  const misc = (): [string, Json | undefined][] => [
    ["theme", r.chance(0.6) ? "dark" : undefined],
    ["big", r.chance(0.2) ? 12345678901234567890 : undefined],
    ["nested", r.chance(0.4) ? { a: [1, 2, { b: null }], c: "é ✓" } : undefined],
  ];
  switch (id) {
    case "claude": {
      files[".claude.json"] = w(obj([
        ["numStartups", 12],
        ...misc(),
        ["mcpServers", otherServers(r)],
        ["projects", r.chance(0.5) ? { "/home/me/app": { allowedTools: [] } } : undefined],
      ], r));
      if (r.chance(0.85)) {
        const allow = r.chance(0.6)
          ? ["Bash(npm test)", "Read(~/src/**)"].slice(r.int(2))
          : undefined;
        const deny = r.chance(0.3) ? ["Bash(rm -rf *)"] : undefined;
        const permissions = allow || deny ? obj([["allow", allow], ["deny", deny]], r) : undefined;
        files[".claude/settings.json"] = w(obj([
          ["permissions", permissions],
          [
            "hooks",
            userHooks(
              r,
              ["Stop", "SessionStart", "PreToolUse", "PostToolUse", "Notification"],
              false,
            ),
          ],
          ["model", r.chance(0.4) ? "opus" : undefined],
          ...misc(),
        ], r));
      }
      break;
    }
    case "gemini":
      if (r.chance(0.2)) break;
      files[".gemini/settings.json"] = w(obj([
        ["mcpServers", otherServers(r)],
        ["hooks", userHooks(r, ["SessionStart", "BeforeAgent", "AfterTool", "BeforeTool"], false)],
        ["selectedAuthType", "oauth-personal"],
        ...misc(),
      ], r));
      break;
    case "cursor":
      if (r.chance(0.8)) {
        files[".cursor/mcp.json"] = w(obj([["mcpServers", otherServers(r)], ...misc()], r));
      }
      if (r.chance(0.7)) {
        files[".cursor/hooks.json"] = w(obj([
          ["version", 1],
          ["hooks", userHooks(r, ["sessionStart", "stop", "afterFileEdit"], true)],
        ], r));
      }
      break;
    case "windsurf":
      files[".codeium/windsurf/mcp_config.json"] = w(
        obj([["mcpServers", otherServers(r)], ...misc()], r),
      );
      if (r.chance(0.6)) {
        files[".codeium/windsurf/hooks.json"] = w(obj([
          ["hooks", userHooks(r, ["post_cascade_response", "pre_run_command"], true)],
        ], r));
      }
      break;
    case "codex":
      if (r.chance(0.8)) files[".codex/config.toml"] = writeToml(r);
      if (r.chance(0.6)) {
        files[".codex/hooks.json"] = w(obj([
          ["hooks", userHooks(r, ["Stop", "SessionStart", "PreToolUse"], false)],
        ], r));
      }
      break;
  }
  return files;
}

const io = (home: string, sink: string[]) => ({
  stdout: (s: string) => void sink.push(s),
  stderr: (s: string) => void sink.push(`ERR ${s}`),
  env: { PATH: "", HOME: home },
  home,
  os: "linux" as const,
  isWsl: false,
  cwd: home,
  program: { standalone: true, execPath: "/opt/agent-ipc/bin/agent-ipc", mainModule: "file:///x" },
});

function readAll(home: string, paths: string[]): Record<string, string | null> {
  return Object.fromEntries(paths.map((p) => {
    try {
      return [p, Deno.readTextFileSync(join(home, p))];
    } catch {
      return [p, null];
    }
  }));
}

const ALL_PATHS: Record<Assistant, string[]> = {
  claude: [".claude.json", ".claude/settings.json"],
  gemini: [".gemini/settings.json"],
  cursor: [".cursor/mcp.json", ".cursor/hooks.json"],
  windsurf: [".codeium/windsurf/mcp_config.json", ".codeium/windsurf/hooks.json"],
  codex: [".codex/config.toml", ".codex/hooks.json"],
};

/**
 * What --remove gives back of a file that held `text` before setup (null: no file). Byte
 * for byte, but for the few texts setup writes the very same bytes into as into a file it
 * creates (`{}`, an empty `mcpServers`, `{}`, Cursor's hooks file with only its version):
 * they hold no setting and go like one; an empty `mcpServers` that is all a file holds goes
 * with them. Windsurf's mcp_config.json keeps (or gets) it, as Windsurf creates the file.
 */
function expectedBack(path: string, text: string | undefined): string | null {
  const windsurf = path.endsWith("windsurf/mcp_config.json");
  if (text === undefined) return windsurf ? '{\n  "mcpServers": {}\n}\n' : null;
  const head = /^\/\/[^\n]*\n/.exec(text)?.[0] ?? "";
  const empty = /^\{(\r?\n)?\}(\r?\n)?$/.exec(text.slice(head.length));
  const servers = /^\{(\r?\n) {2}"mcpServers": \{\}\1\}(\r?\n)?$/.exec(text);
  if (windsurf && empty) {
    const eol = empty[2] ?? "";
    const nl = eol || (text.includes("\r\n") ? "\r\n" : "\n");
    return `${head}{${nl}  "mcpServers": {}${nl}}${eol}`;
  }
  if (windsurf) return text;
  if (servers) return servers[1] === "\n" && servers[2] === "\n" ? null : `{}${servers[2] ?? ""}`;
  const same = text === "" || text === "{}\n" || text === '{\n  "version": 1\n}\n';
  return same ? null : text;
}

/** One case: setup then remove, in a fresh HOME; returns why it failed, or null. */
async function roundTrip(id: Assistant, files: Files): Promise<string | null> {
  const home = Deno.makeTempDirSync({ prefix: "ipc-roundtrip-" });
  try {
    for (const [p, text] of Object.entries(files)) {
      Deno.mkdirSync(dirname(join(home, p)), { recursive: true });
      Deno.writeTextFileSync(join(home, p), text);
    }
    const out: string[] = [];
    if (await runSetup([id, "--name", "me"], io(home, out)) !== 0) {
      return `setup failed: ${out.join("")}`;
    }
    const after = readAll(home, ALL_PATHS[id]);
    for (const [p, text] of Object.entries(after)) {
      if (text === null) continue;
      try {
        if (p.endsWith(".toml")) parseToml(text);
        else parseJsoncObject(text);
      } catch (e) {
        return `setup wrote ${p} that does not parse: ${(e as Error).message}\n${text}`;
      }
    }
    out.length = 0;
    if (await runSetup([id, "--remove"], io(home, out)) !== 0) {
      return `remove failed: ${out.join("")}\nafter setup: ${JSON.stringify(after, null, 2)}`;
    }
    const back = readAll(home, ALL_PATHS[id]);
    for (const p of ALL_PATHS[id]) {
      const want = expectedBack(p, files[p]);
      if (back[p] !== want) {
        return `${p} not given back byte for byte:\n--- before\n${files[p] ?? "(no file)"}\n` +
          `--- after setup\n${after[p]}\n--- after remove\n${back[p] ?? "(no file)"}`;
      }
    }
    // No backup of a file that did not exist before setup.
    for (const p of ALL_PATHS[id]) {
      if (!(p in files) && readAll(home, [`${p}.bak`])[`${p}.bak`] !== null) {
        return `${p}.bak left behind of a file setup created`;
      }
    }
    return null;
  } finally {
    Deno.removeSync(home, { recursive: true });
  }
}

const CASES = Number(Deno.env.get("ROUNDTRIP_CASES") ?? 60);
const SEED = Number(Deno.env.get("ROUNDTRIP_SEED") ?? 20261207);

for (const id of ["claude", "gemini", "cursor", "windsurf", "codex"] as const) {
  Deno.test(`setup ${id} then --remove gives back the user's bytes (${CASES} random configs)`, async () => {
    for (let i = 0; i < CASES; i++) {
      const seed = SEED + i * 7919 + id.length;
      const files = userConfig(id, rng(seed));
      const why = await roundTrip(id, files);
      assert.equal(why, null, `seed ${seed} (${id}, case ${i}): ${why}`);
    }
  });
}

Deno.test("the generator makes the layouts of the issue", () => {
  // One-line allow arrays and one-line user hooks, pretty JSONC with comments, CRLF, TOML.
  const seen = new Set<string>();
  for (let i = 0; i < CASES; i++) {
    const f = userConfig("claude", rng(SEED + i * 7919 + 6))[".claude/settings.json"] ?? "";
    if (/"allow": ?\["[^\n]*\]/.test(f)) seen.add("one-line allow");
    if (/\{"hooks": ?\[\{"type/.test(f)) seen.add("one-line hook");
    if (/\/\/ /.test(f)) seen.add("comments");
    if (f.includes("\r\n")) seen.add("crlf");
  }
  assert.deepEqual([...seen].sort(), ["comments", "crlf", "one-line allow", "one-line hook"]);
});
