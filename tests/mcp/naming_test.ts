import assert from "node:assert/strict";
import { AgentClient } from "../../lib/client/agent_client.ts";
import { McpAgent } from "../../lib/mcp/agent.ts";
import { PERMISSION_FLAGS } from "../../lib/permissions.ts";
import {
  listAgentRecords,
  readAgentRecord,
  recordsOf,
  writeAgentRecord,
} from "../../lib/state/agent_records.ts";
import { MAIN, type TestBroker, testBroker } from "../_helpers.ts";

function agent(b: TestBroker, name: string, pid?: number): McpAgent {
  return new McpAgent({
    client: { host: "127.0.0.1", port: b.port, dataDir: b.dataDir, secret: b.secret },
    name,
    assistant: pid === undefined ? undefined : { pid },
  });
}

async function onlineNames(b: TestBroker): Promise<string[]> {
  await using c = await AgentClient.connect({
    host: "127.0.0.1",
    port: b.port,
    dataDir: b.dataDir,
    role: "none",
    secret: b.secret,
  });
  await c.register("watcher");
  return (await c.list()).filter((i) => i.online && i.id !== "watcher").map((i) => i.id).sort();
}

Deno.test("naming: a second session with the same start-up name gets NAME-2, not the first's name", async () => {
  await using b = await testBroker();
  await using one = agent(b, "claude");
  await one.start();
  await using two = agent(b, "claude");
  await two.start();
  assert.equal(one.name, "claude");
  assert.equal(two.name, "claude-2");
  assert.match(two.how, /in use by a live session/);
  assert.deepEqual(await onlineNames(b), ["claude", "claude-2"]);
  await one.close();
  // The name is free again once its session is gone.
  await using three = agent(b, "claude");
  await three.start();
  assert.equal(three.name, "claude");
});

Deno.test("naming: the session is recorded under the assistant's pid and removed on close", async () => {
  await using b = await testBroker();
  const a = agent(b, "codex", 4242);
  await a.start();
  for (let i = 0; i < 100 && (await listAgentRecords(b.dataDir)).length === 0; i++) {
    await new Promise((r) => setTimeout(r, 20));
  }
  const [r] = await listAgentRecords(b.dataDir);
  assert.equal(r.name, "codex");
  assert.equal(r.assistant_pid, 4242);
  assert.equal(r.mcp_pid, Deno.pid);
  const info = await Deno.stat(`${b.dataDir}/agents/pid-4242-${Deno.pid}.json`);
  if (Deno.build.os !== "windows") assert.equal(info.mode! & 0o077, 0);
  await a.close();
  assert.deepEqual(await listAgentRecords(b.dataDir), []);
});

Deno.test("naming: two real MCP server processes started together with one config get two names", async () => {
  await using b = await testBroker();
  // Each under its own parent, as two assistant processes would start them.
  const cmd = [Deno.execPath(), "run", ...PERMISSION_FLAGS, MAIN, "mcp", "--name", "claude"]
    .map((a) => `'${a}'`).join(" ");
  const start = () =>
    new Deno.Command("/bin/sh", {
      args: ["-c", `${cmd} --no-http; true`],
      env: { IPC_PORT: String(b.port), IPC_DATA_DIR: b.dataDir, IPC_LOG: "silent" },
      stdin: "piped",
      stdout: "null",
      stderr: "null",
    }).spawn();
  const procs = [start(), start()];
  try {
    let names: string[] = [];
    for (let i = 0; i < 300; i++) {
      names = await onlineNames(b);
      if (names.length === 2) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.deepEqual(names, ["claude", "claude-2"]);
    let records = await listAgentRecords(b.dataDir);
    for (let i = 0; i < 100 && records.length < 2; i++) {
      await new Promise((r) => setTimeout(r, 20));
      records = await listAgentRecords(b.dataDir);
    }
    assert.deepEqual(records.map((r) => r.name).sort(), ["claude", "claude-2"]);
    assert.notEqual(records[0].assistant_pid, records[1].assistant_pid);
  } finally {
    for (const p of procs) {
      await p.stdin.close();
      await p.status;
    }
  }
});

Deno.test("naming: two servers of one assistant process (Codex's daemon) keep two records, each told its session by a tool call's _meta", async () => {
  await using b = await testBroker();
  // Both servers run in this process: the same assistant pid, told apart by their own pid only.
  // One server per process is what Codex starts; here the second's record stands in by hand.
  await using one = agent(b, "codex", 5151);
  await one.start();
  let records = await listAgentRecords(b.dataDir, 5151);
  for (let i = 0; i < 100 && records.length === 0; i++) {
    await new Promise((r) => setTimeout(r, 20));
    records = await listAgentRecords(b.dataDir, 5151);
  }
  await writeAgentRecord(b.dataDir, {
    ...records[0],
    name: "codex-2",
    mcp_pid: 999_999,
    started: new Date(Date.now() + 1000).toISOString(),
  });
  // Two sessions under one pid: the pid alone names neither.
  assert.equal(await readAgentRecord(b.dataDir, 5151), undefined);
  assert.equal((await recordsOf(b.dataDir, 5151)).length, 2);
  one.learnSessionId("01a24ee0-2b53-7851-887c-16feee2d37a8");
  for (let i = 0; i < 100; i++) {
    records = await listAgentRecords(b.dataDir, 5151);
    if (records.some((r) => r.session_id)) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const mine = records.find((r) => r.mcp_pid === Deno.pid)!;
  assert.equal(mine.session_id, "01a24ee0-2b53-7851-887c-16feee2d37a8");
  assert.equal(mine.session_from, "assistant");
  assert.equal(records.find((r) => r.mcp_pid === 999_999)!.session_id, undefined);
});

Deno.test("naming: a server's first record removes the records of dead servers of the same assistant pid", async () => {
  await using b = await testBroker();
  const dead = new Deno.Command("true").spawn();
  await dead.status;
  await writeAgentRecord(b.dataDir, {
    name: "ghost",
    token: "t",
    assistant_pid: 6262,
    mcp_pid: dead.pid,
    how: "as configured",
    started: new Date().toISOString(),
  });
  await using a = agent(b, "codex", 6262);
  await a.start();
  let records = await listAgentRecords(b.dataDir, 6262);
  for (let i = 0; i < 100 && !records.some((r) => r.name === "codex"); i++) {
    await new Promise((r) => setTimeout(r, 20));
    records = await listAgentRecords(b.dataDir, 6262);
  }
  assert.deepEqual(records.map((r) => r.name), ["codex"]);
  assert.equal((await readAgentRecord(b.dataDir, 6262))?.name, "codex");
});
