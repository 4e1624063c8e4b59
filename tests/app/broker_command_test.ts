/**
 * `agent-ipc broker` as a real process: starts on a fresh machine (data dir
 * and log directory created), answers, and stops cleanly on SIGTERM with
 * nothing half-written; usage errors exit 2.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { applyBrokerFlags, runBrokerCommand } from "../../lib/app/broker_command.ts";
import { brokerLog, brokerProcess, freePort, RawClient } from "../_helpers.ts";

Deno.test("broker process: fresh data dir, log file, SIGTERM stops it cleanly", async () => {
  const root = await Deno.makeTempDir();
  const dataDir = join(root, "not", "there", "yet");
  const port = freePort();
  const child = await brokerProcess(port, dataDir, {
    args: ["--log-file", join(dataDir, "broker.log")],
    env: { IPC_LOG: "info" },
  });
  try {
    const client = await RawClient.connect(port);
    const ping = await client.request({ action: "ping" });
    assert.equal(ping.broker, "agent-ipc");
    client.close();
    child.kill("SIGTERM");
    const status = await child.status;
    assert.equal(status.code, 0);
    const log = await brokerLog(dataDir);
    const listening = log.find((r) => r.event === "listening");
    assert.equal(listening?.host, "127.0.0.1", JSON.stringify(log));
    assert.equal(listening?.port, port);
    const events = log.map((r) => r.event);
    assert.ok(events.indexOf("shutting_down") > events.indexOf("listening"), events.join(" "));
    assert.ok(events.indexOf("stopped") > events.indexOf("shutting_down"), events.join(" "));
    if (Deno.build.os !== "windows") {
      assert.equal((await Deno.stat(dataDir)).mode! & 0o777, 0o700);
    }
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
    await child.status;
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("broker: --help exits 0 on stdout, bad flags exit 2 on stderr", async () => {
  const out: string[] = [];
  const err: string[] = [];
  const io = { stdout: (s: string) => out.push(s), stderr: (s: string) => err.push(s) };
  assert.equal(await runBrokerCommand(["--help"], io), 0);
  assert.match(out.join(""), /Usage: agent-ipc broker/);
  assert.equal(await runBrokerCommand(["--bogus"], io), 2);
  assert.equal(await runBrokerCommand(["--port", "70000"], io), 2);
  assert.match(err.join("\n"), /Invalid --port "70000"/);
});

Deno.test("broker: --nats-replicas and IPC_NATS_REPLICAS (flag over variable, auto by default)", () => {
  const env = (vars: Record<string, string>) => (name: string) => vars[name];
  assert.equal(applyBrokerFlags({}, env({})).natsReplicas, undefined);
  assert.equal(applyBrokerFlags({}, env({ IPC_NATS_REPLICAS: "3" })).natsReplicas, 3);
  assert.equal(applyBrokerFlags({}, env({ IPC_NATS_REPLICAS: "auto" })).natsReplicas, undefined);
  assert.equal(
    applyBrokerFlags({ "nats-replicas": "1" }, env({ IPC_NATS_REPLICAS: "3" })).natsReplicas,
    1,
  );
  assert.throws(() => applyBrokerFlags({ "nats-replicas": "0" }, env({})), /--nats-replicas/);
  assert.throws(() => applyBrokerFlags({}, env({ IPC_NATS_REPLICAS: "2.5" })), /IPC_NATS_REPLICAS/);
});
