/**
 * The permission and V8 flags agent-ipc runs with, in one place: docs/install.md, `deno task`
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

/**
 * V8 flags for agent-ipc's processes (see {@linkcode RUN_FLAGS}). They matter
 * where a broker may run (the detached background broker, the MCP server, the
 * compiled binary): V8 gives back heap that grew in a burst (thousands of
 * connections, a drained backlog) only when its memory reducer runs: by
 * default not before ~30 s of the process's life and 8 s after it is
 * started, and an idle broker may run no garbage collection at all
 * meanwhile, so garbage of closed connections piled up from one flood
 * to the next. With these the heap goes back to its pre-flood size about a
 * second after the broker goes quiet (chaos `preauth-memory`: the broker's V8
 * heap 35 -> 6 MiB within ~2 s of 2,000 connections closing, where it stayed
 * at 35 MiB for ~28 s before). The reducer acts only when the allocation
 * rate is low, so it costs nothing under load.
 */
export const V8_FLAGS = "--v8-flags=--memory-reducer-delay-ms=1000," +
  "--gc-memory-reducer-start-delay-ms=1000";

/**
 * The flags `deno run` / `deno compile` of agent-ipc take: {@linkcode PERMISSION_FLAGS}, then
 * {@linkcode V8_FLAGS}. Every process agent-ipc starts (broker, MCP server, hook, hook watcher)
 * gets all of them, not only those that may host a broker: V8 rejects code Deno cached under
 * other V8 flags, so a hook without them after a broker with them (or the reverse) compiled every
 * module again, ~30 ms on each start (measured alternating `main.ts send --help`: 65 -> 100 ms).
 */
export const RUN_FLAGS: readonly string[] = [...PERMISSION_FLAGS, V8_FLAGS];
