/**
 * Where each assistant keeps its MCP server config, per OS: Claude Code,
 * Gemini CLI, Codex, Cursor and Windsurf, at user level (the home directory)
 * and, where the assistant has one, at project level (`--project DIR`).
 *
 * All five keep their user config under the home directory on every OS:
 * `$HOME` on Linux, macOS and WSL, `%USERPROFILE%` on Windows; none of them
 * uses `%APPDATA%` for MCP servers (Claude Desktop does, but it is not a
 * target). WSL uses the Linux home: assistants running on the Windows side
 * read the Windows paths instead (see {@linkcode WSL_NOTE}).
 *
 * @module
 */

import { posix, win32 } from "node:path";

/** The assistants `setup` knows. */
export const TARGET_IDS = ["claude", "gemini", "codex", "cursor", "windsurf"] as const;

/** One assistant. */
export type TargetId = typeof TARGET_IDS[number];

/** True when `value` names an assistant. */
export function isTargetId(value: string): value is TargetId {
  return (TARGET_IDS as readonly string[]).includes(value);
}

/** What `setup` needs to find an assistant's config. */
export interface TargetContext {
  os: typeof Deno.build.os;
  isWsl: boolean;
  /** The home directory; on Windows `%USERPROFILE%` wins when set. */
  home: string;
  env: Readonly<Record<string, string | undefined>>;
  /** An absolute project directory, for project-level configs. */
  project?: string;
}

/** An assistant's config file and how agent-ipc sits in it. */
export interface TargetConfig {
  id: TargetId;
  /** Product name, for messages. */
  label: string;
  format: "json" | "toml";
  /** The config file. */
  path: string;
  /** The key of the servers table in that file. */
  serversKey: "mcpServers" | "mcp_servers";
  /** Whether the entry records `"type": "stdio"` (Claude Code does). */
  withType: boolean;
  /** Files or directories whose presence shows the assistant is installed (`setup all`). */
  markers: string[];
  /** A caveat to print with the result, if any. */
  note?: string;
  /**
   * The assistant creates its config file itself with an empty servers
   * object (Windsurf: `{"mcpServers": {}}`): `--remove` leaves that object
   * even where setup added it, and the file, as the assistant would have them.
   */
  keepsEmptyServers?: boolean;
}

/** Product names. */
export const TARGET_LABELS: Readonly<Record<TargetId, string>> = {
  claude: "Claude Code",
  gemini: "Gemini CLI",
  codex: "Codex",
  cursor: "Cursor",
  windsurf: "Windsurf",
};

/** Shown in help on WSL, and with Cursor and Windsurf results there. */
export const WSL_NOTE = [
  "On WSL, setup edits the Linux-side files. Assistants that run on the Windows",
  "side (Cursor, Windsurf, or a Windows install of Claude Code, Gemini CLI or",
  "Codex) read C:\\Users\\<you>\\... instead: run `agent-ipc setup` on Windows for",
  'them, or add an entry by hand whose command is "wsl.exe" and whose args are',
  '"-e" followed by the words of the "MCP server command" that setup prints.',
].join("\n");

/**
 * Resolves an assistant's config file. Returns a string (the reason) when the
 * assistant has no config of the asked kind (Windsurf has no project config).
 *
 * @example
 * ```ts
 * resolveTarget("codex", { os: "linux", isWsl: false, home: "/home/me", env: {} });
 * // { id: "codex", path: "/home/me/.codex/config.toml", format: "toml", ... }
 * ```
 */
export function resolveTarget(id: TargetId, ctx: TargetContext): TargetConfig | string {
  const windows = ctx.os === "windows";
  const path = windows ? win32 : posix;
  const home = windows ? (ctx.env.USERPROFILE || ctx.home) : ctx.home;
  const at = (...parts: string[]) => path.join(home, ...parts);
  const project = ctx.project;
  const label = TARGET_LABELS[id];
  const json = { id, label, format: "json", serversKey: "mcpServers", withType: false } as const;
  switch (id) {
    case "claude": {
      // CLAUDE_CONFIG_DIR moves the whole user config, .claude.json included.
      const dir = ctx.env.CLAUDE_CONFIG_DIR;
      return {
        ...json,
        withType: true,
        path: project !== undefined
          ? path.join(project, ".mcp.json")
          : dir
          ? path.join(dir, ".claude.json")
          : at(".claude.json"),
        markers: dir ? [dir] : [at(".claude.json"), at(".claude")],
      };
    }
    case "gemini":
      return {
        ...json,
        path: project !== undefined
          ? path.join(project, ".gemini", "settings.json")
          : at(".gemini", "settings.json"),
        markers: [at(".gemini")],
      };
    case "codex": {
      const codexHome = ctx.env.CODEX_HOME || at(".codex");
      return {
        id,
        label,
        format: "toml",
        serversKey: "mcp_servers",
        withType: false,
        path: project !== undefined
          ? path.join(project, ".codex", "config.toml")
          : path.join(codexHome, "config.toml"),
        markers: [codexHome],
        note: project !== undefined
          ? "Codex reads a project's .codex/config.toml only when it trusts the project"
          : undefined,
      };
    }
    case "cursor":
      return {
        ...json,
        path: project !== undefined
          ? path.join(project, ".cursor", "mcp.json")
          : at(".cursor", "mcp.json"),
        markers: [at(".cursor")],
        note: ctx.isWsl
          ? "if Cursor runs on Windows, see `agent-ipc setup --help` (WSL)"
          : undefined,
      };
    case "windsurf":
      if (project !== undefined) {
        return "Windsurf has no project-level MCP config; run without --project";
      }
      return {
        ...json,
        path: at(".codeium", "windsurf", "mcp_config.json"),
        markers: [at(".codeium", "windsurf")],
        keepsEmptyServers: true,
        note: ctx.isWsl
          ? "if Windsurf runs on Windows, see `agent-ipc setup --help` (WSL)"
          : undefined,
      };
  }
}
