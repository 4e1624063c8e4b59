/**
 * A TOML document as `setup` reads it: `toml-eslint-parser` validates the
 * whole file (TOML 1.1) and this module turns its syntax tree into a value and
 * the source lines of every table header and key, which the text edits of
 * `toml_text.ts` work from.
 *
 * Integers read as `bigint` and floats as `number`, so a value keeps its type
 * when written back (`60` stays `60`, `20.0` stays `20.0`).
 *
 * @module
 */

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

/** Describes a TOML value's type for error messages: "a table", "an array of tables". */
export function typeName(value: TomlValue): string {
  if (value instanceof TomlDateTime) return "a date-time";
  if (isArrayOfTables(value)) return "an array of tables";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "a table";
  if (typeof value === "bigint") return "an integer";
  return `a ${typeof value}`;
}
