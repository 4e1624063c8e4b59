/**
 * The version of agent-ipc: the one source of truth (`--version`, `status`,
 * MCP server info, release tags). Kept in sync with deno.json by a test.
 *
 * @module
 */

/** The program version. */
export const VERSION = "0.1.0";
