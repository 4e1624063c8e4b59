/**
 * agent-ipc: lets AI assistants message each other. One program, three roles:
 * an MCP server over stdio (`mcp`), the broker (`broker`, or elected), and a
 * CLI client for every action. This entry only reads the arguments, runs the
 * command and exits with its status; everything else lives in `lib/`.
 *
 * @module
 */

if (import.meta.main) {
  // A hook runs on the assistant's path: it loads its own modules, not the whole CLI.
  Deno.exit(
    Deno.args[0] === "hook"
      ? await (await import("./lib/app/hook_main.ts")).runHookCli(Deno.args.slice(1))
      : await (await import("./lib/app/run.ts")).runCli(Deno.args),
  );
}
