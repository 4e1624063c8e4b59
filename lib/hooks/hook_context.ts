/**
 * What every hook event handler gets: the run (assistant, event, its JSON,
 * settings, what it touches of the outside world) and, once found, its
 * session; and the two steps several handlers share.
 *
 * @module
 */

import type { Settings } from "../config.ts";
import type { AgentClient } from "../client/agent_client.ts";
import { type AgentActivity, readActivity, readPromptStamp } from "../state/agent_records.ts";
import { attentionText, type WakePolicy } from "./attention.ts";
import type { HookAssistant } from "./hook_output.ts";
import type { FoundSession } from "./session_discovery.ts";

/** What happened in the assistant. */
export const HOOK_EVENTS = ["start", "prompt", "tool", "stop", "wake", "watch", "waiter"] as const;
/** One hook event. */
export type HookEvent = typeof HOOK_EVENTS[number];

/** What a hook touches of the outside world. */
export interface HookIo {
  /** Writes all of `text` to stdout (returns once written). */
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: Readonly<Record<string, string | undefined>>;
  /** Reads stdin; resolves "" when nothing arrives in `ms`. */
  readStdin: (ms: number) => Promise<string>;
  /** This process's ancestors, nearest first (tests pass their own). */
  ancestors?: () => Promise<number[]>;
  /** Starts a detached `hook ... watch` (tests pass their own). */
  spawnWatch?: (args: string[], assistantPid: number, env?: Record<string, string>) => void;
  /** Rings and notifies (tests pass their own). */
  notify?: (title: string, body: string) => Promise<void>;
}

/** One hook run, before its session is known. */
export interface HookRun {
  assistant: HookAssistant;
  event: HookEvent;
  /** The assistant's JSON (empty for events that read none). */
  input: Record<string, unknown>;
  settings: Settings;
  io: HookIo;
  policy: WakePolicy;
  /** `--notify`. */
  notify: boolean;
  /** The setting flags it was given (`--port` ...), for a hook it starts. */
  settingArgs: string[];
  log: (fields: Record<string, unknown>) => Promise<void>;
}

/** One hook run that found its session. */
export interface SessionHook extends HookRun {
  found: FoundSession;
  name: string;
  /** When this hook marked its session idle (wake, stop) or found it idle (watch). */
  armedAt: number;
  /** The state stamp's text as this hook armed (see `state/agent_records.ts`). */
  armedStamp?: string;
  /**
   * The assistant process whose hooks may skip the broker while the queue is
   * empty (the broker's quiet marker) and whose shell stamps are this
   * session's: set only when it runs this one session (not Codex's shared
   * daemon with several windows) and not on Windows (setup writes no shell
   * test there).
   */
  quietPid?: number;
}

/**
 * The activity of the hook's session (idle since 0 when its hooks never ran),
 * with the person's last prompt as the hook command's shell saw it. Its state
 * and time stay the JSON's: what a hook writes back must not move them (a
 * waiting hook compares them with when it armed; it reads the shell's state
 * stamp itself).
 */
export async function activityOf(hook: SessionHook): Promise<AgentActivity> {
  const dataDir = hook.settings.dataDir;
  const a = await readActivity(dataDir, hook.name) ??
    { name: hook.name, state: "idle", since: 0, wakes: [], assistant: hook.assistant };
  const prompted = hook.quietPid === undefined
    ? undefined
    : await readPromptStamp(dataDir, hook.quietPid);
  if (prompted !== undefined && prompted > (a.last_prompt ?? 0)) a.last_prompt = prompted;
  return a;
}

/**
 * The unread messages, bounded, as attention text (nothing acknowledged);
 * an empty queue leaves the quiet marker for the next hooks.
 */
export async function unreadText(hook: SessionHook, client: AgentClient) {
  const r = await client.check({ ack: false, limit: 20, quietPid: hook.quietPid });
  return { r, shown: attentionText(r.messages, Math.max(r.remaining, r.messages.length)) };
}

/** Acknowledges what a hook showed; an emptied queue leaves the quiet marker. */
export async function acknowledge(
  hook: SessionHook,
  client: AgentClient,
  ids: string[],
): Promise<void> {
  await client.ack(ids, { quietPid: hook.quietPid });
}
