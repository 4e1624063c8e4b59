/**
 * Headless runs of the real Claude Code, Codex and Gemini CLIs against fake
 * models, configured by `agent-ipc setup` alone (issue 14, proof 1 and 2):
 *
 * 1. (in frame_e2e.ts, in the same run as wait, thread and ask) the model
 *    calls `send` and another agent receives the message;
 * 2. a message sent to the assistant before the person's next prompt reaches
 *    the model with that prompt, without any tool call.
 *
 * Run with `deno task e2e`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { World } from "./_harness.ts";
import {
  claudeHeadless,
  codexHeadless,
  codexHooks,
  geminiHeadless,
  preseedClaude,
  preseedCodex,
  preseedGemini,
} from "./_assistants.ts";
import { startFakeAnthropic } from "./fake_models/anthropic.ts";
import { startFakeOpenAI } from "./fake_models/openai.ts";
import { startFakeGemini } from "./fake_models/gemini.ts";
import type { FakeModel } from "./fake_models/_fake_model.ts";
import type { Output } from "./_harness.ts";
import { answer, marker } from "./_scripts.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

function show(r: Output, model: FakeModel): string {
  return `exit ${r.code} after ${r.ms} ms\nstdout: ${r.stdout.slice(-1500)}\nstderr: ${
    r.stderr.slice(-1500)
  }\nmodel requests: ${
    model.calls.map((c) => `${c.seq} ${c.path} ${JSON.stringify(c.last).slice(0, 160)}`).join("\n")
  }`;
}

/** Queues `text` from bob for `to`, runs the person's prompt, and checks the model saw both at once. */
async function provesAttention(
  world: World,
  model: FakeModel,
  to: string,
  promptRun: (prompt: string) => Promise<Output>,
): Promise<void> {
  const text = marker("attention");
  await world.ipcOk(["register", "bob"], { as: "bob" });
  await world.ipcOk(["send", to, text], { as: "bob" });
  const prompt = "anything new for me?";
  const r = await promptRun(prompt);
  const first = model.calls.find((c) => c.main && c.last.kind === "user" && c.raw.includes(prompt));
  if (!first) throw new Error(`the prompt never reached the model:\n${show(r, model)}`);
  assert(
    first.raw.includes(text),
    `the model got the prompt without the message "${text}":\n${show(r, model)}`,
  );
  // It says how to answer: agent-ipc's reply by id, nothing else reaches the sender (issue 22.6).
  assert.match(
    first.raw,
    /call agent-ipc's reply tool with the message's id \(message_id \\"[0-9a-z]{7}\\"\)/,
    `no reply hint with the message:\n${show(r, model)}`,
  );
  assert(
    !model.calls.some((c) => c.last.kind === "tool_result"),
    "the model was not supposed to call any tool",
  );
  assert.equal(r.code, 0, show(r, model));
}

Deno.test("claude -p: a waiting message reaches the model with the next prompt", opts, async () => {
  await using world = await World.create();
  await using model = startFakeAnthropic(answer());
  await preseedClaude(world);
  await world.ipcOk(["setup", "claude", "--name", "claude"]);
  await provesAttention(world, model, "claude", (p) => claudeHeadless(world, model, p));
});

Deno.test(
  "codex exec: a waiting message reaches the model with the next prompt",
  opts,
  async () => {
    await using world = await World.create();
    await using model = startFakeOpenAI(answer());
    await preseedCodex(world, model);
    await world.ipcOk(["setup", "codex", "--name", "codex"]);
    await provesAttention(world, model, "codex", (p) => codexHeadless(world, p));
  },
);

Deno.test(
  "codex: Codex itself trusts every hook setup wrote, and --remove takes them out",
  opts,
  async () => {
    await using world = await World.create();
    await using model = startFakeOpenAI(answer());
    await preseedCodex(world, model);
    await world.ipcOk(["setup", "codex", "--name", "codex"]);
    const ours = (await codexHooks(world)).filter((h) => / hook codex /.test(h.command));
    const events = new Set(ours.map((h) => h.eventName));
    for (const e of ["sessionStart", "userPromptSubmit", "postToolUse", "stop"]) {
      assert(events.has(e), `no ${e} hook from setup: ${JSON.stringify(ours)}`);
    }
    for (const h of ours) assert.equal(h.trustStatus, "trusted", `${h.key} is ${h.trustStatus}`);
    await world.ipcOk(["setup", "codex", "--remove"]);
    const left = (await codexHooks(world)).filter((h) => / hook codex /.test(h.command));
    assert.deepEqual(left, [], "hooks left after --remove");
    const config = await world.read(".codex/config.toml");
    assert(!config.includes("trusted_hash"), `trust records left after --remove:\n${config}`);
  },
);

Deno.test("gemini -p: a waiting message reaches the model with the next prompt", opts, async () => {
  await using world = await World.create();
  await using model = startFakeGemini(answer());
  await preseedGemini(world);
  await world.ipcOk(["setup", "gemini", "--name", "gemini"]);
  await provesAttention(world, model, "gemini", (p) => geminiHeadless(world, model, p));
});
