import assert from "node:assert/strict";
import {
  getJsoncValue,
  parseJsoncObject,
  removeJsoncValue,
  setJsoncValue,
} from "../../lib/setup/jsonc_text.ts";

const SETTINGS = `{
  // Gemini settings
  "theme": "dark", // mine
  "hooks": {
    "Stop": [
      { "command": "a" }
    ]
  }
}
`;

Deno.test("parseJsoncObject reads comments, refuses trailing commas and non-objects", () => {
  assert.deepEqual(parseJsoncObject(SETTINGS).theme, "dark");
  assert.deepEqual(parseJsoncObject(" \n"), {});
  assert.throws(() => parseJsoncObject('{"a": 1,}'), /^SyntaxError: Property name expected/);
  assert.throws(() => parseJsoncObject("[1]"), /^TypeError: The top level is an array/);
  assert.equal(getJsoncValue(SETTINGS, ["hooks", "Stop", 0, "command"]), "a");
  assert.equal(getJsoncValue(SETTINGS, ["nope", "x"]), undefined);
});

Deno.test("setJsoncValue edits in place, appends, creates and keeps every comment", () => {
  assert.equal(setJsoncValue(SETTINGS, ["theme"], "light"), SETTINGS.replace(`"dark"`, `"light"`));
  assert.equal(setJsoncValue(SETTINGS, ["theme"], "dark"), SETTINGS);
  assert.equal(
    setJsoncValue(SETTINGS, ["hooks", "Stop", -1], { command: "b" }),
    SETTINGS.replace(
      `{ "command": "a" }\n`,
      `{ "command": "a" },\n      {\n        "command": "b"\n      }\n`,
    ),
  );
  assert.equal(
    setJsoncValue(SETTINGS, ["general", "x"], 1),
    SETTINGS.replace(`    ]\n  }\n`, `    ]\n  },\n  "general": {\n    "x": 1\n  }\n`),
  );
  assert.equal(setJsoncValue("", ["a"], [1]), '{\n  "a": [\n    1\n  ]\n}\n');
  assert.throws(() => setJsoncValue(SETTINGS, ["theme", "x"], 1), /"theme" is a string/);
});

Deno.test("removeJsoncValue drops the lines and fixes the commas", () => {
  assert.equal(
    removeJsoncValue(SETTINGS, ["hooks"]),
    SETTINGS.replace(
      `"dark", // mine\n  "hooks": {\n    "Stop": [\n      { "command": "a" }\n    ]\n  }\n`,
      `"dark" // mine\n`,
    ),
  );
  assert.equal(
    removeJsoncValue(SETTINGS, ["theme"]),
    SETTINGS.replace(`  "theme": "dark", // mine\n`, ""),
  );
  assert.equal(
    removeJsoncValue(SETTINGS, ["hooks", "Stop", 0]),
    SETTINGS.replace(`[\n      { "command": "a" }\n    ]`, "[]"),
  );
  assert.equal(removeJsoncValue(SETTINGS, ["absent"]), SETTINGS);
  assert.equal(removeJsoncValue('{"a": 1, "b": 2}', ["b"]), '{"a": 1}');
});
