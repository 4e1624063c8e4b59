/**
 * The hook commands exactly as `setup` writes them, run as an assistant runs
 * them (`/bin/sh -c`, this test process playing the assistant): the shell
 * settles an empty inbox without starting Deno, and the broker's quiet marker
 * keeps that honest: a message makes the next hook show it, once; a broker
 * that died leaves no marker the shell believes.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { RUN_FLAGS } from "../../lib/permissions.ts";
import { hookCommand } from "../../lib/setup/hooks.ts";
import type { TargetId } from "../../lib/setup/targets.ts";
import { readActivity, readAllActivity, readStateStamp } from "../../lib/state/agent_records.ts";
import { brokerProcess, freePort, MAIN, registeredClient, testBroker } from "../_helpers.ts";
import { waitFor } from "../_wait.ts";
import { assistantAgent, runAsAssistant } from "./_run_as_assistant.ts";

const LAUNCH = { command: Deno.execPath(), args: ["run", ...RUN_FLAGS, MAIN, "mcp"] };
const command = (assistant: TargetId, event: string) =>
  hookCommand(LAUNCH, assistant, event, "linux");

/** Who recorded the state last: "sh" (the shell alone) or a Deno hook ("4242"). */
async function stampedBy(dataDir: string): Promise<string | undefined> {
  return (await readStateStamp(dataDir, Deno.pid))?.text.split(" ")[1];
}

const marker = (dataDir: string) => join(dataDir, "agents", `pid-${Deno.pid}.quiet`);
const exists = (path: string) => Deno.stat(path).then(() => true, () => false);

Deno.test("quiet path: the shell settles an empty inbox; a message is shown by the next hook, once", async () => {
  await using b = await testBroker();
  await using agent = await assistantAgent(b, "claude");
  await using bob = await registeredClient(b, "bob");
  const env = { IPC_PORT: String(b.port), IPC_DATA_DIR: b.dataDir };
  const tool = command("claude", "tool");
  const input = { hook_event_name: "PostToolUse", tool_name: "Bash" };

  const first = await runAsAssistant(tool, input, env);
  assert.equal(first.stdout, "");
  assert.match((await stampedBy(b.dataDir))!, /^\d+$/, "the first hook ran in Deno");
  assert.ok(await exists(marker(b.dataDir)), "and asked the broker for the marker");

  const second = await runAsAssistant(tool, input, env);
  assert.equal(second.code, 0);
  assert.equal(second.stdout + second.stderr, "");
  assert.equal(await stampedBy(b.dataDir), "sh", "settled by the shell alone");
  assert.equal((await readActivity(b.dataDir, "claude", Deno.pid))?.state, "awake");

  await bob.send("claude", "the build is green");
  const shown = await runAsAssistant(tool, input, env);
  assert.match(
    JSON.parse(shown.stdout).hookSpecificOutput.additionalContext,
    /the build is green/,
  );
  assert.equal((await agent.unread()).count, 0, "acknowledged once shown");
  assert.ok(await exists(marker(b.dataDir)), "the ack that emptied the queue brought it back");
  const after = await runAsAssistant(tool, input, env);
  assert.equal(after.stdout, "", "never shown twice");
  assert.equal(await stampedBy(b.dataDir), "sh");

  // Prompts: the person's resets the loop guard; a woken turn's (our own text) does not.
  const prompt = command("claude", "prompt");
  const before = (await readActivity(b.dataDir, "claude", Deno.pid))?.last_prompt ?? 0;
  await runAsAssistant(prompt, {
    hook_event_name: "UserPromptSubmit",
    prompt: "[agent-ipc] 1 message",
  }, env);
  assert.equal((await readActivity(b.dataDir, "claude", Deno.pid))?.last_prompt ?? 0, before);
  await new Promise((r) => setTimeout(r, 20)); // a later mtime
  await runAsAssistant(prompt, { hook_event_name: "UserPromptSubmit", prompt: "go on" }, env);
  assert.equal(await stampedBy(b.dataDir), "sh");
  assert.ok(((await readActivity(b.dataDir, "claude", Deno.pid))?.last_prompt ?? 0) > before);

  // A stop (Gemini's AfterAgent, here for the same session) records idle, which `list` shows.
  // (Codex's Stop always runs Deno: it arms the codex-queue watcher.)
  await runAsAssistant(command("gemini", "stop"), { hook_event_name: "AfterAgent" }, env);
  assert.equal(await stampedBy(b.dataDir), "sh");
  assert.equal((await readAllActivity(b.dataDir)).get("claude")?.state, "idle");
});

Deno.test("quiet path: a broker that died leaves no marker the shell believes; the new broker's session shows what waits", async () => {
  const dataDir = await Deno.makeTempDir();
  const port = freePort();
  const env = { IPC_PORT: String(port), IPC_DATA_DIR: dataDir };
  const tool = command("gemini", "tool");
  const input = { hook_event_name: "AfterTool" };
  let broker = await brokerProcess(port, dataDir);
  try {
    await using agent = await assistantAgent({ port, dataDir }, "gem");
    await runAsAssistant(tool, input, env);
    assert.equal(await Deno.readTextFile(marker(dataDir)), `${broker.pid}\n`);
    broker.kill("SIGKILL");
    await broker.status;
    const dead = await runAsAssistant(tool, input, env);
    assert.equal(dead.stdout, "");
    assert.match(await Deno.readTextFile(join(dataDir, "hooks.log")), /"no-broker"/, "Deno ran");

    broker = await brokerProcess(port, dataDir);
    // (It listens before its store is open: the old marker goes once it has started.)
    await waitFor(async () => !(await exists(marker(dataDir))), {
      what: "the new broker to remove the old marker",
    });
    // The agent's client re-registers with the new broker; a message sent there is shown.
    await waitFor(async () => {
      try {
        return (await agent.unread()).count === 0;
      } catch {
        return false;
      }
    }, { what: "the session on the new broker" });
    await using bob = await registeredClient({ port, dataDir }, "bob");
    await bob.send("gem", "after the failover");
    const shown = await runAsAssistant(tool, input, env);
    assert.match(
      JSON.parse(shown.stdout).hookSpecificOutput.additionalContext,
      /after the failover/,
    );
    assert.equal(await Deno.readTextFile(marker(dataDir)), `${broker.pid}\n`);
  } finally {
    broker.kill("SIGKILL");
    await broker.status;
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("quiet path: a waiting wake hook gives way to a turn the shell recorded", async () => {
  await using b = await testBroker();
  await using _agent = await assistantAgent(b, "claude");
  await using bob = await registeredClient(b, "bob");
  const env = { IPC_PORT: String(b.port), IPC_DATA_DIR: b.dataDir };
  const tool = command("claude", "tool");
  await runAsAssistant(tool, { hook_event_name: "PostToolUse" }, env); // arms the marker
  const wake = runAsAssistant(command("claude", "wake"), { hook_event_name: "Stop" }, env);
  await waitFor(() => b.broker.service.waiters.has("claude"), { what: "the wake hook to wait" });
  // A new turn: its tool hook is settled by the shell, and the wake hook must see it.
  await runAsAssistant(tool, { hook_event_name: "PostToolUse" }, env);
  assert.equal(await stampedBy(b.dataDir), "sh");
  await bob.send("claude", "for the next hook, not a wake");
  const r = await wake;
  assert.equal(r.code, 0, "not woken: the session is busy");
  assert.match(await Deno.readTextFile(join(b.dataDir, "hooks.log")), /"superseded"/);
  const shown = await runAsAssistant(tool, { hook_event_name: "PostToolUse" }, env);
  assert.match(shown.stdout, /for the next hook, not a wake/, "shown once, by the tool hook");
});
