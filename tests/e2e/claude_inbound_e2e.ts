/**
 * An interactive Claude Code session whose person set `crossSessionInbound`
 * to "hold" or "refuse" (issue 22): agent-ipc's wake starts no turn (neither
 * through Claude Code's inbox socket nor by asyncRewake), list says how the
 * session is reached, and the message reaches the model at the person's next
 * prompt. Configured by `agent-ipc setup claude` alone, plus the setting.
 *
 * Run with `deno task e2e`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { until, World } from "./_harness.ts";
import { hookLog, quiet, sessionsOnline } from "./_sessions.ts";
import { claudeInteractive, preseedClaude } from "./_assistants.ts";
import { startFakeAnthropic } from "./fake_models/anthropic.ts";
import { answer, marker } from "./_scripts.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

/**
 * How long an idle session gets to (wrongly) start a turn. With "accept" the
 * same message starts one within about 1 s of the send (the wake hook polls
 * the broker every few hundred ms, then the socket nudge is under 1 s, see
 * claude_interactive_e2e.ts); 6 s is several times that, and still bounded.
 */
const NO_TURN_MS = 6_000;

for (const [value, wake] of [["hold", "claude-held"], ["refuse", "none"]] as const) {
  Deno.test(
    `claude interactive, crossSessionInbound "${value}": no turn starts; the next prompt shows the message`,
    opts,
    async () => {
      await using world = await World.create();
      await using model = startFakeAnthropic(answer());
      await preseedClaude(world);
      await world.ipcOk(["setup", "claude", "--name", "claude"]);
      const settings = JSON.parse(await world.read(".claude/settings.json"));
      await world.write(
        ".claude/settings.json",
        JSON.stringify({ ...settings, crossSessionInbound: value }, null, 2),
      );
      await world.ipcOk(["register", "bob"], { as: "bob" });
      const pty = await claudeInteractive(world, model);
      const [name] = await sessionsOnline(world, 1, ["bob"]);
      await quiet([model], 1500, 20_000);
      const reached = await until(`list to say wake ${wake}`, async () => {
        const r = await world.ipc(["list", "--json"], { as: "bob" });
        const me = JSON.parse(r.stdout).instances.find((i: { id: string }) => i.id === name);
        return me?.activity?.wake === wake ? me.activity : undefined;
      }, 20_000);
      assert.match(
        reached.wake_note,
        new RegExp(`crossSessionInbound "${value}" \\(user settings`),
      );
      const before = model.calls.length;
      const text = marker(value);
      await world.ipcOk(["send", name, text], { as: "bob" });
      await new Promise((r) => setTimeout(r, NO_TURN_MS));
      assert.equal(
        model.calls.length,
        before,
        `a turn started: ${model.calls.slice(before).map((c) => c.raw.slice(-300)).join("\n")}`,
      );
      const outcomes = (await hookLog(world)).filter((l) => l.event === "wake").map((l) =>
        l.outcome
      );
      assert(!outcomes.includes("woken"), `the wake hook woke it: ${outcomes}`);
      assert(outcomes.includes(value === "hold" ? "held" : "inbound-refuse"), `${outcomes}`);
      await pty.type("any news?\r");
      await model.waitFor((c) => c.main && c.raw.includes(text), 30_000).catch((e) => {
        throw new Error(`${e.message}\n--- screen ---\n${pty.screen.slice(-2000)}`);
      });
    },
  );
}
