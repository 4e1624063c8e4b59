/**
 * Two hosts, one team (issue 25): two worlds (own HOME, broker, port, data
 * dir) share one registry through a 3-node NATS JetStream cluster (R3).
 * An idle interactive Claude Code on host B, configured by `agent-ipc setup
 * claude` alone, is woken for a message sent by an agent on host A, and its
 * answer (the model calls agent-ipc's send) reaches host A.
 *
 * Run with `deno task e2e`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { World } from "./_harness.ts";
import { quiet, sessionsOnline } from "./_sessions.ts";
import { claudeInteractive, preseedClaude } from "./_assistants.ts";
import { startFakeAnthropic } from "./fake_models/anthropic.ts";
import { claudeSends, marker } from "./_scripts.ts";
import { NATS_SKIP_REASON, startNatsCluster } from "../_nats_cluster.ts";

const opts = {
  sanitizeOps: false,
  sanitizeResources: false,
  ignore: NATS_SKIP_REASON !== null,
};

Deno.test(
  "cross-host: an idle claude on host B wakes for a message from host A and answers it",
  opts,
  async () => {
    await using nats = await startNatsCluster();
    const env = { IPC_STORE: nats.url };
    await using hostA = await World.create({ env });
    await using hostB = await World.create({ env });
    const text = marker("cross-host");
    const answerText = marker("answer");
    // The model answers the woken turn (only that one) by sending to bob on host A.
    const sends = claudeSends("bob", answerText);
    await using model = startFakeAnthropic((c) =>
      c.raw.includes(text) ? sends(c) : { text: "noted" }
    );
    await preseedClaude(hostB);
    await hostB.ipcOk(["setup", "claude", "--name", "claude"]);
    await hostA.ipcOk(["register", "bob"], { as: "bob" });
    await hostB.ipcOk(["register", "carol"], { as: "carol" });
    const pty = await claudeInteractive(hostB, model);
    // Host B's list (carol's view) shows bob, registered on host A, too: one registry.
    const [name] = await sessionsOnline(hostB, 1, ["carol", "bob"]);
    const listed = await hostA.ipcOk(["list", "--json"], { as: "bob" });
    assert.ok(listed.includes(`"${name}"`), `host A sees ${name}: ${listed}`);
    await quiet([model], 1500, 20_000);

    await hostA.ipcOk(["send", name, text], { as: "bob" });
    const t0 = Date.now();
    const seen = await model.waitFor((c) => c.main && c.raw.includes(text), 15_000).catch((e) => {
      throw new Error(`${e.message}\n--- screen ---\n${pty.screen.slice(-2000)}`);
    });
    console.log(`woken across hosts in ${Date.now() - t0} ms (request ${seen.seq}) as ${name}`);
    assert.match(seen.raw, /call agent-ipc's reply tool with the message's id/);

    // The answer crosses back: bob, on host A, receives it from the claude on host B.
    const got = await hostA.ipcOk(["wait", "--timeout", "30", "--json"], {
      as: "bob",
      timeoutMs: 40_000,
    });
    assert.ok(got.includes(answerText), `bob got the answer on host A: ${got}`);
    assert.ok(got.includes(`"${name}"`), `from ${name}: ${got}`);
  },
);
