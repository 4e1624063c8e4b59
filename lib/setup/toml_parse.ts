/**
 * A validating TOML parser, just enough for `setup` to check a Codex
 * `config.toml` as a whole and to learn on which lines each table and key is
 * defined, so that one table can be replaced textually (keeping the user's
 * comments and layout) without rewriting the file.
 *
 * It follows TOML 1.0 (tables, arrays of tables, dotted and quoted keys, all
 * string kinds, integers, floats, booleans, date-times, arrays, inline tables)
 * and accepts the TOML 1.1 relaxations (newlines and a trailing comma in inline
 * tables, `\e` and `\xHH` escapes, times without seconds). Integers parse to
 * `bigint` and floats to `number`, so a value keeps its type when written back.
 *
 * @module
 */

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

/**
 * Where a table header or a key/value pair sits in the source; lines are
 * 0-based, `endLine` is the last line of a (possibly multi-line) value.
 */
export interface TomlSpan {
  /** `table` for `[a.b]`, `arrayTable` for `[[a.b]]`, `keyValue` for `k = v`. */
  kind: "table" | "arrayTable" | "keyValue";
  /** Full key path: the header's keys, or the enclosing header's keys plus the key. */
  path: string[];
  line: number;
  endLine: number;
}

/** A parsed document: its value and the spans of its definitions, in source order. */
export interface TomlDocument {
  value: TomlTable;
  spans: TomlSpan[];
}

/** How a table came to be, which decides what may still be added to it. */
type TableKind = "root" | "implicit" | "header" | "dotted" | "inline";

const tableKinds = new WeakMap<object, TableKind>();
const arraysOfTables = new WeakSet<object>();

/** True when `value` is a TOML table (not an array, not a date-time). */
export function isTomlTable(value: unknown): value is TomlTable {
  return typeof value === "object" && value !== null && !Array.isArray(value) &&
    !(value instanceof TomlDateTime);
}

/** True when `value` was written as an inline table (`{ ... }`), which TOML forbids extending. */
export function isInlineTable(value: unknown): boolean {
  return isTomlTable(value) && tableKinds.get(value) === "inline";
}

/** True when `value` is an array of tables (`[[name]]`). */
export function isArrayOfTables(value: unknown): boolean {
  return Array.isArray(value) && arraysOfTables.has(value);
}

/**
 * Parses TOML text.
 *
 * @example
 * ```ts
 * const doc = parseToml('[mcp_servers.x]\ncommand = "x"\n');
 * doc.spans[0]; // { kind: "table", path: ["mcp_servers", "x"], line: 0, endLine: 0 }
 * ```
 * @throws {SyntaxError} with the line and column of the first problem.
 */
export function parseToml(text: string): TomlDocument {
  return new Parser(text).parse();
}

const BARE_KEY = /[A-Za-z0-9_-]/;
const VALUE_CHAR = /[0-9A-Za-z_+\-.:]/;
const DEC_INT = /^[+-]?(?:0|[1-9](?:_?[0-9])*)$/;
const HEX_INT = /^0x[0-9A-Fa-f](?:_?[0-9A-Fa-f])*$/;
const OCT_INT = /^0o[0-7](?:_?[0-7])*$/;
const BIN_INT = /^0b[01](?:_?[01])*$/;
const FLOAT =
  /^[+-]?(?:0|[1-9](?:_?[0-9])*)(?:\.[0-9](?:_?[0-9])*)?(?:[eE][+-]?[0-9](?:_?[0-9])*)?$/;
const SPECIAL_FLOAT = /^[+-]?(?:inf|nan)$/;
const DATE = String.raw`(\d{4})-(\d{2})-(\d{2})`;
const TIME = String.raw`(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?`;
const DATE_TIME = new RegExp(`^${DATE}(?:[Tt ]${TIME}(?:[Zz]|[+-]\\d{2}:\\d{2})?)?$`);
const LOCAL_TIME = new RegExp(`^${TIME}$`);
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

class Parser {
  #src: string;
  #pos = 0;
  #lineStarts: number[] = [0];
  #root: TomlTable = {};
  #current: TomlTable;
  #currentPath: string[] = [];
  #spans: TomlSpan[] = [];

  constructor(src: string) {
    this.#src = src;
    for (let i = 0; i < src.length; i++) {
      if (src[i] === "\n") this.#lineStarts.push(i + 1);
    }
    tableKinds.set(this.#root, "root");
    this.#current = this.#root;
  }

  parse(): TomlDocument {
    if (this.#src.startsWith("\uFEFF")) this.#pos = 1;
    while (this.#pos < this.#src.length) {
      this.#skipWs();
      const c = this.#src[this.#pos];
      if (c === "#" || c === "\n" || c === "\r" || c === undefined) {
        this.#endOfLine();
      } else if (c === "[") {
        this.#header();
      } else {
        this.#keyValueLine();
      }
    }
    return { value: this.#root, spans: this.#spans };
  }

  #fail(message: string, at = this.#pos): never {
    const line = this.#lineOf(at);
    const column = at - this.#lineStarts[line] + 1;
    throw new SyntaxError(`Line ${line + 1}, column ${column}: ${message}`);
  }

  #lineOf(at: number): number {
    let lo = 0;
    let hi = this.#lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.#lineStarts[mid] <= at) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  #skipWs(): void {
    while (this.#src[this.#pos] === " " || this.#src[this.#pos] === "\t") this.#pos++;
  }

  #skipComment(): void {
    if (this.#src[this.#pos] !== "#") return;
    this.#pos++;
    while (this.#pos < this.#src.length) {
      const c = this.#src[this.#pos];
      if (c === "\n" || (c === "\r" && this.#src[this.#pos + 1] === "\n")) return;
      if (isControl(c)) this.#fail("Control character in comment");
      this.#pos++;
    }
  }

  /** Skips a comment, then requires a newline or the end of the text. */
  #endOfLine(): void {
    this.#skipWs();
    this.#skipComment();
    if (this.#pos >= this.#src.length) return;
    if (this.#src[this.#pos] === "\n") this.#pos++;
    else if (this.#src.startsWith("\r\n", this.#pos)) this.#pos += 2;
    else this.#fail(`Expected the end of the line, found "${this.#src[this.#pos]}"`);
  }

  /** Skips whitespace, newlines and comments (inside arrays and inline tables). */
  #skipBlank(): void {
    for (;;) {
      this.#skipWs();
      this.#skipComment();
      if (this.#src[this.#pos] === "\n") this.#pos++;
      else if (this.#src.startsWith("\r\n", this.#pos)) this.#pos += 2;
      else return;
    }
  }

  #header(): void {
    const start = this.#pos;
    const isArray = this.#src.startsWith("[[", this.#pos);
    this.#pos += isArray ? 2 : 1;
    this.#skipWs();
    const keys = this.#key();
    this.#skipWs();
    const close = isArray ? "]]" : "]";
    if (!this.#src.startsWith(close, this.#pos)) {
      this.#fail(`Expected "${close}" after the table name`);
    }
    this.#pos += close.length;
    const line = this.#lineOf(start);
    this.#defineTable(keys, isArray, start);
    this.#spans.push({ kind: isArray ? "arrayTable" : "table", path: keys, line, endLine: line });
    this.#endOfLine();
  }

  #defineTable(keys: string[], isArray: boolean, at: number): void {
    let table = this.#root;
    for (let i = 0; i < keys.length - 1; i++) {
      const key = keys[i];
      if (!Object.hasOwn(table, key)) {
        const created: TomlTable = {};
        tableKinds.set(created, "implicit");
        table[key] = created;
        table = created;
        continue;
      }
      const value = table[key];
      if (isArrayOfTables(value)) {
        const list = value as TomlTable[];
        table = list[list.length - 1];
      } else if (isTomlTable(value) && !isInlineTable(value)) {
        table = value;
      } else {
        this.#fail(`Cannot define table "${keys.join(".")}": "${key}" is not a table`, at);
      }
    }
    const last = keys[keys.length - 1];
    const name = keys.join(".");
    const created: TomlTable = {};
    tableKinds.set(created, "header");
    if (isArray) {
      if (!Object.hasOwn(table, last)) {
        const list: TomlValue[] = [created];
        arraysOfTables.add(list);
        table[last] = list;
      } else if (isArrayOfTables(table[last])) {
        (table[last] as TomlValue[]).push(created);
      } else {
        this.#fail(`Cannot define array of tables "${name}": the key is already defined`, at);
      }
    } else if (!Object.hasOwn(table, last)) {
      table[last] = created;
    } else {
      const value = table[last];
      if (isTomlTable(value) && tableKinds.get(value) === "implicit") {
        tableKinds.set(value, "header");
        this.#current = value;
        this.#currentPath = keys;
        return;
      }
      this.#fail(`Table "${name}" is defined twice`, at);
    }
    this.#current = created;
    this.#currentPath = keys;
  }

  #keyValueLine(): void {
    const start = this.#pos;
    const keys = this.#keyValue(this.#current, this.#currentPath);
    const endLine = this.#lineOf(this.#pos);
    this.#spans.push({
      kind: "keyValue",
      path: [...this.#currentPath, ...keys],
      line: this.#lineOf(start),
      endLine,
    });
    this.#endOfLine();
  }

  /** Parses `key = value` into `table` (at `base`, for messages); returns the key path. */
  #keyValue(table: TomlTable, base: string[]): string[] {
    const start = this.#pos;
    const keys = this.#key();
    this.#skipWs();
    if (this.#src[this.#pos] !== "=") this.#fail(`Expected "=" after the key "${keys.join(".")}"`);
    this.#pos++;
    this.#skipWs();
    const value = this.#value();
    this.#assign(table, keys, value, start, base);
    return keys;
  }

  #assign(table: TomlTable, keys: string[], value: TomlValue, at: number, base: string[]): void {
    let target = table;
    for (let i = 0; i < keys.length - 1; i++) {
      const key = keys[i];
      if (!Object.hasOwn(target, key)) {
        const created: TomlTable = {};
        tableKinds.set(created, "dotted");
        target[key] = created;
        target = created;
        continue;
      }
      const existing = target[key];
      const kind = isTomlTable(existing) ? tableKinds.get(existing) : undefined;
      if (kind !== "dotted" && kind !== "implicit") {
        this.#fail(
          `Cannot add to "${[...base, ...keys.slice(0, i + 1)].join(".")}": it is already defined`,
          at,
        );
      }
      target = existing as TomlTable;
    }
    const last = keys[keys.length - 1];
    if (Object.hasOwn(target, last)) {
      this.#fail(`Duplicate key "${[...base, ...keys].join(".")}"`, at);
    }
    target[last] = value;
  }

  #key(): string[] {
    const keys = [this.#simpleKey()];
    for (;;) {
      const save = this.#pos;
      this.#skipWs();
      if (this.#src[this.#pos] !== ".") {
        this.#pos = save;
        return keys;
      }
      this.#pos++;
      this.#skipWs();
      keys.push(this.#simpleKey());
    }
  }

  #simpleKey(): string {
    const c = this.#src[this.#pos];
    if (c === '"') {
      if (this.#src.startsWith('"""', this.#pos)) this.#fail("A key cannot be a multi-line string");
      return this.#basicString();
    }
    if (c === "'") {
      if (this.#src.startsWith("'''", this.#pos)) this.#fail("A key cannot be a multi-line string");
      return this.#literalString();
    }
    const start = this.#pos;
    while (this.#pos < this.#src.length && BARE_KEY.test(this.#src[this.#pos])) this.#pos++;
    if (this.#pos === start) {
      this.#fail(c === undefined ? "Expected a key" : `Expected a key, found "${c}"`);
    }
    return this.#src.slice(start, this.#pos);
  }

  #value(): TomlValue {
    const c = this.#src[this.#pos];
    if (c === '"') {
      return this.#src.startsWith('"""', this.#pos) ? this.#multilineBasic() : this.#basicString();
    }
    if (c === "'") {
      return this.#src.startsWith("'''", this.#pos)
        ? this.#multilineLiteral()
        : this.#literalString();
    }
    if (c === "[") return this.#array();
    if (c === "{") return this.#inlineTable();
    return this.#scalar();
  }

  #scalar(): TomlValue {
    const start = this.#pos;
    while (this.#pos < this.#src.length && VALUE_CHAR.test(this.#src[this.#pos])) this.#pos++;
    let token = this.#src.slice(start, this.#pos);
    // A date and a time may be separated by one space: "1979-05-27 07:32:00".
    if (
      /^\d{4}-\d{2}-\d{2}$/.test(token) && this.#src[this.#pos] === " " &&
      /^\d{2}:/.test(this.#src.slice(this.#pos + 1, this.#pos + 4))
    ) {
      this.#pos++;
      while (this.#pos < this.#src.length && VALUE_CHAR.test(this.#src[this.#pos])) this.#pos++;
      token = this.#src.slice(start, this.#pos);
    }
    if (token === "") {
      const c = this.#src[this.#pos];
      this.#fail(
        c === undefined || c === "\n" ? "Expected a value" : `Expected a value, found "${c}"`,
      );
    }
    if (token === "true") return true;
    if (token === "false") return false;
    if (DEC_INT.test(token) || HEX_INT.test(token) || OCT_INT.test(token) || BIN_INT.test(token)) {
      const n = BigInt(token.replaceAll("_", "").replace(/^\+/, ""));
      if (n < INT64_MIN || n > INT64_MAX) this.#fail(`Integer "${token}" is out of range`, start);
      return n;
    }
    if (SPECIAL_FLOAT.test(token)) {
      const sign = token.startsWith("-") ? -1 : 1;
      return token.endsWith("nan") ? NaN : sign * Infinity;
    }
    if (FLOAT.test(token)) return Number(token.replaceAll("_", ""));
    if (validDateTime(token)) return new TomlDateTime(token);
    return this.#fail(`Invalid value "${token}"`, start);
  }

  #array(): TomlValue[] {
    this.#pos++;
    const list: TomlValue[] = [];
    for (;;) {
      this.#skipBlank();
      if (this.#src[this.#pos] === "]") {
        this.#pos++;
        return list;
      }
      list.push(this.#value());
      this.#skipBlank();
      const c = this.#src[this.#pos];
      if (c === ",") {
        this.#pos++;
      } else if (c === "]") {
        this.#pos++;
        return list;
      } else {
        this.#fail(c === undefined ? "Unterminated array" : `Expected "," or "]", found "${c}"`);
      }
    }
  }

  #inlineTable(): TomlTable {
    this.#pos++;
    const table: TomlTable = {};
    this.#skipBlank();
    if (this.#src[this.#pos] === "}") {
      this.#pos++;
    } else {
      for (;;) {
        this.#skipBlank();
        this.#keyValue(table, []);
        this.#skipBlank();
        const c = this.#src[this.#pos];
        if (c === ",") {
          this.#pos++;
          this.#skipBlank();
          if (this.#src[this.#pos] === "}") {
            this.#pos++;
            break;
          }
        } else if (c === "}") {
          this.#pos++;
          break;
        } else {
          this.#fail(
            c === undefined ? "Unterminated inline table" : `Expected "," or "}", found "${c}"`,
          );
        }
      }
    }
    freezeInline(table);
    return table;
  }

  #basicString(): string {
    this.#pos++;
    let out = "";
    for (;;) {
      const c = this.#src[this.#pos];
      if (c === undefined || c === "\n" || c === "\r") this.#fail("Unterminated string");
      if (c === '"') {
        this.#pos++;
        return out;
      }
      if (c === "\\") {
        out += this.#escape();
        continue;
      }
      if (isControl(c)) this.#fail("Control character in string");
      out += c;
      this.#pos++;
    }
  }

  #multilineBasic(): string {
    this.#pos += 3;
    this.#skipFirstNewline();
    let out = "";
    for (;;) {
      const c = this.#src[this.#pos];
      if (c === undefined) this.#fail("Unterminated multi-line string");
      if (c === '"' && this.#src.startsWith('"""', this.#pos)) {
        const quotes = this.#countQuotes('"');
        if (quotes > 5) this.#fail("Too many quotes at the end of a multi-line string");
        out += '"'.repeat(quotes - 3);
        this.#pos += quotes;
        return out;
      }
      if (c === "\\") {
        const rest = /^\\[ \t]*\r?\n/.exec(this.#src.slice(this.#pos, this.#pos + 256));
        if (rest) {
          // A line-ending backslash swallows the newline and the next line's indent.
          while (/[ \t\r\n]/.test(this.#src[this.#pos + 1] ?? "")) this.#pos++;
          this.#pos++;
          continue;
        }
        out += this.#escape();
        continue;
      }
      if (c === "\r") {
        if (this.#src[this.#pos + 1] !== "\n") this.#fail("Bare carriage return in string");
        out += "\r\n";
        this.#pos += 2;
        continue;
      }
      if (c !== "\n" && isControl(c)) this.#fail("Control character in string");
      out += c;
      this.#pos++;
    }
  }

  #literalString(): string {
    const start = ++this.#pos;
    for (;;) {
      const c = this.#src[this.#pos];
      if (c === undefined || c === "\n" || c === "\r") this.#fail("Unterminated string");
      if (c === "'") {
        this.#pos++;
        return this.#src.slice(start, this.#pos - 1);
      }
      if (isControl(c)) this.#fail("Control character in string");
      this.#pos++;
    }
  }

  #multilineLiteral(): string {
    this.#pos += 3;
    this.#skipFirstNewline();
    const start = this.#pos;
    for (;;) {
      const c = this.#src[this.#pos];
      if (c === undefined) this.#fail("Unterminated multi-line string");
      if (c === "'" && this.#src.startsWith("'''", this.#pos)) {
        const quotes = this.#countQuotes("'");
        if (quotes > 5) this.#fail("Too many quotes at the end of a multi-line string");
        const text = this.#src.slice(start, this.#pos + quotes - 3);
        this.#pos += quotes;
        return text;
      }
      if (c === "\r" && this.#src[this.#pos + 1] !== "\n") {
        this.#fail("Bare carriage return in string");
      }
      if (c !== "\n" && c !== "\r" && isControl(c)) this.#fail("Control character in string");
      this.#pos++;
    }
  }

  #skipFirstNewline(): void {
    if (this.#src[this.#pos] === "\n") this.#pos++;
    else if (this.#src.startsWith("\r\n", this.#pos)) this.#pos += 2;
  }

  #countQuotes(quote: string): number {
    let n = 0;
    while (this.#src[this.#pos + n] === quote) n++;
    return n;
  }

  #escape(): string {
    const at = this.#pos;
    const c = this.#src[this.#pos + 1];
    this.#pos += 2;
    switch (c) {
      case "b":
        return "\b";
      case "t":
        return "\t";
      case "n":
        return "\n";
      case "f":
        return "\f";
      case "r":
        return "\r";
      case "e":
        return "\x1b";
      case '"':
        return '"';
      case "\\":
        return "\\";
      case "x":
        return this.#codePoint(2, at);
      case "u":
        return this.#codePoint(4, at);
      case "U":
        return this.#codePoint(8, at);
      default:
        return this.#fail(`Invalid escape "\\${c ?? ""}"`, at);
    }
  }

  #codePoint(digits: number, at: number): string {
    const hex = this.#src.slice(this.#pos, this.#pos + digits);
    if (!new RegExp(`^[0-9A-Fa-f]{${digits}}$`).test(hex)) this.#fail("Invalid escape", at);
    const code = parseInt(hex, 16);
    if (code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) {
      this.#fail(`Invalid Unicode scalar "${hex}"`, at);
    }
    this.#pos += digits;
    return String.fromCodePoint(code);
  }
}

function isControl(c: string): boolean {
  const code = c.charCodeAt(0);
  return (code < 0x20 && c !== "\t") || code === 0x7f;
}

function freezeInline(table: TomlTable): void {
  tableKinds.set(table, "inline");
  for (const value of Object.values(table)) {
    if (isTomlTable(value)) freezeInline(value);
  }
}

function validDateTime(token: string): boolean {
  const dt = DATE_TIME.exec(token);
  if (dt) {
    const [, , month, day, hour, minute, second] = dt;
    if (!inRange(month, 1, 12) || !inRange(day, 1, 31)) return false;
    return hour === undefined || validTime(hour, minute, second);
  }
  const t = LOCAL_TIME.exec(token);
  return t !== null && validTime(t[1], t[2], t[3]);
}

function validTime(hour: string, minute: string, second: string | undefined): boolean {
  return inRange(hour, 0, 23) && inRange(minute, 0, 59) &&
    (second === undefined || inRange(second, 0, 60));
}

function inRange(digits: string, min: number, max: number): boolean {
  const n = Number(digits);
  return n >= min && n <= max;
}
