import assert from "node:assert/strict";
import {
  isArrayOfTables,
  isInlineTable,
  parseToml,
  TomlDateTime,
  type TomlTable,
} from "../../lib/setup/toml_parse.ts";

Deno.test("parseToml reads every value kind", () => {
  const doc = parseToml(`# comment
title = "TOML \\"x\\" \\u00e9 \\U0001F600"
literal = 'C:\\Users\\me'
multi = """
one \\
    two"""
multi_lit = '''
raw \\n'''
int = +1_000
hex = 0xDEAD_beef
oct = 0o17
bin = 0b101
neg = -17
big = 9_223_372_036_854_775_807
float = 6.626e-34
float2 = -1.5
inf = -inf
nan = nan
yes = true
no = false
odt = 1979-05-27T07:32:00Z
odt_space = 1979-05-27 07:32:00.999-07:00
ld = 1979-05-27
lt = 07:32:00
arr = [ 1, "two", [3], { four = 4 }, ] # trailing comma
nested = [
  # a comment inside
  "a",
  "b"
]
"quoted key" = 1
dotted.key . here = "x"
inline = { a = 1, b.c = "d" }
`);
  const v = doc.value;
  assert.equal(v.title, 'TOML "x" é 😀');
  assert.equal(v.literal, "C:\\Users\\me");
  assert.equal(v.multi, "one two");
  assert.equal(v.multi_lit, "raw \\n");
  assert.equal(v.int, 1000n);
  assert.equal(v.hex, 0xdeadbeefn);
  assert.equal(v.oct, 15n);
  assert.equal(v.bin, 5n);
  assert.equal(v.neg, -17n);
  assert.equal(v.big, 9223372036854775807n);
  assert.equal(v.float, 6.626e-34);
  assert.equal(v.float2, -1.5);
  assert.equal(v.inf, -Infinity);
  assert.ok(Number.isNaN(v.nan));
  assert.equal(v.yes, true);
  assert.equal(v.no, false);
  assert.deepEqual(v.odt, new TomlDateTime("1979-05-27T07:32:00Z"));
  assert.deepEqual(v.odt_space, new TomlDateTime("1979-05-27 07:32:00.999-07:00"));
  assert.deepEqual(v.ld, new TomlDateTime("1979-05-27"));
  assert.deepEqual(v.lt, new TomlDateTime("07:32:00"));
  assert.deepEqual(v.arr, [1n, "two", [3n], { four: 4n }]);
  assert.deepEqual(v.nested, ["a", "b"]);
  assert.equal(v["quoted key"], 1n);
  assert.deepEqual(v.dotted, { key: { here: "x" } });
  assert.deepEqual(v.inline, { a: 1n, b: { c: "d" } });
  assert.ok(isInlineTable(v.inline));
  assert.ok(isInlineTable((v.inline as TomlTable).b));
});

Deno.test("parseToml builds tables, arrays of tables and spans", () => {
  const doc = parseToml(`top = 1

[mcp_servers.other]
command = "npx"
args = [
  "-y",
]

[mcp_servers."agent-ipc"]
command = "agent-ipc"
[mcp_servers.agent-ipc.env]
IPC_INSTANCE = "fred"

[[profiles]]
name = "a"
[[profiles]]
name = "b"
`);
  assert.deepEqual(doc.value, {
    top: 1n,
    mcp_servers: {
      other: { command: "npx", args: ["-y"] },
      "agent-ipc": { command: "agent-ipc", env: { IPC_INSTANCE: "fred" } },
    },
    profiles: [{ name: "a" }, { name: "b" }],
  });
  assert.ok(isArrayOfTables(doc.value.profiles));
  assert.deepEqual(doc.spans, [
    { kind: "keyValue", path: ["top"], line: 0, endLine: 0 },
    { kind: "table", path: ["mcp_servers", "other"], line: 2, endLine: 2 },
    { kind: "keyValue", path: ["mcp_servers", "other", "command"], line: 3, endLine: 3 },
    { kind: "keyValue", path: ["mcp_servers", "other", "args"], line: 4, endLine: 6 },
    { kind: "table", path: ["mcp_servers", "agent-ipc"], line: 8, endLine: 8 },
    { kind: "keyValue", path: ["mcp_servers", "agent-ipc", "command"], line: 9, endLine: 9 },
    { kind: "table", path: ["mcp_servers", "agent-ipc", "env"], line: 10, endLine: 10 },
    {
      kind: "keyValue",
      path: ["mcp_servers", "agent-ipc", "env", "IPC_INSTANCE"],
      line: 11,
      endLine: 11,
    },
    { kind: "arrayTable", path: ["profiles"], line: 13, endLine: 13 },
    { kind: "keyValue", path: ["profiles", "name"], line: 14, endLine: 14 },
    { kind: "arrayTable", path: ["profiles"], line: 15, endLine: 15 },
    { kind: "keyValue", path: ["profiles", "name"], line: 16, endLine: 16 },
  ]);
});

Deno.test("parseToml accepts CRLF, a BOM, an empty file and a sub-table of a dotted table", () => {
  assert.deepEqual(parseToml("\uFEFFa = 1\r\n[b]\r\nc = 'x'\r\n").value, {
    a: 1n,
    b: { c: "x" },
  });
  assert.deepEqual(parseToml("").value, {});
  assert.deepEqual(parseToml("[a.b.c]\n[a]\nx = 1\n").value, { a: { b: { c: {} }, x: 1n } });
  assert.deepEqual(
    parseToml("[fruit]\napple.color = 'red'\n[fruit.apple.texture]\nsmooth = true\n").value,
    {
      fruit: { apple: { color: "red", texture: { smooth: true } } },
    },
  );
});

Deno.test("parseToml rejects malformed TOML with the line and column", () => {
  const cases: [string, RegExp][] = [
    ["a = 1\na = 2\n", /Line 2, column 1: Duplicate key "a"/],
    ["[a]\n[a]\n", /Line 2, column 1: Table "a" is defined twice/],
    ["a = \n", /Line 1, column 5: Expected a value/],
    ["a = 'x\n", /Unterminated string/],
    ['a = "x\\q"\n', /Invalid escape/],
    ["a = [1, 2\n", /Unterminated array/],
    ["a = { b = 1\n", /Unterminated inline table/],
    ["a = { b = 1 c = 2 }\n", /Expected "," or "}"/],
    ["a = 1 b = 2\n", /Expected the end of the line/],
    ["[a\n", /Expected "]"/],
    ["= 1\n", /Expected a key/],
    ["a = 01\n", /Invalid value "01"/],
    ["a = 1__0\n", /Invalid value/],
    ["a = 9223372036854775808\n", /out of range/],
    ["a = 1979-13-27\n", /Invalid value/],
    ["a = tru\n", /Invalid value "tru"/],
    ['a = """x\n', /Unterminated multi-line string/],
    ["a = 1\n[a]\n", /Table "a" is defined twice/],
    ["a = {}\n[a.b]\n", /"a" is not a table/],
    ["a = { b = 1 }\na.c = 2\n", /Cannot add to "a"/],
    ["[a]\nb = 1\n[[a]]\n", /Cannot define array of tables/],
    ["[a.b]\nz = 1\n[a]\nb.y = 2\n", /Cannot add to "a.b"/],
    ["[fruit]\napple.color = 'red'\n[fruit.apple]\n", /Table "fruit.apple" is defined twice/],
    ["a = 1\rb = 2\n", /Expected the end of the line/],
    ["a = 'x\u0001'\n", /Control character/],
    ["# bad \u0000\n", /Control character in comment/],
  ];
  for (const [text, expected] of cases) {
    assert.throws(() => parseToml(text), (e: unknown) => {
      assert.ok(e instanceof SyntaxError, `${JSON.stringify(text)} threw ${e}`);
      assert.match(e.message, expected, JSON.stringify(text));
      return true;
    });
  }
});
