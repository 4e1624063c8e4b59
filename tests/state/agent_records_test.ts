import assert from "node:assert/strict";
import {
  type AgentRecord,
  bindSession,
  listAgentRecords,
  readAgentRecord,
  uuidV7Time,
  writeAgentRecord,
} from "../../lib/state/agent_records.ts";

const THREAD_A = "01a24ee0-2b53-7851-887c-16feee2d37a8"; // 2026-12-07 05:00:43.731 UTC
const THREAD_B = "01a24ee0-ce8b-7b63-a7b7-d63a3c956a24"; // 2026-12-07 05:01:25.515 UTC

function record(mcpPid: number, started: string, extra: Partial<AgentRecord> = {}): AgentRecord {
  return {
    name: `codex-${mcpPid}`,
    token: "t",
    assistant_pid: 4000,
    mcp_pid: mcpPid,
    how: "as configured",
    started,
    ...extra,
  };
}

Deno.test("uuidV7Time: the creation time of a Codex thread id; undefined for other ids", () => {
  assert.equal(new Date(uuidV7Time(THREAD_A)!).toISOString(), "2026-12-07T05:00:43.731Z");
  assert.equal(uuidV7Time("708f37b6-2c27-43b2-9dd8-94548628cd0c"), undefined); // v4 (Claude)
  assert.equal(uuidV7Time("not an id"), undefined);
});

Deno.test("bindSession: of two unbound servers of one daemon, each thread gets the one started right after it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeAgentRecord(dir, record(11, "2026-12-07T05:00:45.395Z"));
    await writeAgentRecord(dir, record(12, "2026-12-07T05:01:26.839Z"));
    assert.equal(
      await readAgentRecord(dir, 4000),
      undefined,
      "two sessions: the pid names neither",
    );
    // The second window's hook comes first: it still gets its own server.
    assert.equal((await bindSession(dir, 4000, THREAD_B))?.mcp_pid, 12);
    assert.equal((await bindSession(dir, 4000, THREAD_A))?.mcp_pid, 11);
    const all = await listAgentRecords(dir, 4000);
    assert.deepEqual(
      all.map((r) => [r.mcp_pid, r.session_id, r.session_from]).sort(),
      [[11, THREAD_A, "hook"], [12, THREAD_B, "hook"]],
    );
    // Nothing left unbound: a third session is not given another's server.
    assert.equal(await bindSession(dir, 4000, "01a24ee1-0000-7000-8000-000000000000"), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bindSession: never a guess: two unbound servers and an id without a time, or servers older than the thread", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeAgentRecord(dir, record(21, "2026-12-07T05:00:45.395Z"));
    await writeAgentRecord(dir, record(22, "2026-12-07T05:00:46.000Z"));
    assert.equal(await bindSession(dir, 4000, "708f37b6-2c27-43b2-9dd8-94548628cd0c"), undefined);
    assert.equal(await bindSession(dir, 4000, "01a24ee1-0000-7000-8000-000000000000"), undefined);
    // One unbound server alone is bound whatever the id.
    await Deno.remove(`${dir}/agents/pid-4000-22.json`);
    assert.equal((await bindSession(dir, 4000, "some-session"))?.mcp_pid, 21);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
