/**
 * End-to-end: a command that finds no broker starts a detached background
 * broker (never one inside its own process), which keeps running after the
 * command exits and serves the next commands.
 */

import assert from "node:assert/strict";
import { brokerLog, freePort } from "../_helpers.ts";
import { waitFor } from "../_wait.ts";
import { CliPlace, jsonOf } from "./_cli.ts";

/** Resolves once nothing listens on `port` any more. */
async function refused(port: number, timeoutMs: number): Promise<void> {
  await waitFor(async () => {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return false;
    } catch {
      return true;
    }
  }, { timeout: timeoutMs, what: `port ${port} to close` });
}

Deno.test("the first command starts a detached broker that outlives it", async () => {
  const port = freePort();
  await using place = await CliPlace.create(port);
  let pid: number | undefined;
  try {
    // No broker on the port: `register` starts one in the background and proceeds.
    let r = await place.run("ann", ["register", "ann"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stderr,
      `agent-ipc: no broker on 127.0.0.1:${port}: starting one in the background\n`,
    );
    assert.match(r.stdout, /^Registered ann\n/);

    // The command has exited; the broker still answers, in another process.
    r = await place.run("ann", ["status", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "", "no second broker is started");
    const broker = jsonOf(r).broker as Record<string, unknown>;
    pid = broker.pid as number;
    assert.equal(typeof pid, "number");
    assert.notEqual(pid, Deno.pid);
    assert.equal(broker.port, port);
    assert.equal(broker.data_dir, place.dataDir);
    assert.equal(jsonOf(r).instance_id, "ann");
    const listening = (await brokerLog(place.dataDir)).find((r) => r.event === "listening");
    assert.deepEqual([listening?.host, listening?.port], ["127.0.0.1", port]);

    // It serves later commands of other agents too.
    r = await place.run("ben", ["register", "ben"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "");
    assert.equal((await place.run("ben", ["send", "ann", "still there?"])).code, 0);
    r = await place.run("ann", ["check"]);
    assert.match(r.stdout, /ben -> ann: still there\?\n$/);
  } finally {
    if (pid !== undefined) {
      Deno.kill(pid, "SIGTERM");
      await refused(port, 10_000); // the background broker stopped
    }
  }
});
