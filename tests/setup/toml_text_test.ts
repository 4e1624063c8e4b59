import assert from "node:assert/strict";
import {
  formatValue,
  getTomlValue,
  isArrayOfTables,
  isInlineTable,
  parseToml,
  removeTomlPath,
  setTomlTable,
  setTomlValue,
  TomlDateTime,
} from "../../lib/setup/toml_text.ts";

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

Deno.test("setTomlValue changes one value's characters, or adds one line", () => {
  const text = `# mine
model = "o3" # fast

[features]
# experimental
web = false

[profiles.work]
model = "gpt-5"
`;
  assert.equal(setTomlValue(text, ["model"], "o4"), text.replace(`"o3"`, `"o4"`));
  assert.equal(setTomlValue(text, ["model"], "o3"), text);
  assert.equal(
    setTomlValue(text, ["features", "codex_hooks"], true),
    text.replace("web = false\n", "web = false\ncodex_hooks = true\n"),
  );
  assert.equal(
    setTomlValue(text, ["approval_policy"], "never"),
    text.replace(`# fast\n`, `# fast\napproval_policy = "never"\n`),
  );
  assert.equal(
    setTomlValue(text, ["projects", "/src/app", "trust_level"], "trusted"),
    `${text}\n[projects."/src/app"]\ntrust_level = "trusted"\n`,
  );
  assert.throws(() => setTomlValue("f = { a = 1 }\n", ["f", "b"], 2), TypeError);
  assert.throws(
    () => setTomlValue('f = "x"\n', ["f", "b"], 2),
    /"f" is a string, expected a table/,
  );
});

Deno.test("setTomlTable and removeTomlPath replace or drop a table's lines only", () => {
  const text = `a = 1 # one

[projects."/x"]
trust_level = "untrusted" # was

# next
[b]
c = 2
`;
  const set = setTomlTable(text, ["projects", "/x"], { trust_level: "trusted" });
  assert.equal(set, text.replace(`"untrusted" # was`, `"trusted"`));
  assert.equal(removeTomlPath(set, ["projects", "/x"]), `a = 1 # one\n\n# next\n[b]\nc = 2\n`);
  assert.equal(removeTomlPath(text, ["nothing"]), text);
  assert.equal(removeTomlPath(text, ["b", "c"]), text.replace("c = 2\n", ""));
  assert.equal(formatValue([1n, 2.0, "x", { y: true }]), '[1, 2.0, "x", { y = true }]');
});
