/**
 * The permission flags agent-ipc runs with, in one place: README, `deno task`
 * definitions, `setup` (MCP config entries), the detached broker spawn and the
 * compile task all use these.
 *
 * @module
 */

/**
 * Flags for `deno run` / `deno compile`, each with why it is needed:
 * - net: the broker listens on 127.0.0.1:9876 (+9877 for the console); clients connect to it;
 *   NATS and TLS network mode reach other hosts.
 * - read/write: the data dir (SQLite, secret, large messages) and the session file.
 * - env: IPC_* settings, HOME/APPDATA to find the data dir.
 * - run: a CLI command that finds no broker starts a detached one (the same program).
 * - sys: the host name shown by `list` and `status`.
 */
export const PERMISSION_FLAGS: readonly string[] = [
  "--allow-net",
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-run",
  "--allow-sys",
];
