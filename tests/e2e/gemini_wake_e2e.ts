/**
 * Gemini CLI wakes without a person (issue 22), set up with `agent-ipc setup
 * gemini --wake`: at session start its model is told to run agent-ipc's
 * waiter in the background; when a message comes while it is idle the waiter
 * ends, Gemini starts a turn by itself, the BeforeAgent hook shows the
 * message, and the model answers with `reply` and starts the waiter again.
 * `claude -p` asks such an idle Gemini and gets the answer; Gemini asks an
 * idle interactive Claude Code and gets the answer.
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
  geminiHeadless,
  geminiInteractive,
  preseedClaude,
  preseedGemini,
} from "./_assistants.ts";
import { hookLog, quiet, sessionsOnline } from "./_sessions.ts";
import { startFakeAnthropic } from "./fake_models/anthropic.ts";
import { startFakeGemini } from "./fake_models/gemini.ts";
import type { Script } from "./fake_models/_fake_model.ts";
import {
  claudeCalls,
  claudeReplies,
  GEMINI_TOOL,
  marker,
  shownIds,
  toolResults,
} from "./_scripts.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

/** The waiter command the model was told (in backticks), if it was. */
function waiterOf(raw: string): string | undefined {
  const m = /start it again the same way each time it finishes: `([^`]+)`/.exec(raw);
  return m?.[1].replaceAll('\\"', '"');
}

/**
 * A Gemini model that does what it is told: starts the waiter in the background
 * when asked to, answers each agent-ipc message with `tag` by `reply`.
 */
function geminiWithWaiter(tag: string, answerOf: (id: string) => string): Script {
  const answered = new Set<string>();
  let started = 0;
  return (c) => {
    const last = c.last;
    if (last.kind === "user" || last.kind === "tool_result") {
      const id = shownIds(c.raw, tag).find((i) => !answered.has(i));
      if (id) {
        answered.add(id);
        return { tool: GEMINI_TOOL("reply"), input: { message_id: id, message: answerOf(id) } };
      }
      // The instruction stands in every request once given: start the waiter once per wake.
      const waiter = waiterOf(c.raw);
      const wakes = c.raw.split("New messages from other agents are waiting").length - 1;
      if (
        waiter && started <= wakes &&
        !(last.kind === "tool_result" && last.tool === "run_shell_command")
      ) {
        started++;
        return { tool: "run_shell_command", input: { command: waiter, is_background: true } };
      }
    }
    return { text: "ok" };
  };
}

Deno.test(
  "claude -p asks an idle Gemini CLI (setup --wake) and gets its answer",
  opts,
  async () => {
    await using world = await World.create();
    const tag = marker("g");
    await using geminiModel = startFakeGemini(geminiWithWaiter(tag, () => `${tag}: seven`));
    await using claudeModel = startFakeAnthropic(
      claudeCalls("ask", {
        to: "gemini",
        message: `${tag} how many days in a week?`,
        timeout_s: 60,
      }),
    );
    await preseedGemini(world);
    await preseedClaude(world);
    await world.ipcOk(["setup", "gemini", "--name", "gemini", "--wake"]);
    await world.ipcOk(["setup", "claude", "--name", "claude"]);
    await world.ipcOk(["register", "bob"], { as: "bob" });
    const pty = await geminiInteractive(world, geminiModel, { args: ["-i", "hello"] });
    await sessionsOnline(world, 1, ["bob"]).catch((e) => {
      throw new Error(`${e.message}\n--- screen ---\n${pty.screen.slice(-1500)}`);
    });
    await until(
      "the waiter",
      async () =>
        (await hookLog(world)).some((l) => l.event === "waiter" && l.outcome === "waiting") ||
        undefined,
      60_000,
      250,
    ).catch(async (e) => {
      throw new Error(
        `${e.message}\n--- screen ---\n${pty.screen.slice(-2000)}\n--- hooks.log ---\n${
          JSON.stringify(await hookLog(world))
        }\n--- model ---\n${
          geminiModel.calls.filter((c) => c.main).map((c) => JSON.stringify(c.last).slice(0, 300))
            .join("\n")
        }`,
      );
    });
    await quiet([geminiModel], 2000, 30_000);
    const t0 = Date.now();
    const r = await claudeHeadless(world, claudeModel, "ask gemini", { timeoutMs: 90_000 });
    const answers = toolResults(claudeModel.calls, "ask");
    const log = await hookLog(world);
    assert(
      answers.some((t) => t.includes(`${tag}: seven`)),
      `no answer from gemini (exit ${r.code}): ${answers.join("\n")}\n${JSON.stringify(log)}\n${
        pty.screen.slice(-1500)
      }`,
    );
    const woken = log.find((l) => l.outcome === "woken" && l.via === "gemini-waiter");
    assert(woken, "the waiter did not wake it");
    console.log(`claude -p got gemini's answer in ${Date.now() - t0} ms (whole claude -p run)`);
    // After the wake the model was told again, and started the waiter again.
    await until(
      "the waiter started again",
      async () =>
        (await hookLog(world)).filter((l) => l.event === "waiter" && l.outcome === "waiting")
            .length >=
          2 || undefined,
      30_000,
      250,
    );
  },
);

Deno.test(
  "gemini -p (setup --wake) asks an idle interactive Claude Code and gets its answer",
  opts,
  async () => {
    await using world = await World.create();
    const tag = marker("g");
    await using claudeModel = startFakeAnthropic(claudeReplies(tag, () => `${tag}: green`));
    await using geminiModel = startFakeGemini((c) =>
      c.last.kind === "user" && c.tools.includes(GEMINI_TOOL("ask"))
        ? {
          tool: GEMINI_TOOL("ask"),
          input: { to: "claude", message: `${tag} which colour?`, timeout_s: 50 },
        }
        : { text: "done" }
    );
    await preseedGemini(world);
    await preseedClaude(world);
    await world.ipcOk(["setup", "gemini", "--name", "gemini", "--wake"]);
    await world.ipcOk(["setup", "claude", "--name", "claude"]);
    await world.ipcOk(["register", "bob"], { as: "bob" });
    await claudeInteractive(world, claudeModel);
    await sessionsOnline(world, 1, ["bob"]);
    await quiet([claudeModel], 1500, 20_000);
    const t0 = Date.now();
    const r = await geminiHeadless(world, geminiModel, "ask claude which colour", {
      timeoutMs: 90_000,
    });
    const answers = toolResults(geminiModel.calls, "ask");
    assert(
      answers.some((t) => t.includes(`${tag}: green`)),
      `no answer from claude (exit ${r.code}): ${answers.join("\n")}\n${r.stderr.slice(-1500)}`,
    );
    console.log(`gemini -p got claude's answer in ${Date.now() - t0} ms (whole run)`);
  },
);
