/**
 * The hook events that run inside a turn or at its end: `prompt` and `tool`
 * mark the session awake, `stop` and `wake` mark it idle; `start`, `prompt`
 * and `tool` show what is unread; `stop` starts Cursor's follow-up or a
 * `--notify` watch.
 *
 * @module
 */

import type { AgentClient } from "../client/agent_client.ts";
import { writeActivity, writeStateStamp } from "../state/agent_records.ts";
import { MARKER, wakeVerdict, wakeWorthy, withWake } from "./attention.ts";
import { acknowledge, activityOf, type SessionHook, unreadText } from "./hook_context.ts";
import { type AttentionEvent, OUTPUT_ADAPTERS } from "./hook_output.ts";
import { spawnWatch as spawnDetachedWatch } from "./notifier.ts";
import { isAlive } from "../process_alive.ts";
import { commandLine } from "./process_tree.ts";
import { codexCommand, type WakeMechanism } from "./wake_channels.ts";

/** prompt, tool: the session is in a turn (a person's prompt also resets the loop guard). */
export async function markAwake(hook: SessionHook): Promise<number> {
  const now = Date.now();
  const prompt = typeof hook.input.prompt === "string" ? hook.input.prompt : "";
  // A woken turn may pass our own text as its prompt: that is not the person.
  const person = hook.event === "prompt" && !prompt.includes(MARKER);
  await writeActivity(hook.settings.dataDir, {
    ...await activityOf(hook),
    assistant: hook.assistant,
    state: "awake",
    since: now,
    ...(person ? { last_prompt: now } : {}),
  });
  await stamp(hook, "awake");
  return 0;
}

/**
 * Records the state where the hook command's shell records it too (see
 * `state/agent_records.ts`); returns the text written.
 */
export async function stamp(
  hook: SessionHook,
  state: "awake" | "idle",
): Promise<string | undefined> {
  if (hook.quietPid === undefined) return undefined;
  return await writeStateStamp(hook.settings.dataDir, hook.quietPid, state).catch(() => undefined);
}

/**
 * stop, wake: the session is idle from now. Any later change of state (a
 * turn began, or a newer stop armed its own hook) supersedes this hook, so
 * one wake waits at a time.
 */
export async function markIdle(hook: SessionHook): Promise<number> {
  const now = Date.now();
  await writeActivity(hook.settings.dataDir, {
    ...await activityOf(hook),
    assistant: hook.assistant,
    state: "idle",
    since: now,
  });
  hook.armedStamp = await stamp(hook, "idle");
  return now;
}

/**
 * Gemini CLI with the waiter set up (`setup gemini --wake`): the words that
 * tell its model to run the waiter in the background, at session start and
 * whenever no waiter runs at a prompt (after each wake).
 */
async function waiterInstruction(hook: SessionHook): Promise<string | undefined> {
  const command = hook.io.env.IPC_GEMINI_WAITER;
  if (hook.assistant !== "gemini" || !command || hook.event === "tool") return undefined;
  const pid = (await activityOf(hook)).waiter_pid;
  if (pid !== undefined && await isAlive(pid)) return undefined;
  return `${MARKER} So that messages from other agents reach you while you are idle, run ` +
    `this exact command with run_shell_command in the background (is_background: true) ` +
    `now, without waiting for it, and start it again the same way each time it finishes: ` +
    `\`${command}\`. It prints nothing until a message comes; then the messages are shown ` +
    `to you.`;
}

/** start, prompt, tool: shows what is unread; acknowledges it once written. */
export async function showUnread(hook: SessionHook, client: AgentClient): Promise<number> {
  const attention = OUTPUT_ADAPTERS[hook.assistant].attention;
  if (!attention) return 0;
  const { shown } = await unreadText(hook, client);
  const instruction = await waiterInstruction(hook);
  const named = typeof hook.input.hook_event_name === "string"
    ? hook.input.hook_event_name
    : undefined;
  if (!shown) {
    if (instruction) {
      hook.io.stdout(attention(instruction, hook.event as AttentionEvent, named) + "\n");
      await hook.log({ outcome: "waiter-asked", name: hook.name });
    }
    return 0;
  }
  const text = instruction ? `${shown.text}\n\n${instruction}` : shown.text;
  hook.io.stdout(attention(text, hook.event as AttentionEvent, named) + "\n");
  // Written: now it counts as delivered (at least once, as everywhere).
  await acknowledge(hook, client, shown.shown);
  await hook.log({
    outcome: "shown",
    name: hook.name,
    shown: shown.shown.length,
    how: hook.found.how,
  });
  return 0;
}

/** True for the command line of `codex exec …` (or its alias `codex e …`), not for a TUI's prompt. */
export function isCodexExec(args: string): boolean {
  const words = args.split(/\s+/);
  const at = words.findIndex((w) => /(^|[\\/])codex(\.js|\.exe)?$/.test(w));
  return at >= 0 && (words[at + 1] === "exec" || words[at + 1] === "e");
}

/**
 * stop: Cursor starts a follow-up turn when wake-worthy messages wait; Codex
 * gets a detached watch that wakes it with `codex queue` (its thread id and a
 * codex command known); `--notify` starts a watch that rings and notifies.
 */
export async function stopped(hook: SessionHook, client: AgentClient): Promise<number> {
  const reach = async (wake: WakeMechanism) =>
    await writeActivity(hook.settings.dataDir, { ...await activityOf(hook), wake });
  // `codex exec` ends with its turn: a wake would run its old thread without anyone (headless).
  const headlessCodex = hook.assistant === "codex" &&
    isCodexExec(await commandLine(hook.found.record.assistant_pid) ?? "");
  if (headlessCodex) await hook.log({ outcome: "headless", name: hook.name });
  if (hook.assistant === "codex" && hook.policy.perHour > 0 && !headlessCodex) {
    const thread = hook.found.record.session_id;
    const codex = thread ? await codexCommand(hook.io.env) : undefined;
    if (thread && codex) {
      (hook.io.spawnWatch ?? spawnDetachedWatch)(
        // The settings setup wrote into this hook (--port ...): the watch needs them too.
        [hook.assistant, "watch", ...hook.settingArgs],
        hook.found.record.assistant_pid,
        { IPC_HOOK_SESSION_ID: thread, IPC_HOOK_WAKE: "codex-queue", IPC_CODEX_BIN: codex },
      );
      await reach("codex-queue");
      await hook.log({ outcome: "watching", name: hook.name, wake: "codex-queue", thread });
      return 0;
    }
    await hook.log({
      outcome: "no-wake",
      name: hook.name,
      reason: thread ? "no codex command found" : "the thread id is not known",
    });
  }
  // Gemini CLI: a waiter its model runs in the background wakes it (see idle_events.ts).
  const waiter = (await activityOf(hook)).waiter_pid;
  if (hook.assistant === "gemini" && waiter !== undefined && await isAlive(waiter)) {
    await reach("gemini-waiter");
    return 0;
  }
  const followup = OUTPUT_ADAPTERS[hook.assistant].followup;
  if (followup) {
    const { r, shown } = await unreadText(hook, client);
    const verdict = wakeVerdict(await activityOf(hook), Date.now(), hook.policy);
    if (shown && r.messages.some(wakeWorthy) && verdict.ok) {
      hook.io.stdout(followup(shown.text) + "\n");
      await writeActivity(hook.settings.dataDir, {
        ...withWake(await activityOf(hook), Date.now()),
        wake: "cursor-followup",
        last_wake_via: "cursor-followup",
      });
      await stamp(hook, "awake");
      await acknowledge(hook, client, shown.shown);
      await hook.log({ outcome: "followup", name: hook.name, shown: shown.shown.length });
      return 0;
    }
  }
  if (hook.notify) {
    (hook.io.spawnWatch ?? spawnDetachedWatch)(
      [hook.assistant, "watch", ...hook.settingArgs],
      hook.found.record.assistant_pid,
    );
    await hook.log({ outcome: "watching", name: hook.name });
  }
  await reach(followup ? "cursor-followup" : hook.notify ? "notify" : "none");
  return 0;
}
