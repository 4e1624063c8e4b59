/**
 * TOML config files edited as text, so that the user's comments, layout and
 * everything `setup` does not own stay byte for byte. The document
 * (`toml_document.ts`) says where each table and key is defined; an edit
 * replaces or drops only those lines (or one value's characters), and the
 * result is parsed again and checked before it is returned.
 *
 * @module
 */

import { isDeepStrictEqual } from "node:util";
import {
  getTomlValue,
  isInlineTable,
  isTomlTable,
  parseToml,
  TomlDateTime,
  type TomlDocument,
  type TomlPath,
  type TomlSpan,
  type TomlTable,
  type TomlValue,
  typeName,
} from "./toml_document.ts";

/**
 * Puts `table` at `path` as a `[path]` section, in place of every line that
 * defines something at or under `path` (its header section, its sub-tables,
 * dotted keys reaching into it), where its header was, else at the end. With
 * `table` undefined it only takes those lines out ({@link removeTomlPath}).
 * The caller merges: pass the whole table as it should be.
 *
 * @example
 * ```ts
 * setTomlTable('model = "o3" # mine\n', ["projects", "/src/app"], { trust_level: "trusted" });
 * // 'model = "o3" # mine\n\n[projects."/src/app"]\ntrust_level = "trusted"\n'
 * ```
 * @throws {SyntaxError} when `text` is not valid TOML.
 * @throws {TypeError} when something on the path is not a table, or is an inline table.
 */
export function setTomlTable(text: string, path: string[], table: TomlTable | undefined): string {
  const doc = parseToml(text);
  refuseUnreachable(doc.value, path, table === undefined ? "any" : "table");
  const eol = text.includes("\r\n") ? "\r\n" : "\n";
  const section = table && formatSection(path, table, eol);
  let result = rebuild(text, doc.spans, path, section);
  if (table === undefined) result = tidyEnd(result);
  // A file without a final line ending keeps it so: an appended section ends without one
  // (see rebuild), and taking it out again leaves none.
  if (text !== "" && !text.endsWith("\n") && result.endsWith("\n")) {
    result = result.replace(/\r?\n$/, "");
  }
  if (!isDeepStrictEqual(valueAfterEdit(result, path), table)) {
    throw new TypeError(`Could not place [${path.map(formatKey).join(".")}] in this file`);
  }
  return result;
}

/**
 * Takes out every line that defines something at or under `path` (a table,
 * its sub-tables, or one key); the rest of the text is kept.
 *
 * @example
 * ```ts
 * removeTomlPath('a = 1\n[mcp_servers.x]\ncommand = "x"\n', ["mcp_servers", "x"]); // "a = 1\n"
 * ```
 * @throws {SyntaxError} when `text` is not valid TOML.
 * @throws {TypeError} when the thing at `path` sits inside an inline table.
 */
export function removeTomlPath(text: string, path: string[]): string {
  if (getTomlValue(parseToml(text).value, path) === undefined) return text;
  return setTomlTable(text, path, undefined);
}

/**
 * Sets one key to `value`, changing as little text as possible: an existing
 * `key = …` gets its value's characters replaced (a comment after it stays);
 * a new key goes after the last key of its table's `[section]`, or into a new
 * section at the end. `path` is the table's keys then the key; a top-level key
 * has a path of one.
 *
 * @example
 * ```ts
 * setTomlValue("[features]\n# experimental\nweb = false\n", ["features", "codex_hooks"], true);
 * // "[features]\n# experimental\nweb = false\ncodex_hooks = true\n"
 * ```
 * @throws {SyntaxError} when `text` is not valid TOML.
 * @throws {TypeError} when the table is defined in a way a line cannot be added to
 *   (inline, by dotted keys, an array of tables) or something on the path is not a table.
 */
export function setTomlValue(text: string, path: string[], value: TomlValue): string {
  const doc = parseToml(text);
  const current = getTomlValue(doc.value, path);
  if (current !== undefined && isDeepStrictEqual(current, value)) return text;
  const tablePath = path.slice(0, -1);
  refuseUnreachable(doc.value, tablePath, "section");
  const eol = text.includes("\r\n") ? "\r\n" : "\n";
  const line = `${formatKey(path[path.length - 1])} = ${formatValue(value)}`;
  const own = doc.spans.find((s) => s.kind === "keyValue" && isDeepStrictEqual(s.path, path));
  let result: string;
  if (own?.valueRange !== undefined) {
    const [start, end] = own.valueRange;
    result = text.slice(0, start) + formatValue(value) + text.slice(end);
  } else if (current !== undefined) {
    throw new TypeError(`"${path.join(".")}" is defined in a way setup cannot edit in place`);
  } else {
    result = insertKey(text, doc, tablePath, line, eol);
  }
  if (!isDeepStrictEqual(valueAfterEdit(result, path), value)) {
    throw new TypeError(`Could not set "${path.join(".")}" in this file`);
  }
  return result;
}

/** Inserts `line` at the end of the table's header section (or the top level), or appends one. */
function insertKey(
  text: string,
  doc: TomlDocument,
  tablePath: string[],
  line: string,
  eol: string,
): string {
  const lines = text === "" ? [] : text.split(/(?<=\n)/);
  const headers = doc.spans.filter((s) => s.kind !== "keyValue");
  let after: number | undefined; // the line to insert after
  if (tablePath.length === 0) {
    const rootKeys = doc.spans.filter((s) =>
      s.kind === "keyValue" && s.line < (headers[0]?.line ?? Infinity)
    );
    if (headers.length === 0) after = lines.length - 1;
    else after = rootKeys.length > 0 ? rootKeys[rootKeys.length - 1].endLine : -1;
  } else {
    const index = headers.findIndex((s) =>
      s.kind === "table" && isDeepStrictEqual(s.path, tablePath)
    );
    if (index !== -1) {
      const header = headers[index];
      const next = headers[index + 1]?.line ?? lines.length;
      const keys = doc.spans.filter((s) =>
        s.kind === "keyValue" && s.line > header.line && s.line < next
      );
      after = keys.length > 0 ? keys[keys.length - 1].endLine : header.endLine;
    }
  }
  if (after === undefined) {
    return rebuild(
      text,
      [],
      tablePath,
      `[${tablePath.map(formatKey).join(".")}]${eol}${line}${eol}`,
    );
  }
  const before = lines.slice(0, after + 1);
  const last = before[before.length - 1];
  if (last !== undefined && !last.endsWith("\n")) before[before.length - 1] = last + eol;
  return [...before, line + eol, ...lines.slice(after + 1)].join("");
}

/**
 * Refuses a path through a non-table, an array of tables or an inline table
 * (TOML forbids extending an inline table, and it cannot be edited line by
 * line). What the last key may be: `any` (it is being removed), `table` (it is
 * replaced as a whole, an inline one too), `section` (a line goes into it).
 */
function refuseUnreachable(
  root: TomlTable,
  path: string[],
  last: "any" | "table" | "section",
): void {
  let here: TomlValue = root;
  for (const [i, key] of path.entries()) {
    const next: TomlValue | undefined = (here as TomlTable)[key];
    const name = path.slice(0, i + 1).join(".");
    if (next === undefined) return;
    const isLast = i === path.length - 1;
    if (!isTomlTable(next) && !(isLast && last === "any")) {
      throw new TypeError(`"${name}" is ${typeName(next)}, expected a table`);
    }
    if (isInlineTable(next) && !(isLast && last !== "section")) {
      throw new TypeError(
        `"${name}" is an inline table; rewrite it as [${name}.NAME] tables so setup can edit it`,
      );
    }
    here = next;
  }
}

/** Parses an edit's result and returns the value at `path`; an invalid result is the edit's fault. */
function valueAfterEdit(result: string, path: string[]): TomlValue | undefined {
  try {
    return getTomlValue(parseToml(result).value, path);
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
    throw new TypeError(`Could not edit "${path.join(".")}" in this file (${error.message})`);
  }
}

function startsWith(path: TomlPath, prefix: TomlPath): boolean {
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
  prefix: TomlPath,
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
    if (last !== undefined && !last.endsWith("\n")) {
      // No final line ending: nor after our section, so that removing it gives the bytes back.
      out.push(eol, eol, section.replace(/\r?\n$/, ""));
      return out.join("");
    }
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
