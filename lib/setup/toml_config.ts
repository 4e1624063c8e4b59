/**
 * Adds or removes the agent-ipc entry in a Codex `config.toml`
 * (`[mcp_servers.agent-ipc]`) through the text edits of `toml_text.ts`: only
 * the lines that define that table (its header section, its sub-tables,
 * dotted keys that reach into it) are replaced or dropped, so the user's
 * comments, layout and other servers stay byte for byte.
 *
 * @module
 */

import { isDeepStrictEqual } from "node:util";
import { asMalformed, type ConfigEdit, type ConfigEditRequest, malformed } from "./config_edit.ts";
import { mergeEntry, SERVER_KEY } from "./server_entry.ts";
import {
  getTomlValue,
  isArrayOfTables,
  isTomlTable,
  parseToml,
  type TomlTable,
  typeName,
} from "./toml_document.ts";
import { removeTomlPath, setTomlTable } from "./toml_text.ts";

/**
 * Edits a TOML config's text: `request.entry` set puts the entry in as the
 * `[<serversKey>.agent-ipc]` table (where it was, else at the end), unset
 * takes it out.
 *
 * @example
 * ```ts
 * const edit = editTomlConfig({ text: 'model = "o3"\n', path: "config.toml",
 *   serversKey: "mcp_servers", entry: { command: "agent-ipc", args: ["mcp"] } });
 * edit.text; // 'model = "o3"\n\n[mcp_servers.agent-ipc]\ncommand = "agent-ipc"\nargs = ["mcp"]\n'
 * ```
 * @throws {IpcError} `E_BAD_FIELD` when the file is not valid TOML or has the wrong shape.
 */
export function editTomlConfig(request: ConfigEditRequest): ConfigEdit {
  const { path, serversKey, entry } = request;
  const text = request.text ?? "";
  const existing = existingEntry(text, path, serversKey);
  const at = [serversKey, SERVER_KEY];
  try {
    if (entry === undefined) {
      if (existing === undefined) return { outcome: "absent", text };
      return { outcome: "removed", text: removeTomlPath(text, at) };
    }
    const wanted = mergeEntry(existing, entry) as TomlTable;
    if (existing !== undefined && isDeepStrictEqual(existing, wanted)) {
      return { outcome: "unchanged", text };
    }
    const outcome = existing === undefined ? "added" : "updated";
    return { outcome, text: setTomlTable(text, at, wanted) };
  } catch (error) {
    throw asMalformed(path, error);
  }
}

/** Our entry as a table, after checking the file and the shape of the servers table. */
function existingEntry(text: string, path: string, serversKey: string): TomlTable | undefined {
  let value;
  try {
    value = parseToml(text).value;
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
    throw malformed(path, `is not valid TOML (${error.message})`);
  }
  const servers = value[serversKey];
  if (servers !== undefined && (!isTomlTable(servers) || isArrayOfTables(servers))) {
    throw malformed(path, `"${serversKey}" is ${typeName(servers)}, expected a table`);
  }
  const existing = getTomlValue(value, [serversKey, SERVER_KEY]);
  if (existing !== undefined && !isTomlTable(existing)) {
    throw malformed(
      path,
      `"${serversKey}.${SERVER_KEY}" is ${typeName(existing)}, expected a table`,
    );
  }
  return existing;
}
