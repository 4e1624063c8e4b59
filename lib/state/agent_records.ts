/**
 * What an assistant's hooks need to find their own session, and what they
 * tell everyone else about it, kept as small files in the data dir's
 * `agents/` folder (private, like the rest of the data dir):
 *
 * - `pid-<assistant pid>.json`: written by the MCP server an assistant
 *   started once it is registered (its name and session token), keyed by the
 *   assistant's process id, which the assistant's hooks find among their own
 *   ancestors. Removed when that server stops.
 * - `<name>.activity.json`: written by the hooks: awake or idle, the last
 *   wake and the recent wakes (for the wake budget). Read by `list`,
 *   `status` and the web console.
 *
 * @module
 */

import { join } from "node:path";
import { ensurePrivateDir } from "./data_dir.ts";

/** An MCP server's session, as its assistant's hooks find it. */
export interface AgentRecord {
  /** The registered name. */
  name: string;
  /** The session token (the file is private to the user). */
  token: string;
  /** The assistant process (the MCP server's parent). */
  assistant_pid: number;
  /** The MCP server's own process. */
  mcp_pid: number;
  /** The assistant's session id, when the assistant told the server one. */
  session_id?: string;
  /** Why this name: "as configured" or `"NAME" was taken by a live session`. */
  how: string;
  /** ISO 8601. */
  started: string;
}

/** A session's attention state, as its hooks last saw it. */
export interface AgentActivity {
  name: string;
  /** Awake: the assistant is in a turn. Idle: it waits for its person (or a wake). */
  state: "awake" | "idle";
  /** When the state last changed (ms since the epoch). */
  since: number;
  /** The last time a message woke the session (ms since the epoch). */
  last_wake?: number;
  /** Recent wake times, oldest first (the last hour at most). */
  wakes: number[];
  /** The last prompt from the person (ms since the epoch): the loop guard counts wakes after it. */
  last_prompt?: number;
  /** Which assistant ("claude", "codex", ...). */
  assistant?: string;
}

/** The folder of these files. */
export function agentsDir(dataDir: string): string {
  return join(dataDir, "agents");
}

function recordPath(dataDir: string, assistantPid: number): string {
  return join(agentsDir(dataDir), `pid-${assistantPid}.json`);
}

function activityPath(dataDir: string, name: string): string {
  return join(agentsDir(dataDir), `${name}.activity.json`);
}

/** Writes `value` as JSON atomically (temp file + rename), readable by the user only. */
async function writeJson(path: string, value: unknown): Promise<void> {
  const tmp = `${path}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  try {
    await Deno.writeTextFile(tmp, JSON.stringify(value) + "\n", { mode: 0o600 });
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

async function readJson(path: string): Promise<Record<string, unknown> | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch {
    return undefined;
  }
  try {
    const v = JSON.parse(text);
    return typeof v === "object" && v !== null && !Array.isArray(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Records the MCP server's session for its assistant's hooks.
 *
 * @example
 * ```ts
 * await writeAgentRecord("/tmp/ipc", {
 *   name: "claude", token: "…", assistant_pid: Deno.ppid, mcp_pid: Deno.pid,
 *   how: "as configured", started: new Date().toISOString(),
 * });
 * ```
 */
export async function writeAgentRecord(dataDir: string, record: AgentRecord): Promise<void> {
  await ensurePrivateDir(agentsDir(dataDir));
  await writeJson(recordPath(dataDir, record.assistant_pid), record);
}

/** Removes the record of `assistantPid` if it is still the one `mcpPid` wrote. */
export async function removeAgentRecord(
  dataDir: string,
  assistantPid: number,
  mcpPid: number,
): Promise<void> {
  const r = await readAgentRecord(dataDir, assistantPid);
  if (r && r.mcp_pid === mcpPid) {
    await Deno.remove(recordPath(dataDir, assistantPid)).catch(() => {});
  }
}

function asRecord(v: Record<string, unknown> | undefined): AgentRecord | undefined {
  if (!v || typeof v.name !== "string" || typeof v.token !== "string") return undefined;
  if (typeof v.assistant_pid !== "number" || typeof v.mcp_pid !== "number") return undefined;
  return v as unknown as AgentRecord;
}

/** The record keyed by `assistantPid`, if any. */
export async function readAgentRecord(
  dataDir: string,
  assistantPid: number,
): Promise<AgentRecord | undefined> {
  return asRecord(await readJson(recordPath(dataDir, assistantPid)));
}

/** Every session record in the data dir. */
export async function listAgentRecords(dataDir: string): Promise<AgentRecord[]> {
  const out: AgentRecord[] = [];
  try {
    for await (const e of Deno.readDir(agentsDir(dataDir))) {
      if (!e.isFile || !/^pid-\d+\.json$/.test(e.name)) continue;
      const r = asRecord(await readJson(join(agentsDir(dataDir), e.name)));
      if (r) out.push(r);
    }
  } catch {
    // No folder yet: no records.
  }
  return out;
}

/** The activity of `name`, if its hooks ever ran. */
export async function readActivity(
  dataDir: string,
  name: string,
): Promise<AgentActivity | undefined> {
  const v = await readJson(activityPath(dataDir, name));
  if (!v || (v.state !== "awake" && v.state !== "idle") || typeof v.since !== "number") {
    return undefined;
  }
  return {
    ...v,
    name,
    wakes: Array.isArray(v.wakes) ? v.wakes.filter(Number.isFinite) : [],
  } as AgentActivity;
}

/** Saves the activity of `activity.name`. */
export async function writeActivity(dataDir: string, activity: AgentActivity): Promise<void> {
  await ensurePrivateDir(agentsDir(dataDir));
  await writeJson(activityPath(dataDir, activity.name), activity);
}

/** The activity of every agent whose hooks ran, by name. */
export async function readAllActivity(dataDir: string): Promise<Map<string, AgentActivity>> {
  const out = new Map<string, AgentActivity>();
  try {
    for await (const e of Deno.readDir(agentsDir(dataDir))) {
      const m = /^(.+)\.activity\.json$/.exec(e.name);
      if (!e.isFile || !m) continue;
      const a = await readActivity(dataDir, m[1]);
      if (a) out.set(m[1], a);
    }
  } catch {
    // No folder yet.
  }
  return out;
}
