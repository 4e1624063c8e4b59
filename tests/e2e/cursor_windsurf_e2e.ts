/**
 * Cursor and Windsurf (no CLI to run headless): the hook files `agent-ipc
 * setup` writes follow each assistant's documented schema, and their commands,
 * run as the assistant runs them (a shell, the documented JSON on stdin, the
 * MCP server started by the same process), answer in the documented format.
 *
 * Run with `deno task e2e`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { until, World } from "./_harness.ts";
import { marker } from "./_scripts.ts";
import { projectDir } from "./_assistants.ts";
import { mcpInitialize } from "../_helpers.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const dec = new TextDecoder();

/** Cursor's documented agent hook events (hooks.json `version: 1`). */
const CURSOR_EVENTS = new Set([
  "sessionStart",
  "sessionEnd",
  "beforeSubmitPrompt",
  "beforeShellExecution",
  "afterShellExecution",
  "beforeMCPExecution",
  "afterMCPExecution",
  "beforeReadFile",
  "afterFileEdit",
  "afterAgentResponse",
  "afterAgentThought",
  "stop",
]);
/** Windsurf's documented Cascade hook events. */
const WINDSURF_EVENTS = new Set([
  "pre_read_code",
  "post_read_code",
  "pre_write_code",
  "post_write_code",
  "pre_run_command",
  "post_run_command",
  "pre_mcp_tool_use",
  "post_mcp_tool_use",
  "pre_user_prompt",
  "post_cascade_response",
]);

/** Starts the MCP server the way the assistant would, from its mcp.json entry. */
async function startMcp(world: World, mcpJson: string): Promise<Deno.ChildProcess> {
  const entry = JSON.parse(await world.read(mcpJson)).mcpServers["agent-ipc"];
  const child = new Deno.Command(entry.command, {
    args: entry.args,
    env: world.env(entry.env ?? {}),
    clearEnv: true,
    cwd: projectDir(world),
    stdin: "piped",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const w = child.stdin.getWriter();
  const line = (m: unknown) => w.write(new TextEncoder().encode(JSON.stringify(m) + "\n"));
  await line(mcpInitialize("e2e"));
  await line({ jsonrpc: "2.0", method: "notifications/initialized" });
  w.releaseLock();
  return child;
}

/** Runs a hook command through a shell, as the assistant does, with `input` on stdin. */
async function runHook(world: World, command: string, input: unknown) {
  const child = new Deno.Command("sh", {
    args: ["-c", command],
    env: world.env(),
    clearEnv: true,
    cwd: projectDir(world),
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(JSON.stringify(input)));
  await w.close();
  const t0 = Date.now();
  const out = await child.output();
  return {
    code: out.code,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
    ms: Date.now() - t0,
  };
}

async function stop(child: Deno.ChildProcess): Promise<void> {
  await child.stdin.close().catch(() => {});
  try {
    child.kill("SIGTERM");
  } catch { /* gone */ }
  await child.status;
}

Deno.test(
  "cursor: hooks.json has Cursor's schema; sessionStart and stop show a waiting message",
  opts,
  async () => {
    await using world = await World.create();
    await Deno.mkdir(projectDir(world), { recursive: true });
    await world.ipcOk(["setup", "cursor", "--name", "cursor"]);
    const file = JSON.parse(await world.read(".cursor/hooks.json"));
    assert.equal(file.version, 1);
    for (const [event, entries] of Object.entries(file.hooks as Record<string, unknown[]>)) {
      assert(CURSOR_EVENTS.has(event), `unknown Cursor hook event ${event}`);
      for (const e of entries as Record<string, unknown>[]) {
        assert.equal(typeof e.command, "string", `${event}: command`);
        for (const k of Object.keys(e)) {
          assert(
            ["command", "timeout", "loop_limit", "type", "matcher"].includes(k),
            `${event}: ${k}`,
          );
        }
      }
    }
    const ours = (event: string) =>
      ((file.hooks[event] ?? []) as { command: string }[]).find((e) =>
        / hook cursor /.test(e.command)
      );
    const sessionStart = ours("sessionStart");
    const stopHook = ours("stop");
    assert(
      sessionStart && stopHook,
      `setup wrote no sessionStart/stop hook: ${JSON.stringify(file)}`,
    );

    await world.ipcOk(["register", "bob"], { as: "bob" });
    const mcp = await startMcp(world, ".cursor/mcp.json");
    try {
      await until(
        "the cursor session online",
        async () => {
          const r = await world.ipc(["list", "--json"], { as: "bob" });
          return r.code === 0 &&
              JSON.parse(r.stdout).instances.some((i: { id: string; online: boolean }) =>
                i.id === "cursor" && i.online
              )
            ? true
            : undefined;
        },
        30_000,
        250,
      );
      const common = {
        conversation_id: crypto.randomUUID(),
        generation_id: crypto.randomUUID(),
        workspace_roots: [projectDir(world)],
        cursor_version: "1.7.0",
      };
      const first = marker("cursor-start");
      await world.ipcOk(["send", "cursor", first], { as: "bob" });
      const started = await runHook(world, sessionStart.command, {
        ...common,
        hook_event_name: "sessionStart",
      });
      assert.equal(started.code, 0, started.stderr);
      assert(
        String(JSON.parse(started.stdout).additional_context).includes(first),
        `sessionStart output: ${started.stdout}`,
      );
      const second = marker("cursor-stop");
      await world.ipcOk(["send", "cursor", second], { as: "bob" });
      const stopped = await runHook(world, stopHook.command, {
        ...common,
        hook_event_name: "stop",
        status: "completed",
        loop_count: 0,
      });
      assert.equal(stopped.code, 0, stopped.stderr);
      assert(
        String(JSON.parse(stopped.stdout).followup_message).includes(second),
        `stop output: ${stopped.stdout}`,
      );
    } finally {
      await stop(mcp);
    }
  },
);

Deno.test(
  "windsurf: hooks.json has Windsurf's schema; post_cascade_response exits 0 at once",
  opts,
  async () => {
    await using world = await World.create();
    await Deno.mkdir(projectDir(world), { recursive: true });
    await world.ipcOk(["setup", "windsurf", "--name", "windsurf"]);
    const file = JSON.parse(await world.read(".codeium/windsurf/hooks.json"));
    for (const [event, entries] of Object.entries(file.hooks as Record<string, unknown[]>)) {
      assert(WINDSURF_EVENTS.has(event), `unknown Windsurf hook event ${event}`);
      for (const e of entries as Record<string, unknown>[]) {
        assert.equal(typeof e.command, "string", `${event}: command`);
        for (const k of Object.keys(e)) {
          assert(
            ["command", "show_output", "working_directory", "powershell"].includes(k),
            `${event}: ${k}`,
          );
        }
      }
    }
    const hook = (file.hooks.post_cascade_response as { command: string }[])
      .find((e) => / hook windsurf /.test(e.command));
    assert(hook, `setup wrote no post_cascade_response hook: ${JSON.stringify(file)}`);
    const mcp = await startMcp(world, ".codeium/windsurf/mcp_config.json");
    try {
      const r = await runHook(world, hook.command, {
        agent_action_name: "post_cascade_response",
        trajectory_id: crypto.randomUUID(),
        execution_id: crypto.randomUUID(),
        timestamp: new Date().toISOString(),
        tool_info: { response: "done" },
      });
      assert.equal(r.code, 0, r.stderr);
      assert(r.ms < 5_000, `the hook took ${r.ms} ms`);
    } finally {
      await stop(mcp);
    }
  },
);
