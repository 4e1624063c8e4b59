/**
 * What `setup` writes for the agent-ipc MCP server: how to launch it (the
 * installed binary, the running compiled binary, or `deno run` with the
 * permission flags) and how an entry merges with one already in a config.
 *
 * @module
 */

import { posix, win32 } from "node:path";
import { RUN_FLAGS } from "../permissions.ts";
import { EXECUTABLE_NAME, findExecutable, type SelfContext } from "../self_command.ts";

export { EXECUTABLE_NAME, findExecutable };
import { REMEMBERED_ENV } from "./remembered_settings.ts";

/** The key under which every assistant's config holds the agent-ipc server. */
export const SERVER_KEY = "agent-ipc";

/** The environment variable that carries the instance name (set with `--name`). */
export const INSTANCE_ENV = "IPC_INSTANCE";

/** The command and arguments that start the agent-ipc MCP server. */
export interface ServerLaunch {
  command: string;
  args: string[];
}

/** The fields of an MCP server entry that `setup` owns; other fields are the user's. */
export interface McpServerEntry {
  /** `"stdio"` for Claude Code, which records the transport; absent elsewhere. */
  type?: "stdio";
  command: string;
  args: string[];
  env?: Record<string, string>;
  /** Gemini CLI: run the server's tools without asking. */
  trust?: boolean;
  /** Codex: the environment variables it passes on to the server. */
  env_vars?: string[];
  /** Codex: run the server's tools without asking ("approve"). */
  default_tools_approval_mode?: string;
}

/** What is known about the running program, to decide how to launch the server. */
export type LaunchContext = Omit<SelfContext, "cwd">;

/**
 * Decides how an assistant should start the MCP server: the running compiled
 * binary if this is one, else an `agent-ipc` executable on `PATH`, else
 * `deno run` with {@linkcode RUN_FLAGS} and the main module (a file path
 * for local modules, with `--config` when a deno.json sits beside it).
 *
 * @example
 * ```ts
 * const launch = await resolveLaunch({ os: "linux", env: {}, standalone: true,
 *   execPath: "/usr/local/bin/agent-ipc", mainModule: "file:///x/main.ts" });
 * // { command: "/usr/local/bin/agent-ipc", args: ["mcp"] }
 * ```
 */
export async function resolveLaunch(ctx: LaunchContext): Promise<ServerLaunch> {
  if (ctx.standalone) return { command: ctx.execPath, args: ["mcp"] };
  const installed = findExecutable(EXECUTABLE_NAME, ctx.os, ctx.env);
  if (installed) return { command: installed, args: ["mcp"] };
  const args = ["run", ...RUN_FLAGS];
  let module = ctx.mainModule;
  if (module.startsWith("file:")) {
    module = fileUrlToPath(module, ctx.os);
    const path = ctx.os === "windows" ? win32 : posix;
    const config = path.join(path.dirname(module), "deno.json");
    // The server may be started from any directory; pin its own config (and lock file).
    if (await isFile(config)) args.push("--config", config);
  }
  args.push(module, "mcp");
  return { command: ctx.execPath, args };
}

/** Converts a `file:` URL to a path in the style of `os`. */
export function fileUrlToPath(url: string, os: typeof Deno.build.os): string {
  const u = new URL(url);
  const pathname = decodeURIComponent(u.pathname);
  if (os !== "windows") return pathname;
  if (u.hostname !== "") return `\\\\${u.hostname}${pathname.replaceAll("/", "\\")}`;
  return pathname.replace(/^\/([A-Za-z]:)/, "$1").replaceAll("/", "\\");
}

/**
 * Builds the entry for one assistant from the launch command, the optional
 * instance name (passed both as `--name NAME` and as `IPC_INSTANCE`) and the
 * settings setup remembers (`IPC_PORT` ..., see `remembered_settings.ts`).
 */
export function buildEntry(
  launch: ServerLaunch,
  name: string | undefined,
  withType: boolean,
  settings: Readonly<Record<string, string>> = {},
): McpServerEntry {
  const entry: McpServerEntry = withType
    ? { type: "stdio", command: launch.command, args: [...launch.args] }
    : { command: launch.command, args: [...launch.args] };
  const env: Record<string, string> = { ...settings };
  if (name !== undefined) {
    entry.args.push("--name", name);
    env[INSTANCE_ENV] = name;
  }
  if (Object.keys(env).length > 0) entry.env = env;
  return entry;
}

/** The `env` variables an entry of ours owns: the name and the remembered settings. */
const OWNED_ENV = new Set([INSTANCE_ENV, ...REMEMBERED_ENV]);

/**
 * Merges `ours` into an existing entry: the user's other fields (timeouts,
 * `trust`, `cwd`, their own env variables) stay, in their order; `type`,
 * `command` and `args` are ours; `IPC_INSTANCE` and the remembered settings
 * (`IPC_PORT` ...) are ours within `env` (a rerun without one takes it out),
 * and an `env` left empty is dropped.
 */
export function mergeEntry(
  existing: Readonly<Record<string, unknown>> | undefined,
  ours: McpServerEntry,
): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...existing };
  for (const [key, value] of Object.entries(ours)) {
    // An owned field set to undefined is taken out (--ask takes back an approval).
    if (key === "env") continue;
    if (value === undefined) delete merged[key];
    else merged[key] = value;
  }
  const env: Record<string, unknown> = {};
  const oldEnv = existing?.env;
  if (typeof oldEnv === "object" && oldEnv !== null && !Array.isArray(oldEnv)) {
    for (const [key, value] of Object.entries(oldEnv)) {
      if (!OWNED_ENV.has(key)) env[key] = value;
    }
  }
  Object.assign(env, ours.env);
  if (Object.keys(env).length > 0) merged.env = env;
  else delete merged.env;
  return merged;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}
