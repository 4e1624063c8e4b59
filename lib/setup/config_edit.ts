/**
 * The shape of the one operation `setup` performs on a config file, whatever
 * its format: put the agent-ipc entry in (merging with what is there) or take
 * it out, as a pure text-to-text function. The formats implement it in
 * `json_config.ts` (Claude Code, Gemini CLI, Cursor, Windsurf) and
 * `toml_config.ts` (Codex).
 *
 * @module
 */

import { IpcError } from "../protocol/errors.ts";
import type { McpServerEntry } from "./server_entry.ts";

/** What an edit did; `text` is the new content (the old one for `unchanged` and `absent`). */
export interface ConfigEdit {
  /** `unchanged`: the entry is already as wanted; `absent`: there was nothing to remove. */
  outcome: "added" | "updated" | "unchanged" | "removed" | "absent";
  text: string;
}

/** One edit of one file. */
export interface ConfigEditRequest {
  /** The current content; `undefined` when the file does not exist. */
  text: string | undefined;
  /** Shown in error messages. */
  path: string;
  /** The key of the servers table: `mcpServers` or `mcp_servers`. */
  serversKey: string;
  /** The entry to put in, or `undefined` to take it out. */
  entry: McpServerEntry | undefined;
}

/**
 * The error for a config file that `setup` refuses to touch; the message names
 * the file and the problem.
 *
 * @example
 * ```ts
 * throw malformed("/home/me/.cursor/mcp.json", `"mcpServers" is an array, expected an object`);
 * ```
 */
export function malformed(path: string, problem: string): IpcError {
  return new IpcError("E_BAD_FIELD", `${path}: ${problem}; the file was left unchanged`);
}

/**
 * Turns what the text editors throw for a file they cannot edit
 * (`SyntaxError`, `TypeError`) into {@link malformed} for that file; other
 * errors pass through.
 *
 * @example
 * ```ts
 * try {
 *   text = setTomlValue(text, ["features", "codex_hooks"], true);
 * } catch (error) {
 *   throw asMalformed(path, error);
 * }
 * ```
 */
export function asMalformed(path: string, error: unknown): unknown {
  if (error instanceof SyntaxError) return malformed(path, `cannot be parsed (${error.message})`);
  if (error instanceof TypeError) return malformed(path, error.message);
  return error;
}
