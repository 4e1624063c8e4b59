/**
 * Runs a hook command the way an assistant does: `/bin/sh -c COMMAND` with
 * the assistant's JSON on stdin, our own logging silenced; and the MCP
 * server's agent of an assistant that is this test process.
 *
 * @module
 */

import { McpAgent } from "../../lib/mcp/agent.ts";
import { listAgentRecords } from "../../lib/state/agent_records.ts";
import { waitFor } from "../_wait.ts";

/**
 * An MCP server's agent registered as `name` for "this process" as the
 * assistant, once its record is written (right after registering): hooks
 * this test spawns find it.
 */
export async function assistantAgent(
  b: { port: number; dataDir: string; secret?: string },
  name: string,
): Promise<McpAgent> {
  const agent = new McpAgent({
    client: { host: "127.0.0.1", port: b.port, dataDir: b.dataDir, secret: b.secret },
    name,
    assistant: { pid: Deno.pid },
  });
  await agent.start();
  await waitFor(async () => (await listAgentRecords(b.dataDir)).some((r) => r.name === agent.name));
  return agent;
}

/** What the hook printed, its exit code and how long it took. */
export interface HookRun {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/**
 * Runs `command` through `/bin/sh -c` with `stdin` as JSON.
 *
 * @example
 * ```ts
 * const r = await runAsAssistant("agent-ipc hook claude prompt", { prompt: "hi" }, {});
 * ```
 */
export async function runAsAssistant(
  command: string,
  stdin: unknown,
  env: Record<string, string>,
): Promise<HookRun> {
  const t0 = performance.now();
  const child = new Deno.Command("/bin/sh", {
    args: ["-c", command],
    env: { IPC_LOG: "silent", ...env },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  // A hook may exit without reading its input (the shell's quiet test does): a broken pipe is fine.
  await w.write(new TextEncoder().encode(JSON.stringify(stdin))).catch(() => {});
  await w.close().catch(() => {});
  const out = await child.output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
    ms: performance.now() - t0,
  };
}
