/**
 * How a hook finds the session of the assistant it runs under. The MCP
 * server an assistant started recorded its session (`state/agent_records.ts`:
 * name, token, the assistant's pid and, when told, the assistant's session
 * id); a hook matches that record from the clues it has, best first:
 *
 * 1. a pid it was told outright (a detached `watch` is told its assistant);
 * 2. the assistant's own session id (hook stdin `session_id`, or the
 *    assistant's environment): the assistant's word, no guess;
 * 3. the cheap pids (Claude Code's `CLAUDE_PID`, the hook's parent);
 * 4. its ancestors (one `ps`), nearest first;
 * 5. where no ancestors can be seen (Windows), the only record there is.
 *
 * A pid names a session only when one session runs under it. Codex's shared
 * app-server daemon is the parent of every window's MCP server: there a hook
 * with a session id binds the server of its window (`bindSession`: the only
 * unbound one, or the one started right after its thread) and never takes a
 * server another window's session is bound to (`strictSession`).
 *
 * Never a guess beyond that: a second session that is still starting must not
 * take the first one's messages. At session start the MCP server starts
 * alongside the hooks and records a moment later, so a hook may wait for its
 * record (bounded).
 *
 * @module
 */

import { HOOK_TIMEOUTS } from "../defaults.ts";
import {
  type AgentRecord,
  bindSession,
  listAgentRecords,
  readAgentRecord,
  recordsOf,
} from "../state/agent_records.ts";
import { ancestors as processAncestors } from "./process_tree.ts";

/** How a hook found its session. */
export interface FoundSession {
  record: AgentRecord;
  /** Said in hooks.log: "session id …", "assistant process …". */
  how: string;
}

/** What a hook knows that can lead to its session. */
export interface SessionClues {
  /** The assistant's session id, as the assistant gave it. */
  sessionId?: string;
  /** A pid told outright (IPC_HOOK_ASSISTANT_PID): exact, never another session. */
  toldPid?: number;
  /** Guesses that need no process listing: Claude Code's CLAUDE_PID, the parent. */
  quickPids: number[];
  /** This process's ancestors, nearest first (walked once, when needed). */
  ancestors: () => Promise<number[]>;
  /**
   * Session ids are the assistant's word over pids (Codex: one daemon runs
   * every window): a pid's record bound to another session is not this one.
   */
  strictSession?: boolean;
}

const validPid = (p: number) => Number.isInteger(p) && p > 1;

/**
 * The clues of a hook from its stdin JSON and environment.
 *
 * @example
 * ```ts
 * const clues = sessionClues({ session_id: "abc" }, Deno.env.toObject());
 * ```
 */
export function sessionClues(
  input: Record<string, unknown>,
  env: Readonly<Record<string, string | undefined>>,
  ancestors: () => Promise<number[]> = () => processAncestors(),
  parent: number = Deno.ppid,
): SessionClues {
  const told = Number(env.IPC_HOOK_ASSISTANT_PID);
  const sessionId = typeof input.session_id === "string" && input.session_id
    ? input.session_id
    : env.IPC_HOOK_SESSION_ID || env.CLAUDE_CODE_SESSION_ID || env.GEMINI_SESSION_ID ||
      undefined;
  return {
    sessionId,
    toldPid: validPid(told) ? told : undefined,
    quickPids: [Number(env.CLAUDE_PID), parent].filter(validPid),
    ancestors,
  };
}

/** Where a search ended: the session, or the ancestors it looked at (for hooks.log). */
export type Discovery =
  | { found: FoundSession }
  | { found: undefined; ancestors: number[] };

/** Looks once, best clue first; `seen` says how many ancestors the walk could see. */
async function lookOnce(
  dataDir: string,
  clues: SessionClues,
  walk: () => Promise<number[]>,
): Promise<FoundSession | undefined> {
  if (clues.toldPid !== undefined) {
    const record = await readAgentRecord(dataDir, clues.toldPid);
    if (record) return { record, how: `assistant process ${clues.toldPid}` };
  }
  if (clues.sessionId !== undefined) {
    const found = bySessionId(await listAgentRecords(dataDir), clues);
    if (found) return found;
  }
  if (clues.toldPid !== undefined) return undefined; // told exactly: never another session
  for (const pid of clues.quickPids) {
    const found = await byPid(dataDir, pid, clues);
    if (found) return found;
  }
  for (const pid of await walk()) {
    if (clues.quickPids.includes(pid)) continue;
    const found = await byPid(dataDir, pid, clues);
    if (found) return found;
  }
  return undefined;
}

/**
 * The session under the assistant process `pid`: its only one; with the
 * session id, of several (or, strict, of one not bound yet), the one bound now.
 */
async function byPid(
  dataDir: string,
  pid: number,
  clues: SessionClues,
): Promise<FoundSession | undefined> {
  if (!clues.strictSession || clues.sessionId === undefined) {
    const record = await readAgentRecord(dataDir, pid);
    if (record) return { record, how: `assistant process ${pid}` };
    if (clues.sessionId === undefined) return undefined;
  }
  const all = await recordsOf(dataDir, pid);
  if (all.length === 0) return undefined;
  const bound = await bindSession(dataDir, pid, clues.sessionId!);
  return bound
    ? { record: bound, how: `session id ${clues.sessionId} (bound to server ${bound.mcp_pid})` }
    : undefined;
}

/**
 * The record with the assistant's session id: of several (a resumed session
 * whose old server was killed left its record), the one of a pid the hook
 * knows, else the newest.
 */
function bySessionId(all: AgentRecord[], clues: SessionClues): FoundSession | undefined {
  const matches = all.filter((r) => r.session_id === clues.sessionId);
  if (matches.length === 0) return undefined;
  const known = matches.find((r) =>
    r.assistant_pid === clues.toldPid || clues.quickPids.includes(r.assistant_pid)
  );
  const record = known ??
    matches.reduce((a, b) => (Date.parse(b.started) > Date.parse(a.started) ? b : a));
  return { record, how: `session id ${clues.sessionId}` };
}

/**
 * Finds the session of the assistant a hook runs under, waiting up to
 * `patienceMs` for its record (calling `onWait` once when it starts waiting).
 *
 * @example
 * ```ts
 * const d = await discoverSession(dataDir, sessionClues(input, env), { patienceMs: 0 });
 * if (d.found) console.log(d.found.record.name);
 * ```
 */
export async function discoverSession(
  dataDir: string,
  clues: SessionClues,
  options: { patienceMs: number; onWait?: () => Promise<void> },
): Promise<Discovery> {
  let walked: number[] | undefined;
  const walk = async () => walked ??= await clues.ancestors();
  let found = await lookOnce(dataDir, clues, walk);
  if (!found && options.patienceMs > 0) await options.onWait?.();
  for (const until = Date.now() + options.patienceMs; !found && Date.now() < until;) {
    await new Promise((r) => setTimeout(r, HOOK_TIMEOUTS.recordPollMs));
    found = await lookOnce(dataDir, clues, walk);
  }
  if (found) return { found };
  const seen = clues.toldPid !== undefined ? [clues.toldPid] : await walk();
  // Where no ancestors can be seen (Windows: the parent only), the only session there is will do.
  if (clues.toldPid === undefined && seen.length <= 1) {
    const all = await listAgentRecords(dataDir);
    if (all.length === 1 && clues.strictSession && clues.sessionId !== undefined) {
      const found = await byPid(dataDir, all[0].assistant_pid, clues);
      if (found) return { found };
    } else if (all.length === 1) {
      return { found: { record: all[0], how: "the only agent-ipc session" } };
    }
  }
  return { found: undefined, ancestors: [...clues.quickPids, ...seen] };
}
