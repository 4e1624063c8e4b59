import assert from "node:assert/strict";
import { hookCases } from "../../bench/scenarios/hooks.ts";
import { rowsOf } from "../../bench/scenarios/reach.ts";
import { main } from "../../bench/bench.ts";

Deno.test("bench hooks: every synchronous hook command setup writes, as it writes it", async () => {
  const cases = await hookCases();
  const of = (a: string) => cases.filter((c) => c.assistant === a).map((c) => c.event);
  assert.deepEqual(of("claude"), ["start", "prompt", "tool"], "Claude's async wake left out");
  assert.deepEqual(of("codex"), ["start", "prompt", "tool"], "Codex's wake-arming stop left out");
  assert.deepEqual(of("gemini"), ["start", "prompt", "tool", "stop"]);
  assert.deepEqual(of("cursor"), ["start", "stop"]);
  assert.deepEqual(of("windsurf"), ["stop"]);
  for (const c of cases) {
    // The start hook (once per session) and Codex's stop (it arms the wake watcher) always run
    // Deno (see lib/setup/hooks.ts).
    const always = c.event === "start" || (c.assistant === "codex" && c.event === "stop");
    if (always) assert.doesNotMatch(c.command, /quiet/);
    else assert.match(c.command, /agents\/pid-\$PPID"; if read -r p/, `${c.assistant} ${c.event}`);
    assert.match(c.command, new RegExp(` hook ${c.assistant} ${c.event}$`));
  }
});

Deno.test("bench hooks: runs, shows each message once, reports per assistant", async () => {
  const dir = await Deno.makeTempDir({ prefix: "agent-ipc-bench-test-" });
  try {
    const json = `${dir}/results.json`;
    const code = await main(["--quick", "--only", "hooks", "--json", json]);
    const report = JSON.parse(await Deno.readTextFile(json));
    assert.deepEqual(report.rows.filter((r: { metric: string }) => r.metric === "failed"), []);
    assert.equal(code, 0);
    const metrics = report.rows.map((r: { metric: string }) => r.metric).join("\n");
    for (const a of ["claude", "codex", "gemini", "cursor", "windsurf"]) {
      assert.match(metrics, new RegExp(`^${a} .*inbox empty`, "m"));
    }
    assert.match(metrics, /^windsurf.*inbox empty/m);
    assert.doesNotMatch(
      metrics,
      /^windsurf, a message to show/m,
      "Windsurf shows no model anything",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bench reach: rows against the targets", () => {
  const rows = rowsOf({
    claude_idle_wake: [600, 900],
    claude_busy: [700, 800],
    claude_tool_period: [700, 720],
    claude_prompt_plain: [100, 110],
    claude_prompt_message: [115, 130],
    codex_prompt_plain: [1000],
    codex_prompt_message: [1100],
    gemini_prompt_plain: [2000],
    gemini_prompt_message: [2010],
  });
  assert.equal(rows[0].met, true, "idle p50 under 1 s");
  assert.equal(rows[1].met, true, "busy p50 under the tool period + 50 ms");
  assert.equal(rows[2].value, "100 / 115, +15");
  assert.equal(rows[2].met, true);
  assert.equal(rows[3].met, false, "Codex: +100 ms");
  assert.equal(rows[4].met, true);
});
