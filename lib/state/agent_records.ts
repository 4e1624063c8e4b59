/**
 * What an assistant's hooks need to find their own session, and what they
 * tell everyone else about it, kept as small files in the data dir's
 * `agents/` folder (private, like the rest of the data dir):
 *
 * - `pid-<assistant pid>-<server pid>.json`: written by the MCP server an
 *   assistant started once it is registered (its name, session token and,
 *   once known, the assistant's session id), keyed by the assistant's process
 *   id, which the assistant's hooks find among their own ancestors, and by
 *   the server's own: one assistant process may run several sessions (Codex's
 *   shared app-server daemon starts one MCP server per window), and then
 *   only the session id tells them apart. Removed when that server stops.
 * - `<name>.activity.json`: written by the hooks: awake or idle, the last
 *   wake and the recent wakes (for the wake budget). Read by `list`,
 *   `status` and the web console.
 * - `pid-<assistant pid>.state` and `.prompt`: what the hook command's shell
 *   records when it needs no Deno (nothing to show), for an assistant
 *   process that runs one session: the state (`awake` or `idle`, then who
 *   wrote it: `sh` or a hook's pid) with its time as the file's mtime, and
 *   the person's last prompt as the mtime of `.prompt`. Plain files a shell
 *   writes with a redirection; they override the JSON's state when newer.
 * - `pid-<assistant pid>.quiet`: the broker's marker that the queue of that
 *   process's one session is empty (`broker/quiet_markers.ts`).
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
  /** The assistant's session id, when the assistant told the server one (or a hook bound it). */
  session_id?: string;
  /**
   * Who said the session id: "assistant" (its environment, or MCP `_meta` of a
   * tool call: the assistant's word) or "hook" (a hook bound an unbound server
   * to its session by time, see {@linkcode bindSession}; a tool call corrects it).
   */
  session_from?: "assistant" | "hook";
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
  /**
   * How an idle session is reached, as its hooks last armed it: "claude-socket",
   * "claude-held", "asyncRewake", "codex-queue", "gemini-waiter", "cursor-followup", "notify"
   * or "none" (see `hooks/wake_channels.ts`).
   */
  wake?: string;
  /** Why it is reached so (Claude Code's `crossSessionInbound` holding or refusing the wake). */
  wake_note?: string;
  /** How the last wake came ("claude-socket", "codex-queue", ...). */
  last_wake_via?: string;
  /** Gemini CLI: the waiter its model runs in the background (`hook gemini waiter`). */
  waiter_pid?: number;
}

/** How a session is reached, from what its hooks recorded. */
export interface Reach {
  /** Messages are shown to its model at its prompts and tool calls (its hooks run). */
  attention: boolean;
  /**
   * How an idle session is woken: "claude-socket", "claude-held" (the
   * nudge waits for the person to approve it), "asyncRewake", "codex-queue",
   * "gemini-waiter", "cursor-followup", "notify" or "none".
   */
  wake: string;
  /** Why it is woken so, when a setting of the person's decides it. */
  wake_note?: string;
  /** When it was last woken (ms since the epoch), and how. */
  last_wake?: number;
  last_wake_via?: string;
}

/**
 * How the session with `activity` is reached; undefined when its hooks never
 * ran here (an agent of another machine, a script, or no hooks at all).
 *
 * @example
 * ```ts
 * reachOf({ name: "c", state: "idle", since: 0, wakes: [], assistant: "codex", wake: "codex-queue" });
 * // { attention: true, wake: "codex-queue" }
 * ```
 */
export function reachOf(activity: AgentActivity | undefined): Reach | undefined {
  if (!activity) return undefined;
  // Activity written before the hooks said how: Claude Code's wake hook was asyncRewake.
  const wake = activity.wake ?? (activity.assistant === "claude" ? "asyncRewake" : "none");
  return {
    // Windsurf's hooks show its model nothing.
    attention: activity.assistant !== "windsurf",
    wake,
    ...(activity.wake_note ? { wake_note: activity.wake_note } : {}),
    ...(activity.last_wake ? { last_wake: activity.last_wake } : {}),
    ...(activity.last_wake_via ? { last_wake_via: activity.last_wake_via } : {}),
  };
}

/** The folder of these files. */
export function agentsDir(dataDir: string): string {
  return join(dataDir, "agents");
}

function recordPath(dataDir: string, assistantPid: number, mcpPid: number): string {
  return join(agentsDir(dataDir), `pid-${assistantPid}-${mcpPid}.json`);
}

/** `pid-<assistant>-<server>.json` (and the older `pid-<assistant>.json`). */
const RECORD_FILE = /^pid-(\d+)(?:-(\d+))?\.json$/;

function activityPath(dataDir: string, name: string): string {
  return join(agentsDir(dataDir), `${name}.activity.json`);
}

/** The files of assistant process `pid` beside its records: `.state`, `.prompt`, `.quiet`. */
export function pidFile(dataDir: string, pid: number, kind: "state" | "prompt" | "quiet"): string {
  return join(agentsDir(dataDir), `pid-${pid}.${kind}`);
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
  await writeJson(recordPath(dataDir, record.assistant_pid, record.mcp_pid), record);
  // A quiet marker spoke of the queue of the session recorded before.
  await Deno.remove(pidFile(dataDir, record.assistant_pid, "quiet")).catch(() => {});
}

/** Removes the record the server `mcpPid` wrote for `assistantPid`. */
export async function removeAgentRecord(
  dataDir: string,
  assistantPid: number,
  mcpPid: number,
): Promise<void> {
  await Deno.remove(recordPath(dataDir, assistantPid, mcpPid)).catch(() => {});
  await Deno.remove(pidFile(dataDir, assistantPid, "quiet")).catch(() => {});
  if ((await recordsOf(dataDir, assistantPid)).length === 0) {
    for (const kind of ["state", "prompt"] as const) {
      await Deno.remove(pidFile(dataDir, assistantPid, kind)).catch(() => {});
    }
  }
}

/**
 * Removes the records of `assistantPid` that other servers wrote and that
 * `alive` says are gone (a server killed without cleaning up): a process id
 * the system gives again to a new assistant must not find a dead session.
 */
export async function pruneDeadRecords(
  dataDir: string,
  assistantPid: number,
  mcpPid: number,
  alive: (pid: number) => Promise<boolean>,
): Promise<void> {
  for (const r of await recordsOf(dataDir, assistantPid)) {
    if (r.mcp_pid !== mcpPid && !(await alive(r.mcp_pid))) {
      await removeAgentRecord(dataDir, assistantPid, r.mcp_pid);
    }
  }
}

/** The record the server `mcpPid` wrote for `assistantPid`, if any. */
export async function readOwnRecord(
  dataDir: string,
  assistantPid: number,
  mcpPid: number,
): Promise<AgentRecord | undefined> {
  return asRecord(await readJson(recordPath(dataDir, assistantPid, mcpPid)));
}

function asRecord(v: Record<string, unknown> | undefined): AgentRecord | undefined {
  if (!v || typeof v.name !== "string" || typeof v.token !== "string") return undefined;
  if (typeof v.assistant_pid !== "number" || typeof v.mcp_pid !== "number") return undefined;
  return v as unknown as AgentRecord;
}

/**
 * The session of the assistant process `assistantPid` when it runs exactly
 * one; undefined when it runs none, or several (Codex's shared daemon: then
 * only the assistant's session id can tell which, see {@linkcode recordsOf}).
 */
export async function readAgentRecord(
  dataDir: string,
  assistantPid: number,
): Promise<AgentRecord | undefined> {
  const all = await recordsOf(dataDir, assistantPid);
  return all.length === 1 ? all[0] : undefined;
}

/** Every session recorded for the assistant process `assistantPid`, oldest first. */
export async function recordsOf(dataDir: string, assistantPid: number): Promise<AgentRecord[]> {
  return (await listAgentRecords(dataDir, assistantPid))
    .sort((a, b) => Date.parse(a.started) - Date.parse(b.started));
}

/** Every session record in the data dir (only those of `assistantPid`, when given). */
export async function listAgentRecords(
  dataDir: string,
  assistantPid?: number,
): Promise<AgentRecord[]> {
  const out: AgentRecord[] = [];
  try {
    for await (const e of Deno.readDir(agentsDir(dataDir))) {
      const m = RECORD_FILE.exec(e.name);
      if (!e.isFile || !m) continue;
      if (assistantPid !== undefined && Number(m[1]) !== assistantPid) continue;
      const r = asRecord(await readJson(join(agentsDir(dataDir), e.name)));
      if (r) out.push(r);
    }
  } catch {
    // No folder yet: no records.
  }
  return out;
}

/**
 * Takes `sessionId` back from the other servers of `assistantPid` a hook
 * bound to it (the server that now knows it is that session's, by the
 * assistant's word).
 */
export async function releaseSession(
  dataDir: string,
  assistantPid: number,
  mcpPid: number,
  sessionId: string,
): Promise<void> {
  for (const r of await recordsOf(dataDir, assistantPid)) {
    if (r.mcp_pid === mcpPid || r.session_id !== sessionId || r.session_from !== "hook") continue;
    const { session_id: _id, session_from: _from, ...rest } = r;
    await writeAgentRecord(dataDir, rest);
  }
}

/**
 * The creation time (ms since the epoch) a UUIDv7 carries in its first 48
 * bits (Codex's thread ids are UUIDv7), or undefined for other ids.
 */
export function uuidV7Time(id: string): number | undefined {
  const m = /^([0-9a-f]{8})-([0-9a-f]{4})-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i.exec(id);
  return m ? parseInt(m[1] + m[2], 16) : undefined;
}

/**
 * Binds a hook's session id to one of the servers of its assistant process
 * that do not know their session yet (Codex's daemon starts one MCP server
 * per window, and tells a server its thread only in the `_meta` of a tool
 * call): when the id carries its creation time (a UUIDv7 thread id), the
 * unbound server that started nearest after it (the daemon starts a window's
 * servers right after its thread; one that started before the thread serves
 * another); otherwise the only unbound one. The binding is
 * written into that record ("hook"); the server's first tool call confirms
 * or corrects it. Returns the bound record, or undefined when none fits.
 */
export async function bindSession(
  dataDir: string,
  assistantPid: number,
  sessionId: string,
): Promise<AgentRecord | undefined> {
  const all = await recordsOf(dataDir, assistantPid);
  const unbound = all.filter((r) => !r.session_id);
  if (unbound.length === 0) return undefined;
  let pick = unbound[0];
  const born = uuidV7Time(sessionId);
  if (born === undefined) {
    if (unbound.length > 1) return undefined; // no way to tell them apart: no guess
  } else {
    // A server that started before its thread was created serves an older thread.
    const distance = (r: AgentRecord) => {
      const d = Date.parse(r.started) - born;
      return d >= -1_000 ? Math.abs(d) : Infinity;
    };
    pick = unbound.reduce((a, b) => (distance(b) < distance(a) ? b : a));
    if (distance(pick) === Infinity) return undefined;
  }
  const bound: AgentRecord = { ...pick, session_id: sessionId, session_from: "hook" };
  await writeAgentRecord(dataDir, bound);
  return bound;
}

/** The state a hook last recorded in `pid-<P>.state`. */
export interface StateStamp {
  state: "awake" | "idle";
  /** Its mtime, ms since the epoch. */
  since: number;
  /** The whole text: tells one writer from another. */
  text: string;
}

/** Reads `pid-<pid>.state`; undefined when missing or not a state. */
export async function readStateStamp(
  dataDir: string,
  pid: number,
): Promise<StateStamp | undefined> {
  const path = pidFile(dataDir, pid, "state");
  try {
    const [text, info] = await Promise.all([Deno.readTextFile(path), Deno.stat(path)]);
    const state = text.split(/\s/, 1)[0];
    if ((state !== "awake" && state !== "idle") || !info.mtime) return undefined;
    return { state, since: info.mtime.getTime(), text: text.trim() };
  } catch {
    return undefined;
  }
}

/**
 * Records `state` in `pid-<pid>.state` as this process (`"idle 4242"`), the
 * way the hook command's shell does (`"awake sh"`); returns the text written.
 */
export async function writeStateStamp(
  dataDir: string,
  pid: number,
  state: "awake" | "idle",
): Promise<string> {
  const text = `${state} ${Deno.pid}`;
  await ensurePrivateDir(agentsDir(dataDir));
  await Deno.writeTextFile(pidFile(dataDir, pid, "state"), text + "\n", { mode: 0o600 });
  return text;
}

async function mtimeOf(path: string): Promise<number | undefined> {
  try {
    return (await Deno.stat(path)).mtime?.getTime();
  } catch {
    return undefined;
  }
}

/** When the hook command's shell last saw the person's prompt (`pid-<pid>.prompt`), if ever. */
export function readPromptStamp(dataDir: string, pid: number): Promise<number | undefined> {
  return mtimeOf(pidFile(dataDir, pid, "prompt"));
}

/**
 * The activity of `name`, if its hooks ever ran; with `assistantPid` (a
 * process that runs this one session), what the hook command's shell
 * recorded since (state, the person's last prompt) is merged in.
 */
export async function readActivity(
  dataDir: string,
  name: string,
  assistantPid?: number,
): Promise<AgentActivity | undefined> {
  const json = await readActivityJson(dataDir, name);
  if (assistantPid === undefined) return json;
  const [stamp, prompted] = await Promise.all([
    readStateStamp(dataDir, assistantPid),
    mtimeOf(pidFile(dataDir, assistantPid, "prompt")),
  ]);
  if (!json && !stamp) return undefined;
  const a: AgentActivity = json ?? { name, state: stamp!.state, since: stamp!.since, wakes: [] };
  if (stamp && stamp.since > a.since) {
    a.state = stamp.state;
    a.since = stamp.since;
  }
  if (prompted !== undefined && prompted > (a.last_prompt ?? 0)) a.last_prompt = prompted;
  return a;
}

/** The activity JSON of `name` alone. */
async function readActivityJson(
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
  // Where a name's shell stamps are: the process of its newest session, when
  // that process runs this session alone.
  const records = await listAgentRecords(dataDir);
  const perPid = new Map<number, number>();
  for (const r of records) perPid.set(r.assistant_pid, (perPid.get(r.assistant_pid) ?? 0) + 1);
  const pids = new Map<string, AgentRecord>();
  for (const r of records) {
    const seen = pids.get(r.name);
    if (!seen || Date.parse(r.started) > Date.parse(seen.started)) pids.set(r.name, r);
  }
  const pidOf = (name: string) => {
    const r = pids.get(name);
    return r && perPid.get(r.assistant_pid) === 1 ? r.assistant_pid : undefined;
  };
  try {
    for await (const e of Deno.readDir(agentsDir(dataDir))) {
      const m = /^(.+)\.activity\.json$/.exec(e.name);
      if (!e.isFile || !m) continue;
      const a = await readActivity(dataDir, m[1], pidOf(m[1]));
      if (a) out.set(m[1], a);
    }
  } catch {
    // No folder yet.
  }
  return out;
}
