/**
 * agent-ipc: lets AI assistants message each other. One program, three roles:
 * an MCP server over stdio (`mcp`), the broker (`broker`, or elected), and a
 * CLI client for every action. This entry only reads the arguments, runs the
 * command and exits with its status; everything else lives in `lib/`.
 *
 * @module
 */

import { runCli } from "./lib/app/run.ts";

if (import.meta.main) {
  Deno.exit(await runCli(Deno.args));
}
