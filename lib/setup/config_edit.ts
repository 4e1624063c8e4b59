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
  /** A removal leaves an emptied servers object that is all the file holds (TargetConfig). */
  keepsEmptyServers?: boolean;
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

/**
 * What `--remove` leaves of a file that setup created (it did not exist): an
 * empty JSON object as setup writes it (`{}` and a newline), an empty TOML
 * file or Gemini policy. Such a file is deleted, so setup then `--remove`
 * gives back "no file". Byte for byte, so a `{}` the user wrote another way
 * (no final newline, CRLF) is kept; one written exactly so holds no setting.
 */
const SETUP_SKELETONS = new Set(["", "{}\n"]);

/** True when `text` is exactly what is left of a file setup created, once its part is out. */
export function isSetupSkeleton(text: string): boolean {
  return SETUP_SKELETONS.has(text);
}
