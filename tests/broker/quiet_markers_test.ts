import assert from "node:assert/strict";
import { join } from "node:path";
import { AgentClient } from "../../lib/client/agent_client.ts";
import { QuietMarkers } from "../../lib/broker/quiet_markers.ts";
import { type AgentRecord, writeAgentRecord } from "../../lib/state/agent_records.ts";
import { testBroker } from "../_helpers.ts";
import { NATS_SKIP_REASON, startNatsServer } from "../_nats_server.ts";
import { waitFor } from "../_wait.ts";

const PID = 4_000_001; // an assistant process of this machine, as its hooks name it

function record(name: string, pid = PID): AgentRecord {
  return {
    name,
    token: "t",
    assistant_pid: pid,
    mcp_pid: pid + 1,
    how: "as configured",
    started: new Date().toISOString(),
  };
}

const markerOf = (dataDir: string, pid = PID) => join(dataDir, "agents", `pid-${pid}.quiet`);
const exists = (path: string) => Deno.stat(path).then(() => true, () => false);

async function connect(port: number, dataDir: string, secret: string, name: string) {
  const c = await AgentClient.connect({ host: "127.0.0.1", port, dataDir, role: "none", secret });
  await c.register(name);
  return c;
}

Deno.test("quiet marker: made by an empty check, gone when a message arrives, back when the ack empties the queue", async () => {
  await using b = await testBroker();
  await writeAgentRecord(b.dataDir, record("alice"));
  await using alice = await connect(b.port, b.dataDir, b.secret, "alice");
  await using bob = await connect(b.port, b.dataDir, b.secret, "bob");
  const marker = markerOf(b.dataDir);

  await alice.check({ quietPid: PID });
  assert.equal(await Deno.readTextFile(marker), `${Deno.pid}\n`, "holds the broker's pid");
  assert.equal((await Deno.stat(marker)).mode! & 0o777, 0o600);

  await bob.send("alice", "one");
  assert.ok(!(await exists(marker)), "an arrival takes it away at once");

  const r = await alice.check({ quietPid: PID });
  assert.equal(r.messages.length, 1);
  assert.ok(!(await exists(marker)), "not while a message waits");

  await alice.ack(r.messages.map((m) => m.id), { quietPid: PID });
  assert.ok(await exists(marker), "the ack that empties the queue brings it back");

  // Without quiet_pid nothing changes; a check without it does not take it away either.
  await alice.check();
  assert.ok(await exists(marker));
  assert.equal(b.broker.service.quiet.size, 1);
});

Deno.test("quiet marker: only for the session the pid's record names", async () => {
  await using b = await testBroker();
  await writeAgentRecord(b.dataDir, record("someone-else"));
  await using alice = await connect(b.port, b.dataDir, b.secret, "alice");
  await alice.check({ quietPid: PID });
  assert.ok(!(await exists(markerOf(b.dataDir))));
  // A new session recorded for the pid takes the old session's marker away.
  await writeAgentRecord(b.dataDir, record("alice"));
  await alice.check({ quietPid: PID });
  assert.ok(await exists(markerOf(b.dataDir)));
  await writeAgentRecord(b.dataDir, record("alice-2"));
  assert.ok(!(await exists(markerOf(b.dataDir))));
});

Deno.test("quiet marker: none for a process that runs several sessions (a shell test could not tell them apart)", async () => {
  await using b = await testBroker();
  await writeAgentRecord(b.dataDir, record("alice"));
  await writeAgentRecord(b.dataDir, { ...record("window-2"), mcp_pid: PID + 2 });
  await using alice = await connect(b.port, b.dataDir, b.secret, "alice");
  await alice.check({ quietPid: PID });
  assert.ok(!(await exists(markerOf(b.dataDir))));
});

Deno.test("quiet marker: a stopping broker removes its markers; a new one removes what it finds", async () => {
  const dataDir = await Deno.makeTempDir();
  try {
    {
      await using b = await testBroker({ dataDir });
      await writeAgentRecord(dataDir, record("alice"));
      await using alice = await connect(b.port, dataDir, b.secret, "alice");
      await alice.check({ quietPid: PID });
      assert.ok(await exists(markerOf(dataDir)));
    }
    assert.ok(!(await exists(markerOf(dataDir))), "removed at stop");
    // One left behind by a broker that was SIGKILLed:
    await Deno.writeTextFile(markerOf(dataDir, PID + 7), "12345\n");
    await using _b2 = await testBroker({ dataDir });
    assert.ok(!(await exists(markerOf(dataDir, PID + 7))), "removed at start");
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("quiet markers: an arrival while the queue is read cancels the marker; the audit catches a missed one", async () => {
  const dataDir = await Deno.makeTempDir();
  try {
    await writeAgentRecord(dataDir, record("alice"));
    let depth = 0;
    const markers = new QuietMarkers({ dataDir, depth: () => Promise.resolve(depth), auditMs: 50 });
    const commit = markers.begin("alice", PID);
    markers.arrived("alice"); // lands between the interest and the count
    commit(0);
    assert.ok(!(await exists(markerOf(dataDir))), "no marker over a message");
    markers.begin("alice", PID)(0);
    assert.ok(await exists(markerOf(dataDir)));
    // A message the broker was never told of (a lost NATS notification): the audit sees it.
    depth = 1;
    await waitFor(async () => !(await exists(markerOf(dataDir))), {
      what: "the audit to drop the marker",
    });
    markers.close();
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test({
  name: "quiet marker: a message sent through another broker on the same NATS takes it away",
  ignore: NATS_SKIP_REASON !== null,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const secret = "shared";
    await using nats = await startNatsServer();
    await using a = await testBroker({ store: nats.url, secret, hostName: "machine-a" });
    await using b = await testBroker({ store: nats.url, secret, hostName: "machine-b" });
    await writeAgentRecord(a.dataDir, record("alice"));
    await using alice = await connect(a.port, a.dataDir, secret, "alice");
    await using bob = await connect(b.port, b.dataDir, secret, "bob");
    await alice.check({ quietPid: PID });
    assert.ok(await exists(markerOf(a.dataDir)));
    await bob.send("alice", "from the other machine");
    await waitFor(async () => !(await exists(markerOf(a.dataDir))), {
      what: "machine-a's broker to drop the marker",
    });
    const r = await alice.check({ quietPid: PID });
    assert.equal(r.messages[0].message.content, "from the other machine");
  },
});
