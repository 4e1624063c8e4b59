/**
 * TOML config files edited as text, so that the user's comments, layout and
 * everything `setup` does not own stay byte for byte. `toml-eslint-parser`
 * validates the whole file and says where each table and key is defined;
 * an edit replaces or drops only those lines (or one value's characters), and
 * the result is parsed again and checked before it is returned.
 *
 * Integers read as `bigint` and floats as `number`, so a value keeps its type
 * when written back (`60` stays `60`, `20.0` stays `20.0`).
 *
 * @module
 */

import { isDeepStrictEqual } from "node:util";
import { parseTOML, type TomlAst, TomlParseError } from "../deps.ts";

/** A date-time, local date or local time, kept as its source text. */
export class TomlDateTime {
  /** The value as written, e.g. `1979-05-27T07:32:00Z`. */
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
}

/** Any TOML value: integers are `bigint`, floats `number`. */
export type TomlValue =
  | string
  | bigint
  | number
  | boolean
  | TomlDateTime
  | TomlValue[]
  | TomlTable;

/** A TOML table. */
export interface TomlTable {
  [key: string]: TomlValue;
}

/** A key path: table names and keys; array-of-tables entries by index. */
export type TomlPath = (string | number)[];

/**
 * Where a table header or a key/value pair sits in the source; lines are
 * 0-based, `endLine` is the last line of a (possibly multi-line) value.
 */
export interface TomlSpan {
  /** `table` for `[a.b]`, `arrayTable` for `[[a.b]]`, `keyValue` for `k = v`. */
  kind: "table" | "arrayTable" | "keyValue";
  /** Full key path: the header's keys, or the enclosing header's keys plus the key. */
  path: TomlPath;
  line: number;
  endLine: number;
  /** For `keyValue`: the value's characters, `[start, end)` in the text. */
  valueRange?: [number, number];
}

/** A parsed document: its value and the spans of its definitions, in source order. */
export interface TomlDocument {
  value: TomlTable;
  spans: TomlSpan[];
}

const inlineTables = new WeakSet<object>();
const arraysOfTables = new WeakSet<object>();

/** True when `value` is a TOML table (not an array, not a date-time). */
export function isTomlTable(value: unknown): value is TomlTable {
  return typeof value === "object" && value !== null && !Array.isArray(value) &&
    !(value instanceof TomlDateTime);
}

/** True when `value` was written as an inline table (`{ ... }`), which TOML forbids extending. */
export function isInlineTable(value: unknown): boolean {
  return isTomlTable(value) && inlineTables.has(value);
}

/** True when `value` is an array of tables (`[[name]]`). */
export function isArrayOfTables(value: unknown): boolean {
  return Array.isArray(value) && arraysOfTables.has(value);
}

/**
 * Parses a whole TOML document (TOML 1.1: newlines and trailing commas in
 * inline tables are accepted), with the spans of its definitions.
 *
 * @example
 * ```ts
 * const doc = parseToml('model = "o3"\n[mcp_servers.docs]\ncommand = "npx"\n');
 * doc.value.model; // "o3"
 * doc.spans[1]; // { kind: "table", path: ["mcp_servers", "docs"], line: 1, endLine: 2 }
 * ```
 * @throws {SyntaxError} `Line 1, column 9: Unspecified values are invalid`.
 */
export function parseToml(text: string): TomlDocument {
  let program: TomlAst.TOMLProgram;
  try {
    program = parseTOML(text, { tomlVersion: "1.1" });
  } catch (error) {
    if (!(error instanceof TomlParseError)) throw error;
    throw new SyntaxError(`Line ${error.lineNumber}, column ${error.column + 1}: ${error.message}`);
  }
  const value: TomlTable = {};
  const spans: TomlSpan[] = [];
  const top = program.body[0];
  for (const node of top.body) {
    if (node.type === "TOMLKeyValue") {
      spans.push(keyValueSpan(node, []));
      assign(value, keyPath(node.key), convert(node.value, text));
      continue;
    }
    const array = node.kind === "array";
    spans.push({
      kind: array ? "arrayTable" : "table",
      path: node.resolvedKey,
      line: node.loc.start.line - 1,
      endLine: node.key.loc.end.line - 1,
    });
    const table = tableAt(value, node.resolvedKey);
    for (const pair of node.body) {
      spans.push(keyValueSpan(pair, node.resolvedKey));
      assign(table, keyPath(pair.key), convert(pair.value, text));
    }
  }
  return { value, spans };
}

function keyValueSpan(node: TomlAst.TOMLKeyValue, table: TomlPath): TomlSpan {
  return {
    kind: "keyValue",
    path: [...table, ...keyPath(node.key)],
    line: node.loc.start.line - 1,
    endLine: node.loc.end.line - 1,
    valueRange: [node.value.range[0], node.value.range[1]],
  };
}

function keyPath(key: TomlAst.TOMLKey): string[] {
  return key.keys.map((k) => k.type === "TOMLBare" ? k.name : k.value);
}

/** The table a header names, creating what the path passes through (the parser checked it). */
function tableAt(root: TomlTable, path: TomlPath): TomlTable {
  let here: TomlTable | TomlValue[] = root;
  for (const [i, key] of path.entries()) {
    const next = path[i + 1];
    const container = here as Record<string | number, TomlValue>;
    if (container[key] === undefined) {
      if (typeof next === "number") {
        const array: TomlValue[] = [];
        arraysOfTables.add(array);
        container[key] = array;
      } else {
        container[key] = {};
      }
    }
    here = container[key] as TomlTable | TomlValue[];
  }
  return here as TomlTable;
}

/** Sets a dotted key in a table, creating the tables it passes through. */
function assign(table: TomlTable, keys: string[], value: TomlValue): void {
  let here = table;
  for (const key of keys.slice(0, -1)) here = (here[key] ??= {}) as TomlTable;
  here[keys[keys.length - 1]] = value;
}

function convert(node: TomlAst.TOMLContentNode, text: string): TomlValue {
  switch (node.type) {
    case "TOMLArray":
      return node.elements.map((element) => convert(element, text));
    case "TOMLInlineTable": {
      const table: TomlTable = {};
      inlineTables.add(table);
      for (const pair of node.body) assign(table, keyPath(pair.key), convert(pair.value, text));
      return table;
    }
    default:
      switch (node.kind) {
        case "integer":
          return node.bigint;
        case "float":
        case "string":
        case "boolean":
          return node.value;
        default:
          return new TomlDateTime(text.slice(node.range[0], node.range[1]));
      }
  }
}

/**
 * The value at `path` in a parsed document's value, or `undefined`.
 *
 * @example
 * ```ts
 * getTomlValue(parseToml("[features]\nhooks = true\n").value, ["features", "hooks"]); // true
 * ```
 */
export function getTomlValue(root: TomlTable, path: TomlPath): TomlValue | undefined {
  let here: TomlValue | undefined = root;
  for (const key of path) {
    if (here === undefined || typeof here !== "object" || here instanceof TomlDateTime) {
      return undefined;
    }
    here = (here as Record<string | number, TomlValue>)[key];
  }
  return here;
}

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

/** Describes a TOML value's type for error messages: "a table", "an array of tables". */
export function typeName(value: TomlValue): string {
  if (value instanceof TomlDateTime) return "a date-time";
  if (isArrayOfTables(value)) return "an array of tables";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "a table";
  if (typeof value === "bigint") return "an integer";
  return `a ${typeof value}`;
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
