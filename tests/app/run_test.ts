/**
 * The dispatcher as a function: `runCli(args, io)` with a recording io, for
 * what needs no broker (help, version, usage errors). End-to-end runs of the
 * real program are in messaging_test.ts, errors_test.ts and spawn_test.ts.
 */

import assert from "node:assert/strict";
import { generalHelp, runCli } from "../../lib/app/run.ts";
import { VERSION } from "../../lib/version.ts";
import { recordingIo } from "../cli/_cli.ts";

// Point any (unexpected) connection at a closed port of an empty place.
const env = {
  IPC_PORT: "1",
  IPC_DATA_DIR: "/nonexistent/agent-ipc-test",
  IPC_SESSION_FILE: "/nonexistent/s",
};

Deno.test("runCli: version and help go to stdout with exit 0", async () => {
  let io = recordingIo(env);
  assert.equal(await runCli(["--version"], io), 0);
  assert.equal(io.out, `agent-ipc ${VERSION}\n`);
  assert.equal(io.err, "");

  io = recordingIo(env);
  assert.equal(await runCli(["help"], io), 0);
  assert.equal(io.out, generalHelp());
  for (
    const name of [
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
      "broker",
      "mcp",
      "setup",
      "web",
    ]
  ) {
    assert.match(io.out, new RegExp(`\\n  ${name}\\b`), name);
  }

  io = recordingIo(env);
  assert.equal(await runCli(["--help"], io), 0);
  assert.equal(io.out, generalHelp());

  io = recordingIo(env);
  assert.equal(await runCli(["help", "wait", "--json"], io), 0);
  const doc = JSON.parse(io.out);
  assert.equal(doc.ok, true);
  assert.match(doc.help, /^Usage: agent-ipc wait /);

  io = recordingIo(env);
  assert.equal(await runCli(["help", "broker"], io), 0);
  assert.match(io.out, /^Usage: agent-ipc broker/);
});

Deno.test("runCli: `help COMMAND` and `COMMAND --help` print the same text", async () => {
  for (
    const name of [
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
    ]
  ) {
    const a = recordingIo(env);
    const b = recordingIo(env);
    assert.equal(await runCli(["help", name], a), 0);
    assert.equal(await runCli([name, "--help"], b), 0);
    assert.equal(a.out, b.out, name);
    assert.match(a.out, /\nExample:\n/);
  }
});

Deno.test("runCli: usage errors exit 2 before anything connects", async () => {
  const cases: [string[], RegExp][] = [
    [[], /^agent-ipc \S+: lets AI/],
    [["nope"], /Unknown command "nope"/],
    [["send", "bob"], /Missing arguments/],
    [["check", "--unknown"], /Unknown option '--unknown'/],
    [["wait", "--count", "1.5"], /Invalid --count "1.5"/],
    [["register", "all"], /Name "all" is reserved/],
  ];
  for (const [args, pattern] of cases) {
    const io = recordingIo(env);
    assert.equal(await runCli(args, io), 2, args.join(" "));
    assert.match(io.err, pattern);
    assert.equal(io.out, "");
  }
  const io = recordingIo(env);
  assert.equal(await runCli(["send", "bob", "-", "--json"], io), 2);
  assert.deepEqual(JSON.parse(io.out), {
    ok: false,
    code: "E_USAGE",
    error: "The message is empty",
  });
});

Deno.test("runCli: the environment comes from io, not the process", async () => {
  const io = recordingIo({ ...env, IPC_PORT: "70000" });
  assert.equal(await runCli(["status"], io), 2);
  assert.match(io.err, /Invalid IPC_PORT "70000"/);
});

Deno.test("runCli: broker, mcp, setup and web are dispatched with the injected io", async () => {
  for (const name of ["broker", "mcp", "setup", "web"]) {
    for (const args of [["help", name], [name, "--help"]]) {
      const io = recordingIo({ ...env, HOME: "/nonexistent" });
      assert.equal(await runCli(args, io), 0, `${args.join(" ")}: ${io.err}`);
      assert.match(io.out, new RegExp(`^Usage: agent-ipc ${name}`), args.join(" "));
    }
    const io = recordingIo({ ...env, HOME: "/nonexistent" });
    assert.equal(await runCli([name, "--bogus"], io), 2, name);
    assert.match(io.err, new RegExp(`^agent-ipc ${name}: Unknown option '--bogus'`));
  }
});
