/**
 * The hook events that wait while the session is idle: `wake` (Claude Code's
 * asyncRewake: exit 2 with the text wakes the session) and `watch` (rings and
 * notifies; nothing shown). Both keep to the wake policy, give way to a turn
 * that begins or a newer stop, and never outlive their assistant.
 *
 * @module
 */

import type { AgentClient } from "../client/agent_client.ts";
import { HOOK_TIMEOUTS } from "../defaults.ts";
import type { WireMessage } from "../protocol/messages.ts";
import { readActivity, writeActivity } from "../state/agent_records.ts";
import { wakeVerdict, wakeWorthy, withWake } from "./attention.ts";
import { activityOf, type SessionHook, unreadText } from "./hook_context.ts";
import { OUTPUT_ADAPTERS } from "./hook_output.ts";
import { notify as desktopNotify } from "./notifier.ts";
import { isAlive } from "./process_tree.ts";

/** watch: armed as of the stop that started it (or now). */
export async function idleSince(hook: SessionHook): Promise<number> {
  const a = await readActivity(hook.settings.dataDir, hook.name);
  return a?.state === "idle" ? a.since : Date.now();
}

/** wake: waits while idle, then hands the messages over (Claude Code: exit 2 wakes the session). */
export async function wake(hook: SessionHook, client: AgentClient): Promise<number> {
  if (!(await waitableIdle(hook, client))) return 0;
  const { shown } = await unreadText(client);
  if (!shown) return 0;
  await writeActivity(hook.settings.dataDir, withWake(await activityOf(hook), Date.now()));
  const out = OUTPUT_ADAPTERS[hook.assistant].wake(shown.text);
  hook.io.stderr(out.stderr + "\n");
  await client.ack(shown.shown);
  await hook.log({ outcome: "woken", name: hook.name, shown: shown.shown.length });
  return out.code;
}

/** watch: waits while idle, then rings and notifies (nothing is shown, so nothing acknowledged). */
export async function watch(hook: SessionHook, client: AgentClient): Promise<number> {
  const messages = await waitableIdle(hook, client);
  if (!messages) return 0;
  const from = [...new Set(messages.map((m) => m.from))].join(", ");
  const n = messages.length;
  await (hook.io.notify ?? desktopNotify)(
    "agent-ipc",
    `${n} new ${n === 1 ? "message" : "messages"} for ${hook.name} from ${from}`,
  );
  await writeActivity(hook.settings.dataDir, { ...await activityOf(hook), last_wake: Date.now() });
  await hook.log({ outcome: "notified", name: hook.name });
  return 0;
}

/**
 * wake, watch: the wake-worthy messages that came while idle, once the wake
 * policy allows a wake before and after the wait; undefined otherwise.
 */
async function waitableIdle(
  hook: SessionHook,
  client: AgentClient,
): Promise<WireMessage[] | undefined> {
  const before = wakeVerdict(await activityOf(hook), Date.now(), hook.policy);
  if (!before.ok) {
    await hook.log({ outcome: "not-armed", name: hook.name, reason: before.reason });
    return undefined;
  }
  const messages = await waitWhileIdle(hook, client);
  if (!messages) return undefined;
  const after = wakeVerdict(await activityOf(hook), Date.now(), hook.policy);
  if (!after.ok) {
    await hook.log({ outcome: "not-woken", name: hook.name, reason: after.reason });
    return undefined;
  }
  return messages;
}

/**
 * Waits for wake-worthy messages while the session stays as this hook armed
 * it: undefined once its state changed after `armedAt` (a turn began: its
 * next stop re-arms a wake; or a newer hook armed), its assistant is gone, or
 * after the time limit.
 */
async function waitWhileIdle(
  hook: SessionHook,
  client: AgentClient,
): Promise<WireMessage[] | undefined> {
  const { name, armedAt } = hook;
  const assistantPid = hook.found.record.assistant_pid;
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const busy = async () => {
    const a = await readActivity(hook.settings.dataDir, name);
    return a !== undefined && a.since > armedAt;
  };
  // Hooks of the same moment (SessionStart's attention hook) show what waits now.
  await sleep(HOOK_TIMEOUTS.graceMs);
  const deadline = Date.now() + HOOK_TIMEOUTS.wakeMs;
  while (Date.now() < deadline) {
    if (await busy()) {
      await hook.log({ outcome: "superseded", name });
      return undefined;
    }
    // Never outlive the session it belongs to.
    if (!(await isAlive(assistantPid))) {
      await hook.log({ outcome: "assistant-gone", name, pid: assistantPid });
      return undefined;
    }
    const r = await client.wait({
      timeoutMs: Math.min(HOOK_TIMEOUTS.pollMs, deadline - Date.now()),
      ack: false,
      limit: 20,
    });
    const worthy = r.messages.filter(wakeWorthy);
    if (worthy.length && !(await busy())) return worthy;
    // Only messages that must not wake wait: look again later, not at once.
    if (r.messages.length) await sleep(HOOK_TIMEOUTS.pollMs);
  }
  await hook.log({ outcome: "wake-timeout", name });
  return undefined;
}
