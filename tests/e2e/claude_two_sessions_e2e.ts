/**
 * Two interactive Claude Code sessions with the same config (issue 14, proof
 * 4): they get two names, and each message reaches only its session.
 *
 * Run with `deno task e2e`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { World } from "./_harness.ts";
import { claudeInteractive, preseedClaude } from "./_assistants.ts";
import { startFakeAnthropic } from "./fake_models/anthropic.ts";
import { answer, marker } from "./_scripts.ts";
import { quiet, sessionsOnline } from "./_sessions.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

Deno.test(
  "two claude sessions, one config: two names, each message reaches its session only",
  opts,
  async () => {
    await using world = await World.create();
    await using modelA = startFakeAnthropic(answer("A"));
    await using modelB = startFakeAnthropic(answer("B"));
    await preseedClaude(world);
    await world.ipcOk(["setup", "claude", "--name", "claude"]);
    await world.ipcOk(["register", "bob"], { as: "bob" });
    const a = await claudeInteractive(world, modelA);
    const [nameA] = await sessionsOnline(world, 1, ["bob"]);
    const b = await claudeInteractive(world, modelB);
    const names = await sessionsOnline(world, 2, ["bob"]);
    assert.equal(new Set(names).size, 2, `two names expected: ${names}`);
    const nameB = names.find((n) => n !== nameA)!;
    const textA = marker("for-a");
    const textB = marker("for-b");
    await world.ipcOk(["send", nameA, textA], { as: "bob" });
    await world.ipcOk(["send", nameB, textB], { as: "bob" });
    // The person asks in both windows too, so this test does not depend on wake-ups.
    await a.type("any news?\r");
    await b.type("any news?\r");
    await modelA.waitFor((c) => c.main && c.raw.includes(textA), 30_000);
    await modelB.waitFor((c) => c.main && c.raw.includes(textB), 30_000);
    await quiet([modelA, modelB], 1500, 20_000);
    assert.equal(modelA.shown(textB).length, 0, `session ${nameA} was shown ${nameB}'s message`);
    assert.equal(modelB.shown(textA).length, 0, `session ${nameB} was shown ${nameA}'s message`);
  },
);
