/**
 * Assistants of different vendors answer each other without a person
 * (issue 22): `claude -p` asks an idle Codex TUI (woken by `codex queue`) and
 * gets its answer; `codex exec` asks an idle interactive Claude Code session
 * (woken through its inbox socket) and gets its answer; a Claude <-> Codex
 * ping-pong of auto-replying models stops at the loop guard.
 *
 * Run with `deno task e2e`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { until, World } from "./_harness.ts";
import {
  claudeHeadless,
  claudeInteractive,
  codexHeadless,
  codexInteractive,
  preseedClaude,
  preseedCodex,
} from "./_assistants.ts";
import { hookLog, quiet, sessionsOnline } from "./_sessions.ts";
import { startFakeAnthropic } from "./fake_models/anthropic.ts";
import { startFakeOpenAI } from "./fake_models/openai.ts";
import type { FakeModel, Script } from "./fake_models/_fake_model.ts";
import {
  CLAUDE_TOOL,
  claudeCalls,
  claudeReplies,
  CODEX_NAMESPACE,
  codexCalls,
  codexReplies,
  marker,
  shownIds,
  toolResults,
} from "./_scripts.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

/** Waits until the Codex session `name` is idle with a codex-queue watcher armed. */
function codexArmed(world: World, name: string): Promise<true> {
  return until(
    `${name}'s watcher`,
    async () =>
      (await hookLog(world)).some((l) =>
        l.event === "stop" && l.outcome === "watching" && l.name === name
      ) || undefined,
    45_000,
    200,
  );
}

/** Codex and Claude Code configured by `setup` alone (as codex and claude); bob registered. */
async function setUp(world: World, codexModel: FakeModel): Promise<void> {
  await preseedCodex(world, codexModel);
  await preseedClaude(world);
  await world.ipcOk(["setup", "codex", "--name", "codex"]);
  await world.ipcOk(["setup", "claude", "--name", "claude"]);
  await world.ipcOk(["register", "bob"], { as: "bob" });
}

/** Starts the Codex TUI and waits until it is online and idle with its watcher armed. */
async function idleCodex(world: World): Promise<void> {
  await codexInteractive(world, ["hello"]);
  await sessionsOnline(world, 1, ["bob"]);
  await codexArmed(world, "codex");
}

Deno.test("claude -p asks an idle Codex TUI and gets its answer", opts, async () => {
  await using world = await World.create();
  const tag = marker("q");
  await using codexModel = startFakeOpenAI(codexReplies(tag, () => `${tag}: forty-two`));
  await using claudeModel = startFakeAnthropic(
    claudeCalls("ask", { to: "codex", message: `${tag} what is six times seven?`, timeout_s: 60 }),
  );
  await setUp(world, codexModel);
  await idleCodex(world);
  const t0 = Date.now();
  const r = await claudeHeadless(world, claudeModel, "ask codex what six times seven is", {
    timeoutMs: 90_000,
  });
  const answers = toolResults(claudeModel.calls, "ask");
  assert(
    answers.some((t) => t.includes(`${tag}: forty-two`)),
    `no answer from codex in the ask result (exit ${r.code}): ${answers.join("\n")}\n${
      r.stderr.slice(-1000)
    }\n${JSON.stringify(await hookLog(world))}`,
  );
  console.log(`claude -p got codex's answer in ${Date.now() - t0} ms (whole claude -p run)`);
});

Deno.test(
  "codex exec asks an idle interactive Claude Code session and gets its answer",
  opts,
  async () => {
    await using world = await World.create();
    const tag = marker("q");
    await using claudeModel = startFakeAnthropic(claudeReplies(tag, () => `${tag}: blue`));
    await using codexModel = startFakeOpenAI(
      codexCalls("ask", { to: "claude", message: `${tag} which colour?`, timeout_s: 50 }),
    );
    await setUp(world, codexModel);
    await claudeInteractive(world, claudeModel);
    await sessionsOnline(world, 1, ["bob"]);
    await quiet([claudeModel], 1500, 20_000);
    const t0 = Date.now();
    const r = await codexHeadless(world, "ask claude which colour", { timeoutMs: 90_000 });
    const answers = toolResults(codexModel.calls, "ask");
    assert(
      answers.some((t) => t.includes(`${tag}: blue`)),
      `no answer from claude in the ask result (exit ${r.code}): ${answers.join("\n")}\n${
        r.stderr.slice(-1000)
      }\n${JSON.stringify(await hookLog(world))}`,
    );
    const woken = (await hookLog(world)).find((l) => l.outcome === "woken" && l.name === "claude");
    console.log(
      `codex exec got claude's answer in ${
        Date.now() - t0
      } ms (whole run); claude woken via ${woken?.via}`,
    );
  },
);

/** Answers each ping-pong message it is shown (by [id], once) by sending one to `peer`. */
function pingPong(vendor: "claude" | "codex", peer: string, sent: string[]): Script {
  const answered = new Set<string>();
  let pending = false;
  const send = () => {
    const message = `ping-pong ${vendor} ${sent.length}`;
    sent.push(message);
    return vendor === "claude"
      ? { tool: CLAUDE_TOOL("send"), input: { to: peer, message } }
      : { tool: "send", namespace: CODEX_NAMESPACE, input: { to: peer, message } };
  };
  return (c) => {
    const id = shownIds(c.raw, "ping-pong").find((i) => !answered.has(i));
    if (id && c.last.kind === "user") {
      answered.add(id);
      pending = true;
    }
    if (!pending) return { text: "answered" };
    if (vendor === "codex" && c.last.kind === "user") {
      pending = false;
      return send();
    }
    if (
      vendor === "claude" &&
      (c.last.kind === "user" || c.last.kind === "tool_result" && c.last.tool === "ToolSearch")
    ) {
      if (!c.tools.includes(CLAUDE_TOOL("send"))) {
        return {
          tool: "ToolSearch",
          input: { query: `select:${CLAUDE_TOOL("send")}`, max_results: 1 },
        };
      }
      pending = false;
      return send();
    }
    return { text: "answered" };
  };
}

Deno.test("an auto-replying Claude <-> Codex ping-pong stops at the loop guard", opts, async () => {
  await using world = await World.create();
  const sent: string[] = [];
  await using claudeModel = startFakeAnthropic(pingPong("claude", "codex", sent));
  await using codexModel = startFakeOpenAI(pingPong("codex", "claude", sent));
  await setUp(world, codexModel);
  await idleCodex(world);
  await claudeInteractive(world, claudeModel);
  await sessionsOnline(world, 2, ["bob"]);
  await quiet([claudeModel, codexModel], 1500, 20_000);
  await world.ipcOk(["send", "claude", "ping-pong start"], { as: "bob" });
  const t0 = Date.now();
  await until("the first answers", () => sent.length >= 2 || undefined, 40_000);
  const calls = await quiet([claudeModel, codexModel], 12_000, 150_000);
  const log = await hookLog(world);
  const woken = log.filter((l) => l.outcome === "woken");
  const guarded = log.filter((l) =>
    (l.outcome === "not-armed" || l.outcome === "not-woken") && /loop guard/.test(String(l.reason))
  );
  console.log(
    `claude<->codex ping-pong stopped after ${sent.length} sends, ${calls} model requests, ` +
      `${Date.now() - t0} ms; wakes: ${woken.map((l) => `${l.name} via ${l.via}`).join(", ")}`,
  );
  // Both sides were woken more than once (so wakes chain across vendors), and the guard (4 wakes
  // per session in 2 minutes without a person's prompt) stopped it, not the hourly budget (20).
  assert(woken.some((l) => l.name === "codex") && woken.some((l) => l.name === "claude"));
  assert(sent.length >= 4, `they answered each other only ${sent.length} times`);
  assert(sent.length <= 12, `the guard let ${sent.length} sends through`);
  assert(guarded.length >= 1, `no hook said "loop guard": ${JSON.stringify(log.slice(-8))}`);
});
