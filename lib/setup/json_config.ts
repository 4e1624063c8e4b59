/**
 * Adds or removes the agent-ipc entry in a JSON config (Claude Code's
 * `~/.claude.json` and `.mcp.json`, Gemini CLI's `settings.json`, Cursor's
 * `mcp.json`, Windsurf's `mcp_config.json`), keeping every other key and
 * server. Comments are allowed: the edits of `jsonc_text.ts` change only the
 * entry's own keys, so the rest of the file stays byte for byte.
 *
 * @module
 */

import { isDeepStrictEqual } from "node:util";
import { asMalformed, type ConfigEdit, type ConfigEditRequest, malformed } from "./config_edit.ts";
import { describeJson, parseJsoncObject, setJsoncValue } from "./jsonc_text.ts";
import { mergeEntry, SERVER_KEY } from "./server_entry.ts";

type JsonObject = Record<string, unknown>;

/**
 * Edits a JSON config's text: `request.entry` set puts the entry in under
 * `request.serversKey`, unset takes it out.
 *
 * @example
 * ```ts
 * const edit = editJsonConfig({ text: '{"theme":"dark"}', path: "settings.json",
 *   serversKey: "mcpServers", entry: { command: "agent-ipc", args: ["mcp"] } });
 * edit.text; // '{"theme":"dark","mcpServers": {\n  "agent-ipc": {...'
 * ```
 * @throws {IpcError} `E_BAD_FIELD` when the file is not JSON (with comments) or has the wrong shape.
 */
export function editJsonConfig(request: ConfigEditRequest): ConfigEdit {
  const { path, serversKey, entry } = request;
  const text = request.text ?? "";
  const root = parseRoot(text, path);
  const servers = root[serversKey];
  if (servers !== undefined && !isObject(servers)) {
    throw malformed(path, `"${serversKey}" is ${describeJson(servers)}, expected an object`);
  }
  const existing = servers?.[SERVER_KEY];
  if (existing !== undefined && !isObject(existing)) {
    throw malformed(
      path,
      `"${serversKey}"."${SERVER_KEY}" is ${describeJson(existing)}, expected an object`,
    );
  }
  const at = [serversKey, SERVER_KEY];
  try {
    if (entry === undefined) {
      if (existing === undefined) return { outcome: "absent", text };
      let out = setJsoncValue(text, at, undefined);
      // A servers object left empty goes too, as setup found the file without one; but not
      // when it is all the file holds: Windsurf and Cursor write `{"mcpServers": {}}` themselves
      // (that one-line form comes back as it was). Unless it is left exactly as setup writes it
      // into an empty file (`{}`, or no file at all): then setup made it, and it goes; but
      // not for Windsurf, which creates its file with those very bytes itself.
      const added = !request.keepsEmptyServers && isAddedServers(out, serversKey);
      if (Object.keys(servers!).length === 1 && (Object.keys(root).length > 1 || added)) {
        out = setJsoncValue(out, [serversKey], undefined);
      }
      return { outcome: "removed", text: out };
    }
    const wanted = mergeEntry(existing, entry);
    if (existing !== undefined && isDeepStrictEqual(existing, wanted)) {
      return { outcome: "unchanged", text };
    }
    const outcome = existing === undefined ? "added" : "updated";
    return { outcome, text: setJsoncValue(text, at, wanted) };
  } catch (error) {
    throw asMalformed(path, error);
  }
}

/**
 * True when the root object is left as setup writes it into a file it found
 * empty (`{}`, comments before it, or no file): `{\n  "KEY": {}\n}`.
 */
function isAddedServers(text: string, serversKey: string): boolean {
  const body = text.replaceAll("\r\n", "\n").replace(/\n$/, "");
  return body.endsWith(`\n{\n  ${JSON.stringify(serversKey)}: {}\n}`) ||
    body.replace(/^\uFEFF/, "") === `{\n  ${JSON.stringify(serversKey)}: {}\n}`;
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function parseRoot(text: string, path: string): JsonObject {
  try {
    return parseJsoncObject(text);
  } catch (error) {
    if (error instanceof SyntaxError) throw malformed(path, `is not valid JSON (${error.message})`);
    if (error instanceof TypeError) {
      throw malformed(path, error.message.replace(/^The top/, "the top"));
    }
    throw error;
  }
}
