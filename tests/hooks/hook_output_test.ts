import assert from "node:assert/strict";
import { HOOK_ASSISTANTS, OUTPUT_ADAPTERS } from "../../lib/hooks/hook_output.ts";
import { isCodexExec } from "../../lib/hooks/turn_events.ts";

Deno.test("hook output: each assistant's attention shape, event names and wake", () => {
  const claude = JSON.parse(OUTPUT_ADAPTERS.claude.attention!("hi", "tool", undefined));
  assert.deepEqual(claude, {
    hookSpecificOutput: { hookEventName: "PostToolUse", additionalContext: "hi" },
  });
  const named = JSON.parse(OUTPUT_ADAPTERS.codex.attention!("hi", "prompt", "UserPromptSubmit"));
  assert.equal(named.hookSpecificOutput.hookEventName, "UserPromptSubmit");
  const gemini = JSON.parse(OUTPUT_ADAPTERS.gemini.attention!("hi", "prompt", undefined));
  assert.equal(gemini.hookSpecificOutput.hookEventName, "BeforeAgent");
  assert.equal(
    JSON.parse(OUTPUT_ADAPTERS.gemini.attention!("hi", "tool", "")).hookSpecificOutput
      .hookEventName,
    "AfterTool",
  );
  assert.deepEqual(JSON.parse(OUTPUT_ADAPTERS.cursor.attention!("hi", "start", "x")), {
    additional_context: "hi",
  });
  assert.deepEqual(JSON.parse(OUTPUT_ADAPTERS.cursor.followup!("go")), { followup_message: "go" });
  assert.equal(
    OUTPUT_ADAPTERS.windsurf.attention,
    undefined,
    "Windsurf shows no model a hook's output",
  );
  for (const a of HOOK_ASSISTANTS) {
    assert.deepEqual(OUTPUT_ADAPTERS[a].wake("w"), { stderr: "w", code: 2 });
    if (a !== "cursor") assert.equal(OUTPUT_ADAPTERS[a].followup, undefined);
  }
});

Deno.test("isCodexExec: codex exec (and e) from its command line; a TUI whose first prompt says exec is not", () => {
  const bin = "/x/node_modules/@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex";
  assert.equal(isCodexExec(`${bin} exec --skip-git-repo-check say hi`), true);
  assert.equal(isCodexExec(`node /x/node_modules/.bin/codex e hi`), true);
  assert.equal(isCodexExec(`${bin} exec`), true);
  assert.equal(isCodexExec(`${bin} --no-daemon exec the tests`), false);
  assert.equal(isCodexExec(`${bin} hello`), false);
  assert.equal(
    isCodexExec(
      `/h/.codex/packages/app-server-daemon/releases/0.171.0/bin/codex app-server --listen unix://`,
    ),
    false,
  );
});
