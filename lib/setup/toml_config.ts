/**
 * Adds or removes the agent-ipc entry in a Codex `config.toml`
 * (`[mcp_servers.agent-ipc]`) by editing the text: only the lines that define
 * that table (its header section, its sub-tables, dotted keys that reach into
 * it) are replaced or dropped, so the user's comments, layout and other
 * servers stay byte for byte. The whole file is parsed first, so malformed
 * TOML is refused, and the result is parsed again before it is returned.
 *
 * @module
 */

import { isDeepStrictEqual } from "node:util";
import { type ConfigEdit, type ConfigEditRequest, describeType, malformed } from "./config_edit.ts";
import { mergeEntry, SERVER_KEY } from "./server_entry.ts";
import {
  isArrayOfTables,
  isInlineTable,
  isTomlTable,
  parseToml,
  TomlDateTime,
  type TomlSpan,
  type TomlTable,
  type TomlValue,
} from "./toml_parse.ts";

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
  const { servers, existing, spans } = inspect(text, path, serversKey);
  const prefix = [serversKey, SERVER_KEY];

  if (entry === undefined) {
    if (existing === undefined) return { outcome: "absent", text };
    refuseInline(servers, path, serversKey);
    const result = tidyEnd(rebuild(text, spans, prefix, undefined));
    verify(result, path, serversKey, undefined);
    return { outcome: "removed", text: result };
  }

  const wanted = mergeEntry(existing, entry) as TomlTable;
  if (existing !== undefined && isDeepStrictEqual(existing, wanted)) {
    return { outcome: "unchanged", text };
  }
  refuseInline(servers, path, serversKey);
  const section = formatSection(prefix, wanted, text.includes("\r\n") ? "\r\n" : "\n");
  const result = rebuild(text, spans, prefix, section);
  verify(result, path, serversKey, wanted);
  return { outcome: existing === undefined ? "added" : "updated", text: result };
}

interface Inspection {
  servers: TomlTable | undefined;
  existing: TomlTable | undefined;
  spans: TomlSpan[];
}

function inspect(text: string, path: string, serversKey: string): Inspection {
  let doc;
  try {
    doc = parseToml(text);
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
    throw malformed(path, `is not valid TOML (${error.message})`);
  }
  const servers = doc.value[serversKey];
  if (servers !== undefined && (!isTomlTable(servers) || isArrayOfTables(servers))) {
    throw malformed(path, `"${serversKey}" is ${typeName(servers)}, expected a table`);
  }
  const existing = servers?.[SERVER_KEY];
  if (existing !== undefined && !isTomlTable(existing)) {
    throw malformed(
      path,
      `"${serversKey}.${SERVER_KEY}" is ${typeName(existing)}, expected a table`,
    );
  }
  return { servers, existing, spans: doc.spans };
}

function typeName(value: TomlValue): string {
  if (value instanceof TomlDateTime) return "a date-time";
  if (isArrayOfTables(value)) return "an array of tables";
  return describeType(value, "a table");
}

/** An inline `mcp_servers = { ... }` cannot be edited line by line, nor extended by a header. */
function refuseInline(servers: TomlTable | undefined, path: string, serversKey: string): void {
  if (isInlineTable(servers)) {
    throw malformed(
      path,
      `"${serversKey}" is an inline table; rewrite it as [${serversKey}.NAME] tables so setup can edit it`,
    );
  }
}

function startsWith(path: string[], prefix: string[]): boolean {
  return prefix.every((key, i) => path[i] === key);
}

/**
 * Drops every line that defines the table at `prefix` (header sections from the
 * header to the next header, less the comments attached to that next header;
 * key/value lines whose path runs into it) and puts `section`, if given, where
 * the table's header was, or at the end.
 */
function rebuild(
  text: string,
  spans: TomlSpan[],
  prefix: string[],
  section: string | undefined,
): string {
  const lines = text === "" ? [] : text.split(/(?<=\n)/);
  const drop = new Array<boolean>(lines.length).fill(false);
  const headers = spans.filter((s) => s.kind !== "keyValue");
  let insertAt: number | undefined;
  for (const [i, span] of headers.entries()) {
    if (!startsWith(span.path, prefix)) continue;
    if (span.kind === "table" && span.path.length === prefix.length) insertAt ??= span.line;
    const next = headers[i + 1];
    let end = (next?.line ?? lines.length) - 1;
    // Comments right above the next header are about it, unless it is ours too.
    if (next !== undefined && !startsWith(next.path, prefix)) {
      while (end > span.line && /^\s*#/.test(lines[end])) end--;
    }
    for (let l = span.line; l <= end; l++) drop[l] = true;
  }
  for (const span of spans) {
    if (span.kind === "keyValue" && startsWith(span.path, prefix)) {
      for (let l = span.line; l <= span.endLine; l++) drop[l] = true;
    }
  }
  const eol = text.includes("\r\n") ? "\r\n" : "\n";
  const out: string[] = [];
  const isBlank = (s: string | undefined) => s !== undefined && s.trim() === "";
  const isComment = (s: string | undefined) => s !== undefined && /^\s*#/.test(s);
  for (let l = 0; l < lines.length; l++) {
    if (l === insertAt && section !== undefined) {
      const previous = out[out.length - 1];
      if (previous !== undefined && !isBlank(previous) && !isComment(previous)) out.push(eol);
      out.push(section);
      const following = lines.slice(l).find((_line, k) => !drop[l + k]);
      if (following !== undefined && !isBlank(following)) out.push(eol);
    }
    if (!drop[l]) out.push(lines[l]);
  }
  if (insertAt === undefined && section !== undefined) {
    const last = out[out.length - 1];
    if (last !== undefined && !last.endsWith("\n")) out.push(eol);
    if (last !== undefined && !isBlank(last)) out.push(eol);
    out.push(section);
  }
  return out.join("");
}

/** After a removal: no trailing blank lines, and an emptied file is empty. */
function tidyEnd(text: string): string {
  if (text.trim() === "") return "";
  return text.replace(/(\r?\n)(?:[ \t]*\r?\n)+$/, "$1");
}

/** Parses the result again: the edit must give valid TOML holding exactly `wanted`. */
function verify(
  text: string,
  path: string,
  serversKey: string,
  wanted: TomlTable | undefined,
): void {
  const { existing } = inspect(text, path, serversKey);
  if (!isDeepStrictEqual(existing, wanted)) {
    throw malformed(path, `setup could not place [${serversKey}.${SERVER_KEY}] in this file`);
  }
}

/** Formats `[a.b]` and its keys; nested tables become inline tables. */
export function formatSection(path: string[], table: TomlTable, eol = "\n"): string {
  let out = `[${path.map(formatKey).join(".")}]${eol}`;
  for (const [key, value] of Object.entries(table)) {
    out += `${formatKey(key)} = ${formatValue(value)}${eol}`;
  }
  return out;
}

/** A bare key when it can be one, else a quoted key. */
export function formatKey(key: string): string {
  return /^[A-Za-z0-9_-]+$/.test(key) ? key : formatString(key);
}

/** A TOML basic string. */
export function formatString(s: string): string {
  let out = '"';
  for (const c of s) {
    const code = c.codePointAt(0)!;
    if (c === '"') out += '\\"';
    else if (c === "\\") out += "\\\\";
    else if (c === "\n") out += "\\n";
    else if (c === "\t") out += "\\t";
    else if (c === "\r") out += "\\r";
    else if (code < 0x20 || code === 0x7f) out += `\\u${code.toString(16).padStart(4, "0")}`;
    else out += c;
  }
  return out + '"';
}

/** Formats any TOML value on one line. */
export function formatValue(value: TomlValue): string {
  if (typeof value === "string") return formatString(value);
  if (typeof value === "bigint" || typeof value === "boolean") return String(value);
  if (typeof value === "number") return formatFloat(value);
  if (value instanceof TomlDateTime) return value.text;
  if (Array.isArray(value)) return `[${value.map(formatValue).join(", ")}]`;
  const pairs = Object.entries(value).map(([k, v]) => `${formatKey(k)} = ${formatValue(v)}`);
  return pairs.length === 0 ? "{}" : `{ ${pairs.join(", ")} }`;
}

function formatFloat(n: number): string {
  if (Number.isNaN(n)) return "nan";
  if (!Number.isFinite(n)) return n > 0 ? "inf" : "-inf";
  const s = String(n);
  return /[.e]/.test(s) ? s : `${s}.0`;
}
