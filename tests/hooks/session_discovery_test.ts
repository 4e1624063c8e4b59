import assert from "node:assert/strict";
import { type AgentRecord, writeAgentRecord } from "../../lib/state/agent_records.ts";
import { discoverSession, sessionClues } from "../../lib/hooks/session_discovery.ts";

function record(name: string, pid: number, extra: Partial<AgentRecord> = {}): AgentRecord {
  return {
    name,
    token: `t-${name}`,
    assistant_pid: pid,
    mcp_pid: pid + 1,
    how: "as configured",
    started: new Date().toISOString(),
    ...extra,
  };
}

const noWalk = () => Promise.resolve([] as number[]);

Deno.test("session discovery: the assistant's session id comes before any process guess", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeAgentRecord(dir, record("parent", 4242));
    await writeAgentRecord(dir, record("mine", 5151, { session_id: "s-1" }));
    const clues = sessionClues({ session_id: "s-1" }, {}, noWalk, 4242);
    const d = await discoverSession(dir, clues, { patienceMs: 0 });
    assert.equal(d.found?.record.name, "mine");
    assert.equal(d.found?.how, "session id s-1");
    // Without it, the parent's record.
    const byPid = await discoverSession(dir, sessionClues({}, {}, noWalk, 4242), {
      patienceMs: 0,
    });
    assert.equal(byPid.found?.record.name, "parent");
    assert.equal(byPid.found?.how, "assistant process 4242");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("session discovery: of two records with one session id, the known pid's, else the newest", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeAgentRecord(
      dir,
      record("old", 7001, { session_id: "s", started: "2026-01-01T00:00:00Z" }),
    );
    await writeAgentRecord(
      dir,
      record("new", 7002, { session_id: "s", started: "2026-02-01T00:00:00Z" }),
    );
    const newest = await discoverSession(dir, sessionClues({ session_id: "s" }, {}, noWalk, 9), {
      patienceMs: 0,
    });
    assert.equal(newest.found?.record.name, "new");
    const known = await discoverSession(
      dir,
      sessionClues({ session_id: "s" }, { CLAUDE_PID: "7001" }, noWalk, 9),
      { patienceMs: 0 },
    );
    assert.equal(known.found?.record.name, "old");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("session discovery: ancestors, the only record where none can be seen, never a guess otherwise", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeAgentRecord(dir, record("far", 8003));
    const walked = await discoverSession(
      dir,
      sessionClues({}, {}, () => Promise.resolve([8001, 8002, 8003]), 8001),
      { patienceMs: 0 },
    );
    assert.equal(walked.found?.record.name, "far");
    // The walk saw several ancestors, none recorded: not the only record.
    const none = await discoverSession(
      dir,
      sessionClues({}, {}, () => Promise.resolve([8001, 8002]), 8001),
      { patienceMs: 0 },
    );
    assert.equal(none.found, undefined);
    assert.deepEqual(!none.found && none.ancestors, [8001, 8001, 8002]);
    // Windows: only the parent is known, so the only session there is.
    const only = await discoverSession(
      dir,
      sessionClues({}, {}, () => Promise.resolve([8001]), 8001),
      { patienceMs: 0 },
    );
    assert.equal(only.found?.how, "the only agent-ipc session");
    // A told pid is exact: never the only record instead.
    const told = await discoverSession(
      dir,
      sessionClues({}, { IPC_HOOK_ASSISTANT_PID: "8001" }, () => Promise.resolve([8001]), 8001),
      { patienceMs: 0 },
    );
    assert.equal(told.found, undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("session discovery: waits for a record written after it began, and says so once", async () => {
  const dir = await Deno.makeTempDir();
  try {
    let waits = 0;
    const pending = discoverSession(dir, sessionClues({ session_id: "late" }, {}, noWalk, 9), {
      patienceMs: 5_000,
      onWait: () => {
        waits++;
        return writeAgentRecord(dir, record("late", 6001, { session_id: "late" }));
      },
    });
    const d = await pending;
    assert.equal(d.found?.record.name, "late");
    assert.equal(waits, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("session discovery: two Codex windows under one daemon pid are two sessions, each found by its thread id", async () => {
  const dir = await Deno.makeTempDir();
  const daemon = 6000;
  // Thread ids are UUIDv7: A was created 05:00:43.731, B 05:01:25.515 (UTC).
  const A = "01a24ee0-2b53-7851-887c-16feee2d37a8";
  const B = "01a24ee0-ce8b-7b63-a7b7-d63a3c956a24";
  const codex = (input: Record<string, unknown>) => ({
    ...sessionClues(input, {}, noWalk, daemon),
    strictSession: true,
  });
  try {
    await writeAgentRecord(
      dir,
      record("codex", daemon, { mcp_pid: 6001, started: "2026-12-07T05:00:45.395Z" }),
    );
    // Window B's hook comes while only A's server is recorded: it waits, never takes A's.
    const early = await discoverSession(dir, codex({ session_id: B }), { patienceMs: 0 });
    assert.equal(early.found, undefined);
    await writeAgentRecord(
      dir,
      record("codex-2", daemon, { mcp_pid: 6002, started: "2026-12-07T05:01:26.839Z" }),
    );
    const b = await discoverSession(dir, codex({ session_id: B }), { patienceMs: 0 });
    assert.equal(b.found?.record.name, "codex-2");
    const a = await discoverSession(dir, codex({ session_id: A }), { patienceMs: 0 });
    assert.equal(a.found?.record.name, "codex");
    // Bound now: found again by session id alone, as the detached watcher does.
    const again = await discoverSession(dir, codex({ session_id: B }), { patienceMs: 0 });
    assert.equal(again.found?.record.name, "codex-2");
    assert.equal(again.found?.how, `session id ${B}`);
    // Told by the environment (the watcher a stop hook starts has no stdin).
    const told = await discoverSession(
      dir,
      { ...sessionClues({}, { IPC_HOOK_SESSION_ID: A }, noWalk, 1), strictSession: true },
      { patienceMs: 0 },
    );
    assert.equal(told.found?.record.name, "codex");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
