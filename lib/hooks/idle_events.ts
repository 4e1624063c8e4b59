/**
 * The hook events that wait while the session is idle: `wake` (Claude Code's
 * inbox socket, else asyncRewake: exit 2 with the text wakes the session;
 * neither when the person's `crossSessionInbound` holds or refuses messages
 * from other sessions, see `lib/claude_inbound.ts`) and `watch` (rings and
 * notifies; nothing shown). Both keep to the wake policy, give way to a turn
 * that begins or a newer stop, and never outlive their assistant.
 *
 * @module
 */

import type { AgentClient } from "../client/agent_client.ts";
import { HOOK_TIMEOUTS } from "../defaults.ts";
import type { WireMessage } from "../protocol/messages.ts";
import { readActivity, readStateStamp, writeActivity } from "../state/agent_records.ts";
import { wakeVerdict, wakeWorthy, withWake } from "./attention.ts";
import { acknowledge, activityOf, type SessionHook, unreadText } from "./hook_context.ts";
import { OUTPUT_ADAPTERS } from "./hook_output.ts";
import { notify as desktopNotify } from "./notifier.ts";
import { stamp } from "./turn_events.ts";
import { isAlive } from "../process_alive.ts";
import {
  claudeSocketOf,
  codexCommand,
  queueCodexTurn,
  sendClaudeNudge,
  WAKE_NUDGE,
  type WakeMechanism,
} from "./wake_channels.ts";
import { claudeInbound, describeInbound, type InboundSetting } from "../claude_inbound.ts";
import { homeDir } from "../config.ts";

/** watch: armed as of the stop that started it (or now). */
export async function idleSince(hook: SessionHook): Promise<number> {
  const a = await readActivity(hook.settings.dataDir, hook.name);
  if (hook.quietPid !== undefined) {
    const s = await readStateStamp(hook.settings.dataDir, hook.quietPid);
    if (s?.state === "idle") hook.armedStamp = s.text;
  }
  return a?.state === "idle" ? a.since : Date.now();
}

/** Records how the session is reached now (shown by list, status, whoami, the console). */
async function reach(hook: SessionHook, wake: WakeMechanism, note?: string): Promise<void> {
  const { wake_note: _old, ...a } = await activityOf(hook);
  await writeActivity(hook.settings.dataDir, { ...a, wake, ...(note ? { wake_note: note } : {}) });
}

/** Claude Code's `crossSessionInbound` for the hook's session (its project's settings too). */
function inboundOf(hook: SessionHook): Promise<InboundSetting> {
  const env = hook.io.env;
  const project = env.CLAUDE_PROJECT_DIR ??
    (typeof hook.input.cwd === "string" ? hook.input.cwd : undefined);
  return claudeInbound({ env, home: homeDir((k) => env[k]), project });
}

/** Records a wake that came through `via`. */
async function woken(hook: SessionHook, via: WakeMechanism): Promise<void> {
  await writeActivity(hook.settings.dataDir, {
    ...withWake(await activityOf(hook), Date.now()),
    wake: via,
    last_wake_via: via,
  });
  await stamp(hook, "awake");
}

/**
 * wake: waits while idle, then wakes the session: through Claude Code's own
 * inbox socket where it has one (a neutral nudge; the prompt hook of the turn
 * it starts shows the messages), else by handing the messages over (Claude
 * Code's asyncRewake: exit 2 with the text wakes the session).
 */
export async function wake(hook: SessionHook, client: AgentClient): Promise<number> {
  const socket = hook.assistant === "claude" ? claudeSocketOf(hook.io.env) : undefined;
  // The person's choice for messages from other sessions holds for agent-ipc's nudge too, and
  // asyncRewake must not go around it: "hold" leaves the nudge for the person to approve,
  // "refuse" sends nothing. The socket answers nothing either way, so the setting decides.
  const inbound = hook.assistant === "claude" ? await inboundOf(hook) : undefined;
  if (inbound?.value === "refuse") return await notWoken(hook, inbound);
  await reach(
    hook,
    inbound?.value === "hold" ? "claude-held" : socket ? "claude-socket" : "asyncRewake",
    inbound && inbound.value !== "accept" ? describeInbound(inbound) : undefined,
  );
  if (!(await waitableIdle(hook, client))) return 0;
  // Claude Code reads its settings anew for each message: so does this hook.
  const now = hook.assistant === "claude" ? await inboundOf(hook) : undefined;
  if (now?.value === "refuse" || (now?.value === "hold" && !socket)) {
    return await notWoken(hook, now);
  }
  // "hold": the nudge goes once, for the person to approve; nothing goes around it.
  const held = now?.value === "hold" ? now : undefined;
  if (socket) {
    const t0 = Date.now();
    try {
      await sendClaudeNudge(socket);
      if (held) await reach(hook, "claude-held", describeInbound(held));
      else await woken(hook, "claude-socket");
      await hook.log({
        outcome: held ? "held" : "woken",
        name: hook.name,
        ...(held ? { inbound: held.value, source: held.source } : { via: "claude-socket" }),
        sendMs: Date.now() - t0,
      });
      return 0;
    } catch (e) {
      // Its format is Claude Code's own, seen in its debug log: asyncRewake still works.
      await hook.log({ outcome: "socket-failed", name: hook.name, error: (e as Error).message });
      if (held) return await notWoken(hook, held);
    }
  }
  const { shown } = await unreadText(hook, client);
  if (!shown) return 0;
  await woken(hook, "asyncRewake");
  const out = OUTPUT_ADAPTERS[hook.assistant].wake(shown.text);
  hook.io.stderr(out.stderr + "\n");
  await acknowledge(hook, client, shown.shown);
  await hook.log({
    outcome: "woken",
    name: hook.name,
    via: "asyncRewake",
    shown: shown.shown.length,
  });
  return out.code;
}

/** No wake: the person's crossSessionInbound says so; the prompt hook shows the messages. */
async function notWoken(hook: SessionHook, inbound: InboundSetting): Promise<number> {
  await reach(hook, "none", describeInbound(inbound));
  await hook.log({
    outcome: "inbound-" + inbound.value,
    name: hook.name,
    source: inbound.source,
    path: inbound.path,
  });
  return 0;
}

/**
 * watch: waits while idle, then wakes a Codex session with `codex queue` (a
 * stop hook that knew its thread started it so), else rings and notifies
 * (nothing is shown, so nothing acknowledged: the prompt hook shows them).
 */
export async function watch(hook: SessionHook, client: AgentClient): Promise<number> {
  const messages = await waitableIdle(hook, client);
  if (!messages) return 0;
  const thread = hook.found.record.session_id;
  if (hook.io.env.IPC_HOOK_WAKE === "codex-queue" && thread) {
    // The window may have closed while the message came: never wake a thread nobody shows.
    for (const pid of [hook.found.record.assistant_pid, hook.found.record.mcp_pid]) {
      if (!(await isAlive(pid))) {
        await hook.log({ outcome: "assistant-gone", name: hook.name, pid });
        return 0;
      }
    }
    const codex = await codexCommand(hook.io.env);
    const t0 = Date.now();
    try {
      if (!codex) throw new Error("no codex command found");
      const said = await queueCodexTurn(codex, thread, hook.io.env);
      await woken(hook, "codex-queue");
      await hook.log({
        outcome: "woken",
        name: hook.name,
        via: "codex-queue",
        thread,
        queueMs: Date.now() - t0,
        said,
      });
      return 0;
    } catch (e) {
      await hook.log({ outcome: "queue-failed", name: hook.name, error: (e as Error).message });
    }
  }
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
 * waiter (Gemini CLI): started by the model with `run_shell_command` in the
 * background; Gemini starts a turn when it ends (`experimental.modelSteering`,
 * `tools.shell.backgroundCompletionBehavior: "inject"`). It ends only to wake:
 * when a wake-worthy message is there while the session is idle and the wake
 * policy allows a wake, it prints a neutral nudge (Gemini frames the output as
 * the user's own steering) and exits; the turn's BeforeAgent hook shows the
 * messages. Silent otherwise; it never outlives its session.
 */
export async function waiter(hook: SessionHook, client: AgentClient): Promise<number> {
  const dir = hook.settings.dataDir;
  await writeActivity(dir, {
    ...await activityOf(hook),
    waiter_pid: Deno.pid,
    wake: "gemini-waiter",
  });
  await hook.log({ outcome: "waiting", name: hook.name });
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  for (;;) {
    for (const pid of [hook.found.record.assistant_pid, hook.found.record.mcp_pid]) {
      if (!(await isAlive(pid))) {
        await hook.log({ outcome: "assistant-gone", name: hook.name, pid });
        return 0;
      }
    }
    // The state as the hook command's shell may have stamped it since (a turn began).
    const state = async () =>
      (await readActivity(dir, hook.name, hook.quietPid))?.state ?? (await activityOf(hook)).state;
    const a = await activityOf(hook);
    if (a.waiter_pid !== Deno.pid) {
      // A newer waiter took over: one at a time.
      await hook.log({ outcome: "superseded", name: hook.name });
      return 0;
    }
    if (await state() !== "idle") {
      await sleep(HOOK_TIMEOUTS.pollMs); // in a turn: its hooks show what comes
      continue;
    }
    const r = await client.wait({ timeoutMs: HOOK_TIMEOUTS.pollMs, ack: false, limit: 20 });
    if (!r.messages.some(wakeWorthy)) {
      if (r.messages.length) await sleep(HOOK_TIMEOUTS.pollMs);
      continue;
    }
    if (await state() !== "idle") continue;
    const now = await activityOf(hook);
    const verdict = wakeVerdict(now, Date.now(), hook.policy);
    if (!verdict.ok) {
      // Not now (loop guard, budget): stay, silent; a prompt of the person resets the guard.
      await sleep(HOOK_TIMEOUTS.pollMs);
      continue;
    }
    const { waiter_pid: _gone, ...rest } = withWake(now, Date.now());
    await writeActivity(dir, { ...rest, wake: "gemini-waiter", last_wake_via: "gemini-waiter" });
    hook.io.stdout(WAKE_NUDGE + "\n");
    await hook.log({ outcome: "woken", name: hook.name, via: "gemini-waiter" });
    return 0;
  }
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
  // Busy once anyone recorded a state after this hook armed: in the JSON (a
  // hook run by Deno) or in the stamp (the hook command's shell, which has no
  // millisecond clock: any other text than the one armed).
  const busy = async () => {
    const a = await readActivity(hook.settings.dataDir, name);
    if (a !== undefined && a.since > armedAt) return true;
    if (hook.armedStamp === undefined || hook.quietPid === undefined) return false;
    const s = await readStateStamp(hook.settings.dataDir, hook.quietPid);
    return s?.text !== hook.armedStamp;
  };
  // Hooks of the same moment (SessionStart's attention hook) show what waits now.
  await sleep(HOOK_TIMEOUTS.graceMs);
  const deadline = Date.now() + HOOK_TIMEOUTS.wakeMs;
  while (Date.now() < deadline) {
    if (await busy()) {
      await hook.log({ outcome: "superseded", name });
      return undefined;
    }
    // Never outlive the session it belongs to (under Codex's daemon, the
    // window's own MCP server is what ends with it).
    for (const pid of [assistantPid, hook.found.record.mcp_pid]) {
      if (!(await isAlive(pid))) {
        await hook.log({ outcome: "assistant-gone", name, pid });
        return undefined;
      }
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
