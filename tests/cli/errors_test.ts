/**
 * End-to-end: every way a command fails, on the real program. Failures of
 * the operation exit 1 with a fix on stderr; misuse exits 2 with a hint;
 * `--json` adds one `{ok:false, code, error}` document on stdout.
 */

import assert from "node:assert/strict";
import { freePort, testBroker } from "../_helpers.ts";
import { CliPlace, jsonOf, type Result } from "./_cli.ts";

function failed(r: Result, code: number, stderr: RegExp): void {
  assert.equal(r.code, code, `exit ${r.code}; stderr: ${r.stderr}; stdout: ${r.stdout}`);
  assert.match(r.stderr, stderr);
}

Deno.test("session file problems: missing, corrupt, readable by others, revoked", async () => {
  await using b = await testBroker();
  await using place = await CliPlace.create(b.port, b.dataDir);
  const file = place.sessionFile("dave");

  // No session file: every command that needs one says how to register.
  for (const args of [["send", "bob", "x"], ["broadcast", "x"], ["check"], ["wait"], ["list"]]) {
    const r = await place.run("dave", args);
    failed(r, 1, /: not registered: run "agent-ipc register NAME" first \(no session in "/);
    assert.equal(r.stdout, "");
  }
  for (const args of [["rename", "x"], ["whoami"], ["unregister"]]) {
    const r = await place.run("dave", [...args, "--json"]);
    failed(r, 1, /not registered/);
    const doc = jsonOf(r);
    assert.equal(doc.ok, false);
    assert.equal(doc.code, "E_SESSION");
    assert.match(String(doc.error), /^not registered: run "agent-ipc register NAME" first/);
  }

  // Corrupt: refused, never overwritten; register --force replaces it.
  await Deno.writeTextFile(file, "not json at all", { mode: 0o600 });
  let r = await place.run("dave", ["whoami"]);
  failed(
    r,
    1,
    /Session file ".*session-dave" is not an agent-ipc session \(not valid JSON\): fix or delete it, or run "agent-ipc register NAME --force" to replace it/,
  );
  r = await place.run("dave", ["register", "dave"]);
  failed(r, 1, /is not an agent-ipc session/);
  assert.equal(await Deno.readTextFile(file), "not json at all");
  await Deno.writeTextFile(file, '{"instance_id": 5, "session_token": "x"}');
  failed(await place.run("dave", ["check"]), 1, /"instance_id" is not an instance name/);
  r = await place.run("dave", ["register", "dave", "--force"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(await Deno.readTextFile(file)).instance_id, "dave");
  // `status` works without a usable session and says why on stderr.
  await Deno.writeTextFile(file, "[]");
  r = await place.run("dave", ["status", "--json"]);
  assert.equal(r.code, 0);
  assert.match(r.stderr, /is not an agent-ipc session \(not a JSON object\)/);
  assert.equal(jsonOf(r).instance_id, undefined);
  assert.equal(await Deno.readTextFile(file), "[]");

  if (Deno.build.os !== "windows") {
    // Readable by others: refused until chmod 600, or replaced with --force.
    await place.run("dave", ["register", "dave", "--force"]);
    const before = await Deno.readTextFile(file);
    await Deno.chmod(file, 0o644);
    r = await place.run("dave", ["whoami"]);
    failed(
      r,
      1,
      /can be read or written by other users \(mode 0644\): run "chmod 600 .*session-dave", or "agent-ipc register NAME --force"/,
    );
    failed(await place.run("dave", ["register", "dave"]), 1, /mode 0644/);
    assert.equal(await Deno.readTextFile(file), before);
    await Deno.chmod(file, 0o600);
    assert.equal((await place.run("dave", ["whoami"])).code, 0);
  }

  // Revoked: registering the name elsewhere revokes the older session.
  const stale = place.sessionFile("dave-old");
  await Deno.copyFile(file, stale);
  assert.equal((await place.run("dave-new", ["register", "dave"])).code, 0);
  r = await place.run("dave-old", ["whoami", "--json"]);
  failed(r, 1, /The session of "dave" is no longer valid .*: run "agent-ipc register dave" again/);
  assert.equal(jsonOf(r).code, "E_SESSION");
  r = await place.run("dave-old", ["unregister"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^The session of dave was already unknown to the broker\nRemoved /);
  await assert.rejects(Deno.stat(stale), Deno.errors.NotFound);
});

Deno.test("queue full, frame cap and large messages", async () => {
  await using b = await testBroker({ queueCap: 1, maxFrame: 64 * 1024 });
  await using place = await CliPlace.create(b.port, b.dataDir);
  assert.equal((await place.run("erin", ["register", "erin"])).code, 0);

  // Queue full: the second message to the same recipient fails with exit 1.
  assert.equal((await place.run("erin", ["send", "frank", "one"])).code, 0);
  let r = await place.run("erin", ["send", "frank", "two", "--json"]);
  failed(r, 1, /^agent-ipc send: Queue of "frank" is full \(1 messages\)/);
  assert.equal(jsonOf(r).code, "E_QUEUE_FULL");

  // Over 10 KB: stored as a file; the recipient sees a summary and the path.
  assert.equal((await place.run("gina", ["register", "gina"])).code, 0);
  const big = "lorem ipsum ".repeat(1500); // 18000 bytes
  r = await place.run("erin", ["send", "gina", "-", "--json"], { stdin: big });
  assert.equal(r.code, 0, r.stderr);
  const sent = jsonOf(r);
  const large = sent.large as { path: string; size: number };
  assert.equal(large.size, big.length);
  assert.ok(large.path.startsWith(b.dataDir), large.path);
  assert.ok((await Deno.readTextFile(large.path)).includes(big.trimEnd()));
  r = await place.run("gina", ["check"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /erin -> gina: lorem ipsum lorem/);
  assert.ok(r.stdout.includes(`Full content: ${large.path}]`), r.stdout);

  // Over the broker's frame cap (64 KiB here): explained, exit 1, nothing sent.
  const huge = "x".repeat(100 * 1024);
  r = await place.run("erin", ["send", "gina", "-"], { stdin: huge });
  failed(
    r,
    1,
    /^agent-ipc send: The message is [\d.]+ KB .* over the broker's limit of 64\.0 KB \(65536 bytes; "broker --max-frame" \/ IPC_MAX_FRAME\)\. Messages over 10 KB are stored as files/,
  );
  // Over the client's own IPC_MAX_FRAME: refused before anything is sent.
  r = await place.run("erin", ["broadcast", "-", "--json"], {
    stdin: "y".repeat(5000),
    env: { IPC_MAX_FRAME: "1024" },
  });
  failed(r, 1, /over the broker's limit of 1\.0 KB \(1024 bytes/);
  assert.equal(jsonOf(r).code, "E_TOO_LARGE");
  r = await place.run("gina", ["check", "--json"]);
  assert.deepEqual(jsonOf(r).messages, []);
});

Deno.test("a port held by another program: exit 1 and how to fix it", async () => {
  // A TCP server that is not agent-ipc: answers every request as a web server would.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const serving = (async () => {
    for await (const conn of listener) {
      await conn.read(new Uint8Array(1024)).catch(() => null);
      await conn.write(new TextEncoder().encode("HTTP/1.1 400 Bad Request\r\n\r\n")).catch(() => 0);
      conn.close();
    }
  })().catch(() => {});
  await using place = await CliPlace.create(port);
  const r = await place.run("x", ["status", "--json"]);
  failed(
    r,
    1,
    /is used by another program, not an agent-ipc broker: stop it, or choose another port with --port/,
  );
  assert.equal(jsonOf(r).code, "E_UNAVAILABLE");
  listener.close();
  await serving;
});

/** Every usage error: exit 2, a message and a hint on stderr, nothing on stdout. */
const USAGE_ERRORS: [string[], RegExp][] = [
  [[], /^agent-ipc \S+: lets AI assistants .*\n\nUsage: agent-ipc COMMAND/s],
  [["frob"], /^agent-ipc: Unknown command "frob"\nRun "agent-ipc --help" for usage\.\n$/],
  [["--port", "1", "status"], /Unknown option "--port" before the command: put options after it/],
  [["--version", "x"], /^agent-ipc: Unexpected argument "x"/],
  [["help", "frob"], /^agent-ipc help: Unknown command "frob"/],
  [["help", "send", "x"], /^agent-ipc help: Unexpected argument "x"/],
  [
    ["register"],
    /^agent-ipc register: Missing arguments: usage is "agent-ipc register NAME"\nRun "agent-ipc register --help" for usage\.\n$/,
  ],
  [["register", "a", "b"], /^agent-ipc register: Unexpected argument "b"/],
  [
    ["register", "bad name!"],
    /^agent-ipc register: Invalid name "bad name!": use 1 to 32 of A-Z a-z 0-9 _ -/,
  ],
  [["register", "x".repeat(33)], /Invalid name/],
  [["register", "system"], /Name "system" is reserved/],
  [["register", "human"], /Name "human" is reserved/],
  [["register", "fred", "--bogus"], /^agent-ipc register: Unknown option '--bogus'/],
  [
    ["register", "fred", "--force=yes"],
    /^agent-ipc register: Option '--force' does not take an argument/,
  ],
  [["send"], /Missing arguments: usage is "agent-ipc send TO MESSAGE\.\.\."/],
  [["send", "bob"], /Missing arguments/],
  [["send", "bad!", "hi"], /Invalid recipient "bad!"/],
  [["send", "system", "hi"], /Cannot send to "system"/],
  [["send", "bob", "hi", "--data", "{"], /Invalid --data: not valid JSON/],
  [["send", "bob", "hi", "--data", "[1]"], /Invalid --data: must be a JSON object/],
  [["send", "bob", "hi", "--data"], /Option '--data <value>' argument missing/],
  [["send", "bob", "-"], /^agent-ipc send: The message is empty/],
  [["send", "bob", "-5", "degrees"], /Unknown option '-5'/],
  [["broadcast"], /Missing arguments: usage is "agent-ipc broadcast MESSAGE\.\.\."/],
  [["broadcast", "hi", "--to", "x"], /Unknown option '--to'/],
  [["check", "extra"], /^agent-ipc check: Unexpected argument "extra"/],
  [["check", "--limit", "0"], /Invalid --limit "0": expected a whole number from 1 to 10000/],
  [["check", "--limit", "lots"], /Invalid --limit "lots"/],
  [["check", "--peek=1"], /Option '--peek' does not take an argument/],
  [["wait", "--timeout", "soon"], /Invalid --timeout "soon": expected seconds/],
  [["wait", "--timeout", "-1"], /Option '--timeout' argument is ambiguous/],
  [["wait", "--timeout=-1"], /Invalid --timeout "-1": expected seconds, 0 or more/],
  [["wait", "--count", "0"], /Invalid --count "0"/],
  [["wait", "now"], /Unexpected argument "now"/],
  [["list", "all"], /^agent-ipc list: Unexpected argument "all"/],
  [["rename"], /Missing arguments: usage is "agent-ipc rename NEW"/],
  [["rename", "a b"], /Invalid name "a b"/],
  [["rename", "all"], /Invalid name "all"|reserved/],
  [["whoami", "--verbose"], /^agent-ipc whoami: Unknown option '--verbose'/],
  [
    ["status", "--port", "99999"],
    /Invalid --port "99999": expected a whole number from 1 to 65535/,
  ],
  [["status", "--port"], /Option '--port <value>' argument missing/],
  [["status", "--host"], /Option '--host <value>' argument missing/],
  [["unregister", "now"], /Unexpected argument "now"/],
  [["broker", "--bogus"], /^agent-ipc broker: Unknown option '--bogus'/],
  [["mcp", "--bogus"], /^agent-ipc mcp: Unknown option '--bogus'/],
  [["setup", "--bogus"], /^agent-ipc setup: /],
  [["web", "--bogus"], /^agent-ipc web: Unknown option '--bogus'/],
];

Deno.test("usage errors exit 2 with a hint, for every command", async () => {
  // A broker is running on the port, so a usage check that were missing would
  // show up as a success rather than as a spawned background broker.
  await using b = await testBroker();
  await using place = await CliPlace.create(b.port, b.dataDir);
  const cases = [...USAGE_ERRORS];
  const run = async ([args, pattern]: [string[], RegExp]) => {
    const r = await place.run("u", args, { stdin: "" });
    assert.equal(r.code, 2, `${JSON.stringify(args)}: exit ${r.code}, stderr: ${r.stderr}`);
    assert.match(r.stderr, pattern, JSON.stringify(args));
    assert.equal(r.stdout, "", JSON.stringify(args));
  };
  // A few at a time: each is a process start.
  while (cases.length) await Promise.all(cases.splice(0, 4).map(run));

  // With --json, the same errors also print one JSON document on stdout.
  for (
    const args of [["register", "--json"], ["check", "--json", "--limit", "x"], ["frob", "--json"]]
  ) {
    const r = await place.run("u", args);
    assert.equal(r.code, 2);
    const doc = jsonOf(r);
    assert.equal(doc.ok, false);
    assert.equal(doc.code, "E_USAGE");
    assert.equal(typeof doc.error, "string");
    assert.ok(r.stderr.includes(String(doc.error)), r.stderr);
  }

  // A bad IPC_* value is a usage error too.
  const r = await place.run("u", ["status"], { env: { IPC_PORT: "nine" } });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^agent-ipc status: Invalid IPC_PORT "nine"/);
});

Deno.test("--help on every command: usage, options and an example on stdout, exit 0", async () => {
  await using place = await CliPlace.create(freePort());
  const commands = [
    "register",
    "send",
    "broadcast",
    "check",
    "wait",
    "list",
    "rename",
    "whoami",
    "status",
    "unregister",
  ];
  const check = async (cmd: string) => {
    for (const args of [[cmd, "--help"], [cmd, "-h"], ["help", cmd]]) {
      const r = await place.run("h", args);
      assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
      assert.equal(r.stderr, "");
      assert.match(r.stdout, new RegExp(`^Usage: agent-ipc ${cmd}`), args.join(" "));
      assert.match(r.stdout, /\n {2}--json +print one JSON document/);
      assert.match(r.stdout, /\n {2}--session-file FILE /);
      assert.match(r.stdout, new RegExp(`\\nExample:\\n  agent-ipc ${cmd}`));
    }
  };
  const queue = [...commands];
  while (queue.length) await Promise.all(queue.splice(0, 4).map(check));
  const r = await place.run("h", ["broker", "--help"]);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^Usage: agent-ipc broker/);
});
