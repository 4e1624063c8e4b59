/**
 * Errors that point the right way (issue 23, item 2), on the real program: a
 * client on the wrong port is told the running broker's port and pid at once
 * (from broker.lock, no broker started in vain); a second broker for a data
 * dir says "already running on …"; a shared secret that differs from the
 * broker's is named as the likely cause before an impostor; typos of a
 * command, an option or a recipient get "did you mean …?".
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { START_FAILED } from "../../lib/client/spawn.ts";
import { lockHolder, parseLockText } from "../../lib/state/data_dir.ts";
import { waitFor } from "../_wait.ts";
import { editDistance, nearest, parseErrorMessage } from "../../lib/suggest.ts";
import { parseArgs } from "node:util";
import { brokerLog, brokerProcess, countEvents, freePort, MAIN, testBroker } from "../_helpers.ts";
import { CliPlace, jsonOf } from "./_cli.ts";
import { PERMISSION_FLAGS } from "../../lib/permissions.ts";

Deno.test("nearest: transpositions, a missing or extra letter, prefixes; nothing far", () => {
  assert.equal(editDistance("sned", "send"), 1);
  assert.equal(editDistance("urgnet", "urgent"), 1);
  assert.deepEqual(nearest("sned", ["send", "check", "register", "status"]), ["send"]);
  assert.deepEqual(nearest("bbo", ["bob", "alice", "bobby"]), ["bob"]);
  assert.deepEqual(nearest("bob", ["bob-2", "bobby", "alice"]), ["bob-2", "bobby"]);
  assert.deepEqual(nearest("xyzzy", ["send", "check"]), []);
  assert.deepEqual(nearest("regis", ["register", "rename"]), ["register"]);
  let error: unknown;
  try {
    parseArgs({ args: ["--urgnet"], options: { urgent: { type: "boolean" } }, strict: true });
  } catch (e) {
    error = e;
  }
  assert.equal(
    parseErrorMessage(error, { urgent: {} }),
    "Unknown option '--urgnet' (did you mean --urgent?)",
  );
});

Deno.test("broker.lock names the broker's pid and, once it listens, its address", () => {
  assert.deepEqual(parseLockText("123\n127.0.0.1:43876\nbroker\n"), {
    pid: 123,
    host: "127.0.0.1",
    port: 43876,
    hostedBy: "broker",
  });
  assert.deepEqual(parseLockText("123\n"), { pid: 123 });
  assert.equal(parseLockText("garbage"), undefined);
});

Deno.test("a client on the wrong port is told where the broker of its data dir runs, at once", async () => {
  const port = freePort();
  const dir = await Deno.makeTempDir({ prefix: "ipc-wrongport-" });
  const dataDir = join(dir, "data");
  const broker = await brokerProcess(port, dataDir);
  try {
    // The broker records its address right after it binds (a connect may come first).
    await waitFor(async () => (await lockHolder(dataDir))?.port === port, {
      what: "the broker's address in broker.lock",
    });
    const wrong = freePort();
    await using place = await CliPlace.create(wrong, dataDir);
    const r = await place.run("alice", ["status"]);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(
      r.stderr.trim(),
      `agent-ipc status: A broker for this data dir is already running on 127.0.0.1:${port} ` +
        `(pid ${broker.pid}): use IPC_PORT=${port} or --port ${port}`,
    );
    // No broker was started in vain (it used to try five times, 4.6 s, then blame the data dir).
    assert.equal(countEvents(await brokerLog(dataDir), START_FAILED), 0);
    const json = await place.run("alice", ["register", "alice", "--json"]);
    assert.equal(json.code, 1);
    assert.equal(jsonOf(json).code, "E_UNAVAILABLE");

    // A second broker for the same data dir, on the same port or another one.
    for (const p of [port, freePort()]) {
      const second = await new Deno.Command(Deno.execPath(), {
        args: ["run", ...PERMISSION_FLAGS, MAIN, "broker", "--port", String(p), "--no-http"],
        env: { IPC_DATA_DIR: dataDir, IPC_LOG: "warn", NO_COLOR: "1" },
        stdout: "null",
        stderr: "piped",
      }).output();
      const err = new TextDecoder().decode(second.stderr);
      assert.equal(second.code, 1, err);
      assert.match(
        err,
        new RegExp(
          `^agent-ipc broker: cannot start: already running on 127\\.0\\.0\\.1:${port} ` +
            `\\(pid ${broker.pid}\\) with the data dir .*: "agent-ipc stop --port ${port}" stops it`,
        ),
      );
    }
  } finally {
    broker.kill("SIGTERM");
    await broker.status;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a shared secret that differs from the broker's is named first, an impostor second", async () => {
  const port = freePort();
  const dir = await Deno.makeTempDir({ prefix: "ipc-secret-" });
  const dataDir = join(dir, "data");
  const broker = await brokerProcess(port, dataDir, { env: { IPC_SHARED_SECRET: "theirs" } });
  try {
    await using place = await CliPlace.create(port, dataDir, { IPC_SHARED_SECRET: "mine" });
    const r = await place.run("alice", ["register", "alice"]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      /cannot prove it knows your shared secret\. Most likely this shell's IPC_SHARED_SECRET \(or IPC_SHARED_SECRET_FILE\) differs from the broker's secret/,
    );
    const likely = r.stderr.indexOf("Most likely");
    const rare = r.stderr.indexOf("impostor");
    assert.ok(likely >= 0 && rare > likely, r.stderr);
    // Without IPC_SHARED_SECRET here, the data dir's secret is what differs.
    await Deno.writeTextFile(join(dataDir, "secret"), "another-secret\n", { mode: 0o600 });
    await using fromFile = await CliPlace.create(port, dataDir);
    const f = await fromFile.run("bob", ["register", "bob"]);
    assert.equal(f.code, 1);
    assert.match(f.stderr, /Most likely the broker does not use this data dir's secret/);
  } finally {
    broker.kill("SIGTERM");
    await broker.status;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("typos: a command, an option, a recipient never seen", async () => {
  await using b = await testBroker();
  await using place = await CliPlace.create(b.port, b.dataDir);
  let r = await place.run("alice", ["sned", "bob", "hi"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /Unknown command "sned" \(did you mean send\?\)/);
  r = await place.run("alice", ["send", "bob", "hi", "--urgnet"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /Unknown option '--urgnet' \(did you mean --urgent\?\)/);
  assert.doesNotMatch(r.stderr, /place it at the end/);
  r = await place.run("alice", ["setup", "cluade"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /Unknown assistant "cluade" \(did you mean claude\? known: /);
  assert.equal((await place.run("bob", ["register", "bob"])).code, 0);
  assert.equal((await place.run("alice", ["register", "alice"])).code, 0);
  r = await place.run("alice", ["send", "bbo", "hi"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Message queued for bbo \(not yet registered\)/);
  assert.match(
    r.stderr,
    /warning: no instance named "bbo" has registered yet: the message waits for it up to 7 days \(did you mean bob\?\)/,
  );
  r = await place.run("alice", ["send", "bbo", "hi", "--json"]);
  assert.deepEqual(jsonOf(r).near_names, ["bob"]);
  // A known name: no warning.
  r = await place.run("alice", ["send", "bob", "hi"]);
  assert.equal(r.stderr, "");
});
