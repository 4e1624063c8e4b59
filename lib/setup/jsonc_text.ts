/**
 * JSON config files, comments allowed (JSONC, as Claude Code, Gemini CLI,
 * Cursor and VS Code users write them), edited as text with `jsonc-parser`:
 * a change touches only the characters of the values it sets, so comments,
 * key order, layout and untouched numbers (even beyond 2^53) stay byte for
 * byte. New text follows the file's own indentation and line endings.
 *
 * Trailing commas are refused: some of the assistants read their config with
 * a strict parser, and a file they cannot read is not ours to "fix".
 *
 * @module
 */

import { isDeepStrictEqual } from "node:util";
import {
  applyEdits,
  findNodeAtLocation,
  getNodeValue,
  type JsonNode,
  type JsonParseError,
  type JSONPath,
  modify,
  parseTree,
  printParseErrorCode,
} from "../deps.ts";

/** A path into a JSON value: object keys and array indexes (`-1` appends to an array). */
export type JsonPath = JSONPath;

const BOM = "\uFEFF";

/**
 * Parses JSON with comments into a top-level object; an empty (or blank)
 * text is `{}`.
 *
 * @example
 * ```ts
 * parseJsoncObject('{\n  // mine\n  "theme": "dark"\n}'); // { theme: "dark" }
 * ```
 * @throws {SyntaxError} `Property name expected at line 3, column 1`.
 * @throws {TypeError} when the top level is not an object.
 */
export function parseJsoncObject(text: string): Record<string, unknown> {
  const root = parseJsonc(text);
  if (root === undefined) return {};
  const value = valueOf(root);
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError(`The top level is ${describeJson(value)}, expected an object`);
  }
  return value as Record<string, unknown>;
}

/**
 * The value at `path`, or `undefined` when there is none.
 *
 * @example
 * ```ts
 * getJsoncValue('{"mcpServers": {"x": {"command": "x"}}}', ["mcpServers", "x", "command"]); // "x"
 * ```
 * @throws {SyntaxError} when `text` is not valid JSON with comments.
 */
export function getJsoncValue(text: string, path: JsonPath): unknown {
  const root = parseJsonc(text);
  const node = root && findNodeAtLocation(root, path);
  return node && valueOf(node);
}

/**
 * Sets the value at `path`, creating the objects on the way; `undefined`
 * removes it. When both the old and the new value are objects, only the keys
 * that differ are written, so comments inside the object stay. An empty text
 * becomes a new object. Returns `text` itself when nothing changes.
 *
 * @example
 * ```ts
 * setJsoncValue('{\n  // my servers\n  "mcpServers": {}\n}\n', ["mcpServers", "agent-ipc"],
 *   { command: "agent-ipc", args: ["mcp"] });
 * // '{\n  // my servers\n  "mcpServers": {\n    "agent-ipc": {\n      "command": "agent-ipc", …'
 * setJsoncValue(text, ["hooks", "Stop", -1], { hooks: [] }); // appends to the array
 * ```
 * @throws {SyntaxError} when `text` is not valid JSON with comments.
 * @throws {TypeError} when something on the path is not an object (or array for an index).
 */
export function setJsoncValue(text: string, path: JsonPath, value: unknown): string {
  const bom = text.startsWith(BOM) ? BOM : "";
  let body = text.slice(bom.length);
  const blank = body.trim() === "";
  if (blank && value === undefined) return text;
  if (blank) body = "{}";
  const root = parseJsonc(body)!;
  checkPath(root, path);
  const style = formatting(text);
  const edited = setIn(body, path, value, style);
  if (edited === body) return text;
  return bom + (blank ? edited + style.eol : edited);
}

/**
 * Removes the value at `path` (an object key or an array element); the text
 * is returned unchanged when there is none.
 *
 * @example
 * ```ts
 * removeJsoncValue('{"a": 1, /* why *\/ "b": 2}', ["a"]); // '{/* why *\/ "b": 2}'
 * ```
 * @throws {SyntaxError} when `text` is not valid JSON with comments.
 */
export function removeJsoncValue(text: string, path: JsonPath): string {
  if (getJsoncValue(text, path) === undefined) return text;
  return setJsoncValue(text, path, undefined);
}

type Formatting = { insertSpaces: boolean; tabSize: number; eol: string };

/** The file's own style: the first indented key's indentation, its line ending. */
function formatting(text: string): Formatting {
  const eol = text.includes("\r\n") ? "\r\n" : "\n";
  const indent = /^([ \t]+)"/m.exec(text)?.[1] ?? "  ";
  return indent.startsWith("\t")
    ? { insertSpaces: false, tabSize: 4, eol }
    : { insertSpaces: true, tabSize: indent.length, eol };
}

/** Writes `value` at `path`, recursing into objects so only differing keys are touched. */
function setIn(text: string, path: JsonPath, value: unknown, style: Formatting): string {
  const root = parseJsonc(text)!;
  const node = findNodeAtLocation(root, path);
  const current = node && valueOf(node);
  if (value !== undefined && isDeepStrictEqual(current, value)) return text;
  if (node?.type === "object" && isPlainObject(value)) {
    let out = text;
    for (const key of Object.keys(current as object)) {
      if (!(key in value)) out = setIn(out, [...path, key], undefined, style);
    }
    for (const [key, item] of Object.entries(value)) out = setIn(out, [...path, key], item, style);
    return out;
  }
  if (value === undefined) return node === undefined ? text : removeNode(text, path, node, style);
  if (node !== undefined) {
    return splice(
      text,
      node.offset,
      node.length,
      render(value, lineIndent(text, node.offset), style),
    );
  }
  // Missing: add it to the deepest container that exists, with the objects in between.
  for (let depth = path.length - 1; depth >= 0; depth--) {
    const container = depth === 0 ? root : findNodeAtLocation(root, path.slice(0, depth));
    if (container === undefined) continue;
    let item: unknown = value;
    for (const key of path.slice(depth + 1).reverse()) item = { [key as string]: item };
    return addChild(text, container, path[depth], item, style);
  }
  return text;
}

/** Adds a property (or, for an array, an element at the end) on its own line, in the file's style. */
function addChild(
  text: string,
  container: JsonNode,
  key: string | number,
  value: unknown,
  style: Formatting,
): string {
  const children = container.children ?? [];
  const last = children[children.length - 1];
  const ownLine = last !== undefined && startsLine(text, last.offset);
  const indent = ownLine
    ? lineIndent(text, last.offset)
    : lineIndent(text, container.offset) + unit(style);
  const label = container.type === "object" ? `${JSON.stringify(key)}: ` : "";
  const child = label + render(value, indent, style);
  if (last === undefined) {
    // `{}` (or `[]`): open it up over three lines.
    const close = container.offset + container.length - 1;
    return splice(
      text,
      container.offset + 1,
      close - container.offset - 1,
      `${style.eol}${indent}${child}${style.eol}${lineIndent(text, container.offset)}`,
    );
  }
  const end = last.offset + last.length;
  const lineEnd = endOfLine(text, end);
  if (ownLine && /^\s*(\/\/.*|\/\*.*\*\/\s*)?$/.test(text.slice(end, lineEnd))) {
    // After the last line, keeping a comment at its end where it is.
    return text.slice(0, end) + "," + text.slice(end, lineEnd) + style.eol + indent + child +
      text.slice(lineEnd);
  }
  return splice(text, end, 0, `, ${label}${JSON.stringify(value)}`);
}

/**
 * Takes a property or element out, as the exact inverse of {@link addChild}
 * whatever the layout: on its own lines, the lines go (with a comment at
 * their end) and the comma before them; on a line with others, the `, ` and
 * the item go (or the item and its `, ` when it comes first); the only item
 * leaves `{}` (or `[]`) as it was before anything was added.
 */
function removeNode(text: string, path: JsonPath, node: JsonNode, style: Formatting): string {
  const target = node.parent?.type === "property" ? node.parent : node;
  const parent = target.parent!;
  const siblings = parent.children ?? [];
  const index = siblings.indexOf(target);
  const start = target.offset;
  let end = target.offset + target.length;
  const comma = /^\s*,/.exec(text.slice(end));
  if (comma) end += comma[0].length;
  const lineEnd = endOfLine(text, end);
  const inner = (shrink: number) => [parent.offset + 1, parent.offset + parent.length - 1 - shrink];
  if (startsLine(text, start) && /^\s*(\/\/.*|\/\*.*\*\/\s*)?$/.test(text.slice(end, lineEnd))) {
    const from = lineStart(text, start);
    let out = splice(text, from, Math.min(lineEnd + style.eol.length, text.length) - from, "");
    const [a, b] = inner(text.length - out.length);
    if (out.slice(a, b).trim() === "") {
      // Emptied: `{}` again, as it was before anything was added.
      return splice(out, a, b - a, "");
    }
    if (!comma && index > 0) {
      // It was the last one: the one before it loses its comma.
      const previous = siblings[index - 1];
      const after = previous.offset + previous.length;
      const previousComma = /^\s*,/.exec(out.slice(after));
      if (previousComma) out = splice(out, after, previousComma[0].length, "");
    }
    return out;
  }
  const previous = siblings[index - 1];
  const next = siblings[index + 1];
  const itemEnd = target.offset + target.length;
  if (previous && !next) {
    // Inline and last: what addChild appended was `, ` and the item.
    const after = previous.offset + previous.length;
    if (/^\s*,\s*$/.test(text.slice(after, start))) return splice(text, after, itemEnd - after, "");
  } else if (next) {
    // Inline and followed: the item, its comma and the space up to the next one.
    if (/^\s*,\s*$/.test(text.slice(itemEnd, next.offset))) {
      return splice(text, start, next.offset - start, "");
    }
  } else {
    const [a, b] = inner(0);
    if (text.slice(a, start).trim() === "" && text.slice(itemEnd, b).trim() === "") {
      return splice(text, a, b - a, "");
    }
  }
  return applyEdits(text, modify(text, path, undefined, {}));
}

/** JSON text for `value`, its inner lines indented from `indent`. */
function render(value: unknown, indent: string, style: Formatting): string {
  return JSON.stringify(value, null, unit(style)).replaceAll("\n", style.eol + indent);
}

function unit(style: Formatting): string {
  return style.insertSpaces ? " ".repeat(style.tabSize) : "\t";
}

function splice(text: string, start: number, length: number, insert: string): string {
  return text.slice(0, start) + insert + text.slice(start + length);
}

function lineStart(text: string, offset: number): number {
  return text.lastIndexOf("\n", offset - 1) + 1;
}

/** The end of the line holding `offset`, before its `\r\n` or `\n`. */
function endOfLine(text: string, offset: number): number {
  const newline = text.indexOf("\n", offset);
  if (newline === -1) return text.length;
  return text[newline - 1] === "\r" ? newline - 1 : newline;
}

function lineIndent(text: string, offset: number): string {
  return /^[ \t]*/.exec(text.slice(lineStart(text, offset)))![0];
}

function startsLine(text: string, offset: number): boolean {
  return text.slice(lineStart(text, offset), offset).trim() === "";
}

/** Refuses to write through a value that cannot hold the next key. */
function checkPath(root: JsonNode, path: JsonPath): void {
  for (let i = 0; i < path.length - 1; i++) {
    const node = findNodeAtLocation(root, path.slice(0, i + 1));
    if (node === undefined) return;
    const wanted = typeof path[i + 1] === "number" ? "array" : "object";
    if (node.type !== wanted) {
      const name = path.slice(0, i + 1).map((k) => JSON.stringify(k)).join(".");
      throw new TypeError(`${name} is ${describeJson(valueOf(node))}, expected an ${wanted}`);
    }
  }
}

/** Parses the text (BOM allowed) into a tree; `undefined` when it is blank. */
function parseJsonc(text: string): JsonNode | undefined {
  const body = text.startsWith(BOM) ? text.slice(1) : text;
  if (body.trim() === "") return undefined;
  const errors: JsonParseError[] = [];
  const root = parseTree(body, errors, { allowTrailingComma: false, disallowComments: false });
  if (errors.length > 0 || root === undefined) {
    const error = errors[0];
    if (error === undefined) throw new SyntaxError("Value expected");
    const before = body.slice(0, error.offset).split("\n");
    const where = `line ${before.length}, column ${before[before.length - 1].length + 1}`;
    const problem = printParseErrorCode(error.error).replace(/(?<=[a-z])(?=[A-Z])/g, " ");
    throw new SyntaxError(`${problem[0]}${problem.slice(1).toLowerCase()} at ${where}`);
  }
  return root;
}

/** A node's value with ordinary objects (the package makes null-prototype ones). */
function valueOf(node: JsonNode): unknown {
  const value = getNodeValue(node);
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Describes a value's type for error messages: "an array", "a string", "null". */
export function describeJson(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  return `a ${typeof value}`;
}
