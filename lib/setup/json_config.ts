/**
 * Adds or removes the agent-ipc entry in a JSON config (Claude Code's
 * `~/.claude.json` and `.mcp.json`, Gemini CLI's `settings.json`, Cursor's
 * `mcp.json`, Windsurf's `mcp_config.json`), keeping every other key and
 * server. The file is rewritten in its own indentation, line endings and
 * final-newline style; a file that would lose something when rewritten
 * (comments, integers beyond 2^53) is refused rather than damaged.
 *
 * @module
 */

import { isDeepStrictEqual } from "node:util";
import { type ConfigEdit, type ConfigEditRequest, describeType, malformed } from "./config_edit.ts";
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
 * edit.text; // '{\n  "theme": "dark",\n  "mcpServers": {\n    "agent-ipc": {...'
 * ```
 * @throws {IpcError} `E_BAD_FIELD` when the file is not JSON or has the wrong shape.
 */
export function editJsonConfig(request: ConfigEditRequest): ConfigEdit {
  const { path, serversKey, entry } = request;
  const text = request.text ?? "";
  const root = parseJsonObject(text, path);
  const servers = root[serversKey];
  if (servers !== undefined && !isObject(servers)) {
    throw malformed(path, `"${serversKey}" is ${describeType(servers)}, expected an object`);
  }
  const existing = servers?.[SERVER_KEY];
  if (existing !== undefined && !isObject(existing)) {
    throw malformed(
      path,
      `"${serversKey}"."${SERVER_KEY}" is ${describeType(existing)}, expected an object`,
    );
  }
  if (entry === undefined) {
    if (existing === undefined) return { outcome: "absent", text };
    delete servers![SERVER_KEY];
    return { outcome: "removed", text: formatLike(root, text) };
  }
  const wanted = mergeEntry(existing, entry);
  if (existing !== undefined && isDeepStrictEqual(existing, wanted)) {
    return { outcome: "unchanged", text };
  }
  if (servers === undefined) root[serversKey] = { [SERVER_KEY]: wanted };
  else servers[SERVER_KEY] = wanted;
  return { outcome: existing === undefined ? "added" : "updated", text: formatLike(root, text) };
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Parses the whole file; an empty (or blank) file counts as `{}`. */
function parseJsonObject(text: string, path: string): JsonObject {
  if (text.trim() === "") return {};
  let value: unknown;
  try {
    value = JSON.parse(text.replace(/^\uFEFF/, ""), checkExactNumbers);
  } catch (error) {
    if (error instanceof LossyNumberError) throw malformed(path, error.message);
    const message = (error as Error).message;
    if (hasComments(text)) {
      throw malformed(
        path,
        `has comments, which setup cannot keep (${message}); add the entry by hand (see README, "Connecting your assistants")`,
      );
    }
    throw malformed(path, `is not valid JSON (${message})`);
  }
  if (!isObject(value)) {
    throw malformed(path, `the top level is ${describeType(value)}, expected an object`);
  }
  return value;
}

class LossyNumberError extends Error {}

/** Refuses integers that JSON.parse would round, since rewriting would change them. */
function checkExactNumbers(
  this: unknown,
  _key: string,
  value: unknown,
  context?: { source?: string },
): unknown {
  const source = context?.source;
  if (
    typeof value === "number" && source !== undefined && /^-?\d+$/.test(source) &&
    !Number.isSafeInteger(value)
  ) {
    throw new LossyNumberError(`the integer ${source} is too large to rewrite exactly`);
  }
  return value;
}

/** True when the text parses once `//` and `/* *\/` comments outside strings are dropped. */
function hasComments(text: string): boolean {
  let out = "";
  let found = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      const end = stringEnd(text, i);
      out += text.slice(i, end);
      i = end - 1;
    } else if (c === "/" && text[i + 1] === "/") {
      found = true;
      while (i < text.length && text[i] !== "\n") i++;
      out += "\n";
    } else if (c === "/" && text[i + 1] === "*") {
      found = true;
      const end = text.indexOf("*/", i + 2);
      i = end === -1 ? text.length : end + 1;
      out += " ";
    } else {
      out += c;
    }
  }
  if (!found) return false;
  try {
    JSON.parse(out.replace(/,(\s*[}\]])/g, "$1"));
    return true;
  } catch {
    return false;
  }
}

function stringEnd(text: string, start: number): number {
  let i = start + 1;
  while (i < text.length && text[i] !== '"' && text[i] !== "\n") i += text[i] === "\\" ? 2 : 1;
  return Math.min(i + 1, text.length);
}

/** Serializes in the style of the original text: indent, line endings, final newline, BOM. */
function formatLike(value: JsonObject, original: string): string {
  const indent = /^([ \t]+)"/m.exec(original)?.[1] ?? "  ";
  const eol = original.includes("\r\n") ? "\r\n" : "\n";
  const finalNewline = original.trim() === "" || /\n$/.test(original);
  const bom = original.startsWith("\uFEFF") ? "\uFEFF" : "";
  let text = bom + JSON.stringify(value, null, indent);
  if (eol !== "\n") text = text.replaceAll("\n", eol);
  return finalNewline ? text + eol : text;
}
