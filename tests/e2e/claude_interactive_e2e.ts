/**
 * Interactive Claude Code sessions in pseudo-terminals, configured by
 * `agent-ipc setup claude` alone (issue 14, proofs 3 and 5):
 *
 * 3. an idle session, with nobody typing, shows the model a message within 10 s;
 * 5. two sessions that answer every message they are shown stop at the guard.
 *
 * Run with `deno task e2e`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { until, World } from "./_harness.ts";
import { quiet, sessionsOnline } from "./_sessions.ts";
import { claudeInteractive, preseedClaude } from "./_assistants.ts";
import { startFakeAnthropic } from "./fake_models/anthropic.ts";
import type { Script } from "./fake_models/_fake_model.ts";
import { answer, CLAUDE_TOOL, marker, shownIds } from "./_scripts.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

Deno.test(
  "claude interactive, idle: a message arrives and the model sees it within 10 s",
  opts,
  async () => {
    await using world = await World.create();
    await using model = startFakeAnthropic(answer());
    await preseedClaude(world);
    await world.ipcOk(["setup", "claude", "--name", "claude"]);
    await world.ipcOk(["register", "bob"], { as: "bob" });
    const pty = await claudeInteractive(world, model);
    const [name] = await sessionsOnline(world, 1, ["bob"]);
    await quiet([model], 1500, 20_000);
    const text = marker("wake");
    await world.ipcOk(["send", name, text], { as: "bob" });
    const t0 = Date.now();
    const seen = await model.waitFor((c) => c.main && c.raw.includes(text), 10_000).catch((e) => {
      throw new Error(`${e.message}\n--- screen ---\n${pty.screen.slice(-2000)}`);
    });
    console.log(`woken in ${Date.now() - t0} ms (request ${seen.seq}) as ${name}`);
    // The wake text says how to answer: agent-ipc's reply by id (issue 22.6).
    assert.match(seen.raw, /call agent-ipc's reply tool with the message's id/);
  },
);

/**
 * A model that answers every agent-ipc message it is shown (once each) by
 * sending one back to `peer()`. A woken turn shows it as asyncRewake's text
 * (in the user turn) or, woken through Claude Code's inbox socket, as the
 * prompt hook's context (a system block after the nudge): either way in the
 * request, with its [id].
 */
function pingPong(peer: () => string, label: string, sent: string[]): Script {
  const answered = new Set<string>();
  let pending: string | undefined;
  return (c) => {
    const id = shownIds(c.raw, "ping-pong").find((i) => !answered.has(i));
    if (id && (c.last.kind === "user" || c.last.kind === "tool_result")) {
      answered.add(id);
      pending = id;
    }
    if (
      pending &&
      (c.last.kind === "user" || c.last.kind === "tool_result" && c.last.tool === "ToolSearch")
    ) {
      if (!c.tools.includes(CLAUDE_TOOL("send"))) {
        return {
          tool: "ToolSearch",
          input: { query: `select:${CLAUDE_TOOL("send")}`, max_results: 1 },
        };
      }
      pending = undefined;
      const message = `ping-pong ${label} ${sent.length}`;
      sent.push(message);
      return { tool: CLAUDE_TOOL("send"), input: { to: peer(), message } };
    }
    return { text: "answered" };
  };
}

Deno.test("two auto-replying claude sessions: the ping-pong stops at the guard", opts, async () => {
  await using world = await World.create();
  const sent: string[] = [];
  const peers: { a: string; b: string } = { a: "", b: "" };
  await using modelA = startFakeAnthropic(pingPong(() => peers.b, "a", sent));
  await using modelB = startFakeAnthropic(pingPong(() => peers.a, "b", sent));
  await preseedClaude(world);
  await world.ipcOk(["setup", "claude", "--name", "claude"]);
  await world.ipcOk(["register", "bob"], { as: "bob" });
  await claudeInteractive(world, modelA);
  [peers.a] = await sessionsOnline(world, 1, ["bob"]);
  await claudeInteractive(world, modelB);
  peers.b = (await sessionsOnline(world, 2, ["bob"])).find((n) => n !== peers.a)!;
  await quiet([modelA, modelB], 1500, 20_000);
  await world.ipcOk(["send", peers.a, "ping-pong start"], { as: "bob" });
  const t0 = Date.now();
  await until("the first reply", () => sent.length >= 2 || undefined, 30_000);
  const calls = await quiet([modelA, modelB], 10_000, 120_000);
  console.log(
    `ping-pong stopped after ${sent.length} sends, ${calls} model requests, ${Date.now() - t0} ms`,
  );
  // Each session is woken several times (so wake-ups really chain), and the loop guard (at most 4
  // wakes per session in 2 minutes without a person's prompt) stops it long before the hourly
  // wake budget (20 per session) would: about 2 x 4 answers, not 2 x 20.
  assert(sent.length >= 4, `the sessions answered each other only ${sent.length} times`);
  assert(sent.length <= 12, `the guard let ${sent.length} sends through`);
});
