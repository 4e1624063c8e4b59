import assert from "node:assert/strict";
import { testBroker } from "../_helpers.ts";
import { writeActivity } from "../../lib/state/agent_records.ts";
import { CliPlace, jsonOf, type Result } from "./_cli.ts";

function ok(r: Result, what: string): Result {
  assert.equal(r.code, 0, `${what}: ${r.stderr}`);
  return r;
}

Deno.test("cli: send --no-wake marks the message; list and status show awake/idle and the last wake", async () => {
  await using b = await testBroker();
  await using place = await CliPlace.create(b.port, b.dataDir);
  ok(await place.run("bob", ["register", "bob"]), "register bob");
  ok(await place.run("alice", ["register", "alice"]), "register alice");
  ok(await place.run("alice", ["send", "bob", "fyi only", "--no-wake"]), "send --no-wake");
  ok(
    await place.run("alice", ["broadcast", "all hands", "--no-wake", "--data", '{"k":1}']),
    "broadcast",
  );
  const r = ok(await place.run("bob", ["check", "--json"]), "check");
  const messages = jsonOf(r).messages as { message: { data?: Record<string, unknown> } }[];
  assert.deepEqual(messages.map((m) => m.message.data), [{ no_wake: true }, {
    k: 1,
    no_wake: true,
  }]);

  const wake = Date.parse("2026-12-03T07:00:00Z");
  await writeActivity(b.dataDir, {
    name: "bob",
    state: "idle",
    since: wake + 1000,
    last_wake: wake,
    wakes: [wake],
  });
  const list = ok(await place.run("alice", ["list", "--json"]), "list --json");
  const bob = (jsonOf(list).instances as Record<string, unknown>[]).find((i) => i.id === "bob")!;
  assert.deepEqual(bob.activity, {
    state: "idle",
    since: "2026-12-03T07:00:01.000Z",
    last_wake: "2026-12-03T07:00:00.000Z",
    attention: true,
    wake: "none",
  });
  const text = ok(await place.run("alice", ["list"]), "list");
  assert.match(
    text.stdout,
    /^NAME +STATUS +QUEUED +ATTENTION +WAKE +ASSISTANT +LAST WAKE +LAST SEEN +HOST\n/,
  );
  assert.match(text.stdout, /\nbob +online|offline/);
  assert.match(text.stdout, /\nbob .* yes +none +idle +2026-12-03/);
  assert.match(text.stdout, /\nalice \(you\) .* - +- +- +- /);
  // Its hooks say how it is reached: list and whoami show it.
  await writeActivity(b.dataDir, {
    name: "bob",
    state: "idle",
    since: wake + 1000,
    last_wake: wake,
    wakes: [wake],
    assistant: "codex",
    wake: "codex-queue",
    last_wake_via: "codex-queue",
  });
  const list2 = ok(await place.run("alice", ["list"]), "list");
  assert.match(list2.stdout, /\nbob .* yes +codex-queue +idle +2026-12-03/);
  const who = ok(await place.run("bob", ["whoami"]), "whoami");
  assert.match(
    who.stdout,
    /Reached: attention yes, wake codex-queue, last wake 2026-12-03T07:00:00.000Z \(codex-queue\)/,
  );
  const status = ok(await place.run("alice", ["status", "--json"]), "status --json");
  const inst = (jsonOf(status).instances as Record<string, unknown>[]).find((i) => i.id === "bob")!;
  assert.equal((inst.activity as { state: string }).state, "idle");
});
