/**
 * End-to-end: agents on the real program (spawned with docs/install.md's
 * permission flags) talking through a real broker on a free port.
 */

import assert from "node:assert/strict";
import { testBroker } from "../_helpers.ts";
import { waitFor } from "../_wait.ts";
import { VERSION } from "../../lib/version.ts";
import { CliPlace, jsonOf, type Result } from "./_cli.ts";

/** The time and the short id that start every printed message. */
const STAMP = String.raw`\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ\] #[0-9a-z]{7}`;

function ok(r: Result, what: string): Result {
  assert.equal(r.code, 0, `${what}: exit ${r.code}, stderr: ${r.stderr}`);
  assert.equal(r.stderr, "", `${what}: unexpected stderr`);
  return r;
}

Deno.test("two agents exchange messages, rename and broadcast; a third gets its future messages", async () => {
  await using b = await testBroker();
  await using place = await CliPlace.create(b.port, b.dataDir);

  // register: human and --json output; the session file is private and in the original's format.
  let r = ok(await place.run("alice", ["register", "alice"]), "register alice");
  assert.equal(r.stdout, `Registered alice\nSession saved to ${place.sessionFile("alice")}\n`);
  const saved = JSON.parse(await Deno.readTextFile(place.sessionFile("alice")));
  assert.deepEqual(Object.keys(saved).sort(), ["instance_id", "session_token"]);
  assert.equal(saved.instance_id, "alice");
  if (Deno.build.os !== "windows") {
    assert.equal((await Deno.stat(place.sessionFile("alice"))).mode! & 0o777, 0o600);
  }
  r = ok(await place.run("bob", ["register", "bob", "--json"]), "register bob");
  assert.deepEqual(jsonOf(r), {
    ok: true,
    message: "Registered bob",
    instance_id: "bob",
    queued: 0,
    session_file: place.sessionFile("bob"),
  });

  // send: to a registered agent, and to one that has not registered yet.
  r = ok(await place.run("alice", ["send", "bob", "hello", "bob"]), "send");
  assert.match(r.stdout, /^Message sent to bob \(#[0-9a-z]{7}\)\n$/);
  r = ok(await place.run("alice", ["send", "carol", "welcome carol", "--json"]), "send future");
  const future = jsonOf(r);
  assert.equal(future.ok, true);
  assert.equal(future.to, "carol");
  assert.equal(future.queued_for_future, true);
  assert.equal(future.message, "Message queued for carol (not yet registered)");
  assert.match(String(future.message_id), /\S+/);

  // check --peek leaves it; check --json acknowledges it; then nothing is left.
  r = ok(await place.run("bob", ["check", "--peek"]), "check --peek");
  assert.match(
    r.stdout,
    new RegExp(`^${STAMP} alice -> bob: hello bob\\n\\(peek: 1 message left in the queue\\)\\n$`),
  );
  r = ok(await place.run("bob", ["check", "--json"]), "check --json");
  const checked = jsonOf(r);
  assert.equal(checked.acked, true);
  assert.equal(checked.remaining, 0);
  const [m] = checked.messages as Record<string, unknown>[];
  assert.equal(m.from, "alice");
  assert.equal(m.to, "bob");
  assert.deepEqual(m.message, { content: "hello bob" });
  assert.match(String(m.timestamp), /^\d{4}-\d\d-\d\dT/);
  r = ok(await place.run("bob", ["check"]), "check empty");
  assert.equal(r.stdout, "No new messages\n");

  // send - reads stdin (one trailing newline dropped); data is shown as JSON.
  r = ok(
    await place.run("bob", ["send", "alice", "-", "--data", '{"pr":42}'], {
      stdin: "reply\nline two\n",
    }),
    "send -",
  );
  r = ok(await place.run("alice", ["check"]), "alice check");
  assert.match(
    r.stdout,
    new RegExp(`^${STAMP} bob -> alice: reply\\n  line two\\n  data: \\{"pr":42\\}\\n$`),
  );

  // "--" lets a message start with "-".
  ok(await place.run("bob", ["send", "alice", "--", "-5", "degrees"]), "send --");
  r = ok(await place.run("alice", ["check"]), "alice check --");
  assert.match(r.stdout, /bob -> alice: -5 degrees\n$/);

  // rename: the session file follows, others are told, the old name forwards.
  r = ok(await place.run("alice", ["rename", "alice2"]), "rename");
  assert.match(
    r.stdout,
    /^Renamed alice to alice2\nMessages to "alice" are forwarded to "alice2" until \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ\n$/,
  );
  assert.equal(
    JSON.parse(await Deno.readTextFile(place.sessionFile("alice"))).instance_id,
    "alice2",
  );
  r = ok(await place.run("alice", ["whoami", "--json"]), "whoami");
  assert.deepEqual(jsonOf(r), {
    ok: true,
    instance_id: "alice2",
    queued: 0,
    session_file: place.sessionFile("alice"),
  });
  r = ok(await place.run("bob", ["check", "--json"]), "rename notice");
  const [notice] = jsonOf(r).messages as Record<string, unknown>[];
  assert.equal(notice.from, "system");
  assert.deepEqual((notice.message as Record<string, unknown>).data, {
    event: "rename",
    old_id: "alice",
    new_id: "alice2",
  });
  r = ok(await place.run("bob", ["send", "alice", "to the old name"]), "send to old name");
  assert.match(r.stdout, /^Message forwarded from alice to alice2 \(#[0-9a-z]{7}\)\n$/);
  r = ok(await place.run("alice", ["check"]), "forwarded");
  assert.match(r.stdout, /bob -> alice2: to the old name\n$/);

  // broadcast reaches the registered others only.
  r = ok(await place.run("alice", ["broadcast", "hi", "all"]), "broadcast");
  assert.equal(r.stdout, "Broadcast to 1 instance: bob\n");
  r = ok(await place.run("bob", ["broadcast", "from bob", "--json"]), "broadcast --json");
  assert.deepEqual(jsonOf(r), {
    ok: true,
    message: "Broadcast to 1 instances",
    delivered: ["alice2"],
    missed: [],
  });
  r = ok(await place.run("bob", ["check"]), "bob gets broadcast");
  assert.match(r.stdout, new RegExp(`^${STAMP} alice2 -> bob: hi all\\n$`));

  // carol registers later and finds the message sent before she existed.
  r = ok(await place.run("carol", ["register", "carol"]), "register carol");
  assert.equal(
    r.stdout,
    `Registered carol (1 message waiting: "agent-ipc check")\nSession saved to ${
      place.sessionFile("carol")
    }\n`,
  );
  r = ok(await place.run("carol", ["check"]), "carol check");
  assert.match(r.stdout, new RegExp(`^${STAMP} alice -> carol: welcome carol\\n$`));
  r = ok(await place.run("carol", ["send", "bob", "thanks"]), "carol sends");

  // list and status, human and --json.
  r = ok(await place.run("carol", ["list", "--json"]), "list --json");
  const instances = jsonOf(r).instances as Record<string, unknown>[];
  assert.deepEqual(instances.map((i) => i.id).sort(), ["alice2", "bob", "carol"]);
  assert.equal(instances.find((i) => i.id === "bob")!.queued, 1);
  r = ok(await place.run("carol", ["list"]), "list");
  assert.match(r.stdout, /^NAME +STATUS +QUEUED +LAST SEEN +HOST\n/);
  assert.match(r.stdout, /\ncarol \(you\) +online +0 /);
  assert.match(r.stdout, /\nbob +offline +1 /);
  r = ok(await place.run("carol", ["status", "--json"]), "status --json");
  const status = jsonOf(r);
  const broker = status.broker as Record<string, unknown>;
  assert.equal(broker.port, b.port);
  assert.equal(broker.pid, Deno.pid);
  assert.equal(broker.version, VERSION);
  assert.equal(broker.data_dir, b.dataDir);
  assert.equal(broker.store, "sqlite");
  assert.equal(typeof broker.uptime_s, "number");
  assert.equal(status.instance_id, "carol");
  assert.equal((status.instances as unknown[]).length, 3);
  r = ok(await place.run("carol", ["status"]), "status");
  assert.match(
    r.stdout,
    new RegExp(
      `^Broker: +127\\.0\\.0\\.1:${b.port} \\(agent-ipc ${VERSION}, pid ${Deno.pid}\\)\\n`,
    ),
  );
  assert.match(r.stdout, /\nUptime: +\d+s\n/);
  assert.match(r.stdout, /\nStore: +sqlite \(/);
  assert.match(r.stdout, /\nYou: +carol \(session in /);
  assert.match(r.stdout, /\n3 instances, 2 messages queued\n/);

  // unregister: the session ends and the file goes; afterwards carol is told to register.
  r = ok(await place.run("carol", ["unregister"]), "unregister");
  assert.equal(r.stdout, `Unregistered carol\nRemoved ${place.sessionFile("carol")}\n`);
  await assert.rejects(Deno.stat(place.sessionFile("carol")), Deno.errors.NotFound);
  r = await place.run("carol", ["whoami"]);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, "");
  assert.match(r.stderr, /^agent-ipc whoami: not registered: run "agent-ipc register NAME" first/);
  r = await place.run("carol", ["whoami", "--json"]);
  assert.equal(r.code, 1);
  assert.equal(jsonOf(r).code, "E_SESSION");
  assert.equal(jsonOf(r).ok, false);
});

Deno.test("wait returns the first batch, times out with exit 0, follows until --count or Ctrl-C", async () => {
  await using b = await testBroker();
  await using place = await CliPlace.create(b.port, b.dataDir);
  ok(await place.run("alice", ["register", "alice"]), "register alice");
  ok(await place.run("bob", ["register", "bob"]), "register bob");

  let r = ok(await place.run("bob", ["wait", "--timeout", "0.3"]), "wait timeout");
  assert.equal(r.stdout, "No messages within 0.3 s\n");
  r = ok(await place.run("bob", ["wait", "--timeout", "0", "--json"]), "wait --json timeout");
  assert.deepEqual(jsonOf(r), { ok: true, messages: [], acked: false, timed_out: true });

  // One batch: it returns as soon as a message arrives, and acknowledges it.
  const once = place.start("bob", ["wait", "--timeout", "30"]);
  await waitForWaiter(b.broker.service, 1);
  ok(await place.run("alice", ["send", "bob", "ping"]), "send ping");
  r = await once.done();
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^${STAMP} alice -> bob: ping\\n$`));
  assert.equal(ok(await place.run("bob", ["check"]), "acked").stdout, "No new messages\n");

  // --follow --count 2 --json: one JSON document per line, one per batch.
  const counted = place.start("bob", ["wait", "--follow", "--count", "2", "--json"]);
  await waitForWaiter(b.broker.service, 1);
  ok(await place.run("alice", ["send", "bob", "one"]), "send one");
  await counted.waitFor(/"one"/);
  ok(await place.run("alice", ["send", "bob", "two"]), "send two");
  r = await counted.done();
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(lines.length, 2);
  for (const line of lines) {
    assert.equal(line.ok, true);
    assert.equal(line.acked, true);
    assert.equal(line.timed_out, false);
  }
  assert.deepEqual(
    lines.flatMap((l) =>
      l.messages.map((m: { message: { content: string } }) => m.message.content)
    ),
    ["one", "two"],
  );

  // --follow prints each message as it arrives and stops cleanly on Ctrl-C.
  const follow = place.start("bob", ["wait", "--follow"]);
  await waitForWaiter(b.broker.service, 1);
  ok(await place.run("alice", ["send", "bob", "first"]), "send first");
  await follow.waitFor(/alice -> bob: first\n/);
  ok(await place.run("alice", ["send", "bob", "second"]), "send second");
  await follow.waitFor(/alice -> bob: second\n/);
  await waitForWaiter(b.broker.service, 1);
  follow.child.kill("SIGINT");
  r = await follow.done();
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, "");
  assert.match(
    r.stdout,
    new RegExp(`^${STAMP} alice -> bob: first\\n${STAMP} alice -> bob: second\\n$`),
  );
  assert.equal(ok(await place.run("bob", ["check"]), "follow acked").stdout, "No new messages\n");
});

/** Waits until `n` wait requests are parked on the broker (the waiter is listening). */
async function waitForWaiter(service: { waiters: { size: number } }, n: number): Promise<void> {
  await waitFor(() => service.waiters.size >= n, { timeout: 15_000, what: `${n} parked waits` });
}

Deno.test("--version and help list every command", async () => {
  await using place = await CliPlace.create(1);
  let r = ok(await place.run("x", ["--version"]), "--version");
  assert.equal(r.stdout, `agent-ipc ${VERSION}\n`);
  r = ok(await place.run("x", ["--version", "--json"]), "--version --json");
  assert.deepEqual(jsonOf(r), { ok: true, version: VERSION });
  r = ok(await place.run("x", ["help"]), "help");
  for (
    const cmd of [
      "register NAME",
      "send TO MESSAGE",
      "broadcast MESSAGE",
      "check",
      "wait",
      "list",
      "rename NEW",
      "whoami",
      "status",
      "unregister",
      "broker",
      "mcp",
      "setup",
      "web",
      "help [COMMAND]",
      "--version",
    ]
  ) {
    assert.match(r.stdout, new RegExp(`\\n  ${cmd.replace(/[[\]]/g, "\\$&")}`), cmd);
  }
  assert.match(r.stdout, /Exit status: 0 success, 1 the operation failed, 2 usage error/);
});
