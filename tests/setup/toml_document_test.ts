import assert from "node:assert/strict";
import {
  getTomlValue,
  isArrayOfTables,
  isInlineTable,
  parseToml,
  TomlDateTime,
} from "../../lib/setup/toml_document.ts";

Deno.test("parseToml gives typed values and the lines of each definition", () => {
  const doc = parseToml(`# top
a = 1
b = 1.5
when = 1979-05-27T07:32:00Z
[t]
x = { y = "z" }
list = [
  1,
]
[[arr]]
k = true
`);
  assert.deepEqual(doc.value.a, 1n);
  assert.equal(doc.value.b, 1.5);
  assert.deepEqual(doc.value.when, new TomlDateTime("1979-05-27T07:32:00Z"));
  assert.ok(isInlineTable(getTomlValue(doc.value, ["t", "x"])));
  assert.ok(isArrayOfTables(doc.value.arr));
  assert.deepEqual(getTomlValue(doc.value, ["arr", 0, "k"]), true);
  assert.deepEqual(
    doc.spans.map((s) => [s.kind, s.path.join("."), s.line, s.endLine]),
    [
      ["keyValue", "a", 1, 1],
      ["keyValue", "b", 2, 2],
      ["keyValue", "when", 3, 3],
      ["table", "t", 4, 4],
      ["keyValue", "t.x", 5, 5],
      ["keyValue", "t.list", 6, 8],
      ["arrayTable", "arr.0", 9, 9],
      ["keyValue", "arr.0.k", 10, 10],
    ],
  );
  assert.throws(() => parseToml("a = \n"), SyntaxError);
});
