import assert from "node:assert/strict";
import {
  formatValue,
  removeTomlPath,
  setTomlTable,
  setTomlValue,
} from "../../lib/setup/toml_text.ts";

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
