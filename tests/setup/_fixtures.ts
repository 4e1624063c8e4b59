/**
 * Config files as the assistants write them, with other servers and settings
 * that setup must keep; the setup tests copy them into a temporary HOME and
 * read it back with {@linkcode filesUnder}.
 * (Kept as strings, not .json files, so that `deno fmt` never reformats them.)
 */

import { join } from "node:path";

/** Every file under `dir` (recursively) that `keep` keeps, with its content, by path. */
export function filesUnder(
  dir: string,
  keep: (name: string) => boolean = () => true,
): Record<string, string> {
  const files: Record<string, string> = {};
  for (const entry of Deno.readDirSync(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) Object.assign(files, filesUnder(path, keep));
    else if (keep(entry.name)) files[path] = Deno.readTextFileSync(path);
  }
  return files;
}

/** `~/.claude.json`: Claude Code writes it with 2-space indent and no final newline. */
export const CLAUDE_FIXTURE = `{
  "numStartups": 12,
  "theme": "dark",
  "userID": "abc123",
  "mcpServers": {
    "github": {
      "type": "stdio",
      "command": "npx",
      "args": [
        "-y",
        "@modelcontextprotocol/server-github"
      ],
      "env": {
        "GITHUB_TOKEN": "t"
      }
    }
  },
  "projects": {
    "/home/me/src/app": {
      "allowedTools": [],
      "hasTrustDialogAccepted": true
    }
  }
}`;

/** `~/.gemini/settings.json`. */
export const GEMINI_FIXTURE = `{
  "theme": "Default",
  "selectedAuthType": "oauth-personal",
  "mcpServers": {
    "docs": {
      "command": "uvx",
      "args": [
        "docs-mcp"
      ],
      "timeout": 30000,
      "trust": false
    }
  }
}
`;

/** `~/.cursor/mcp.json`. */
export const CURSOR_FIXTURE = `{
  "mcpServers": {
    "filesystem": {
      "command": "npx",
      "args": [
        "-y",
        "@modelcontextprotocol/server-filesystem",
        "/home/me"
      ]
    }
  }
}
`;

/** `~/.codeium/windsurf/mcp_config.json` as Windsurf creates it. */
export const WINDSURF_FIXTURE = `{
  "mcpServers": {}
}
`;

/** `~/.codex/config.toml`, hand-written, with comments. */
export const CODEX_FIXTURE = `# Codex configuration (hand-written; keep these comments)
model = "gpt-5-codex"
approval_policy = "on-request" # ask before running commands

[sandbox_workspace_write]
network_access = false

# Documentation server
[mcp_servers.docs]
command = "npx"
args = ["-y", "docs-mcp"]
env = { DOCS_TOKEN = "t" }
startup_timeout_sec = 20

# Profiles
[profiles.fast]
model = "gpt-5-mini"
`;

/** Each assistant's user config file, relative to HOME, with the fixture it starts from. */
export const FIXTURE_FILES = {
  claude: [".claude.json", CLAUDE_FIXTURE],
  gemini: [".gemini/settings.json", GEMINI_FIXTURE],
  codex: [".codex/config.toml", CODEX_FIXTURE],
  cursor: [".cursor/mcp.json", CURSOR_FIXTURE],
  windsurf: [".codeium/windsurf/mcp_config.json", WINDSURF_FIXTURE],
} as const;
