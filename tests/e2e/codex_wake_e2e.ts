/**
 * Codex wakes without a person (issue 22): an idle interactive Codex TUI, in
 * a pseudo-terminal and configured by `agent-ipc setup codex` alone, is woken
 * by a message through `codex queue` (its Stop hook starts the watcher), its
 * model sees the message and answers it with `reply`; in daemon mode and with
 * `--no-daemon`; two windows of one config are two agents.
 *
 * Run with `deno task e2e`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { until, World } from "./_harness.ts";
import { codexInteractive, preseedCodex } from "./_assistants.ts";
import { hookLog, sessionsOnline } from "./_sessions.ts";
import { startFakeOpenAI } from "./fake_models/openai.ts";
import type { FakeModel } from "./fake_models/_fake_model.ts";
import { codexReplies, marker } from "./_scripts.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

/** Waits until `name`'s Stop hook started a codex-queue watcher (count: how many so far). */
function watching(world: World, name: string, count: number): Promise<true> {
  return until(
    `${name}'s stop hook to start watcher ${count}`,
    async () =>
      (await hookLog(world)).filter((l) =>
          l.event === "stop" && l.outcome === "watching" && l.name === name &&
          l.wake === "codex-queue"
        ).length >= count || undefined,
    45_000,
    200,
  );
}

/** bob sends `text` to `to`; resolves with ms until the model was shown it and bob's reply. */
async function wakeOnce(
  world: World,
  model: FakeModel,
  to: string,
  text: string,
): Promise<{ seenMs: number; reply: string }> {
  await world.ipcOk(["send", to, text], { as: "bob" });
  const t0 = Date.now();
  await model.waitFor((c) => c.main && c.raw.includes(text), 40_000).catch(async (e) => {
    throw new Error(`${e.message}\n--- hooks.log ---\n${JSON.stringify(await hookLog(world))}`);
  });
  const seenMs = Date.now() - t0;
  const reply = await until(
    `${to}'s reply to ${text}`,
    async () => {
      const r = await world.ipc(["check", "--json"], { as: "bob" });
      const got = r.code === 0
        ? JSON.parse(r.stdout).messages as { from: string; message: { content: string } }[]
        : [];
      // The script answers "re TAG ID": the tag is the text's first word.
      const re = `re ${text.split(" ")[0]}`;
      return got.find((m) => m.from === to && m.message.content.startsWith(re))?.message.content;
    },
    30_000,
    250,
  ).catch(async (e) => {
    const calls = model.calls.filter((c) => c.main).map((c) =>
      `${c.seq} ${JSON.stringify(c.last).slice(0, 300)}`
    );
    const last = model.calls.filter((c) => c.main && c.raw.includes(text)).at(-1)?.raw ?? "";
    throw new Error(
      `${e.message}\n--- model ---\n${calls.join("\n")}\n--- shown ---\n${
        last.slice(last.indexOf(text) - 600, last.indexOf(text) + 200)
      }\n--- hooks.log ---\n${JSON.stringify(await hookLog(world))}`,
    );
  });
  return { seenMs, reply };
}

function p50(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)];
}

for (const mode of ["daemon", "no-daemon"] as const) {
  Deno.test(
    `codex TUI (${mode}), idle: woken by messages through codex queue, the model answers with reply`,
    opts,
    async () => {
      await using world = await World.create();
      const tag = marker("wake");
      await using model = startFakeOpenAI(codexReplies(tag, (id) => `re ${tag} ${id}`));
      await preseedCodex(world, model);
      await world.ipcOk(["setup", "codex", "--name", "codex"]);
      await world.ipcOk(["register", "bob"], { as: "bob" });
      // A first prompt given on the command line: one turn, then the TUI sits idle.
      const pty = await codexInteractive(world, [
        ...(mode === "no-daemon" ? ["--no-daemon"] : []),
        "hello",
      ]);
      const [name] = await sessionsOnline(world, 1, ["bob"]);
      const rounds = mode === "daemon" ? 3 : 2;
      const times: number[] = [];
      for (let i = 1; i <= rounds; i++) {
        await watching(world, name, i).catch((e) => {
          throw new Error(`${e.message}\n--- screen ---\n${pty.screen.slice(-1500)}`);
        });
        const text = `${tag} question ${i}`;
        const { seenMs, reply } = await wakeOnce(world, model, name, text);
        assert.match(reply, new RegExp(`re ${tag}`));
        times.push(seenMs);
      }
      const log = await hookLog(world);
      const woken = log.filter((l) => l.outcome === "woken" && l.via === "codex-queue");
      assert.equal(woken.length, rounds, JSON.stringify(log));
      // The nudge names no content: the message reached the model through the prompt hook.
      assert(log.some((l) => l.event === "prompt" && l.outcome === "shown"));
      console.log(
        `codex ${mode}: message to model ${times.join(", ")} ms (p50 ${p50(times)} ms); ` +
          `codex queue took ${woken.map((l) => l.queueMs).join(", ")} ms`,
      );
    },
  );
}

Deno.test(
  "two codex windows of one config (one daemon) are two agents, each woken as itself",
  opts,
  async () => {
    await using world = await World.create();
    const tag = marker("two");
    await using model = startFakeOpenAI(codexReplies(tag, (id) => `re ${tag} ${id}`));
    await preseedCodex(world, model);
    await world.ipcOk(["setup", "codex", "--name", "codex"]);
    await world.ipcOk(["register", "bob"], { as: "bob" });
    await codexInteractive(world, ["hello"]);
    const [first] = await sessionsOnline(world, 1, ["bob"]);
    await watching(world, first, 1);
    await codexInteractive(world, ["hello"]);
    const names = await sessionsOnline(world, 2, ["bob"]);
    assert.deepEqual(names, ["codex", "codex-2"]);
    const second = names.find((n) => n !== first)!;
    await watching(world, second, 1);
    // Each window's hooks found their own session: two activity files, two threads.
    const stops = (await hookLog(world)).filter((l) =>
      l.event === "stop" && l.outcome === "watching"
    );
    const threads = new Map(stops.map((l) => [l.name, l.thread]));
    assert.equal(threads.size, 2, JSON.stringify(stops));
    assert.notEqual(threads.get(first), threads.get(second));
    // A message to the second window wakes the second window, and its answer comes from it.
    const { reply } = await wakeOnce(world, model, second, `${tag} for the second`);
    assert.match(reply, new RegExp(`re ${tag}`));
    const woken = (await hookLog(world)).filter((l) => l.outcome === "woken");
    assert.deepEqual(woken.map((l) => l.name), [second]);
  },
);
