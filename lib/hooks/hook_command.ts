/**
 * `agent-ipc hook ASSISTANT EVENT`: the command an assistant's hooks run
 * (written by `setup`). It reads the assistant's JSON on stdin, finds its own
 * session (the MCP server of the same assistant recorded it, see
 * `state/agent_records.ts`), and:
 *
 * - `start`, `prompt`, `tool` (attention): prints the unread messages, bounded,
 *   in the assistant's hook output format, and acknowledges them only after
 *   that output is written;
 * - `wake` (Claude Code's asyncRewake Stop/SessionStart hook): marks the
 *   session idle and waits for a wake-worthy message; then prints it on
 *   stderr and exits 2, which wakes the idle session, within the wake budget
 *   and the loop guard;
 * - `stop` (the others): marks the session idle; Cursor gets a follow-up
 *   message when messages wait; with `--notify` a detached `watch` rings the
 *   terminal bell and shows a desktop notification when a message arrives.
 *
 * It runs on the assistant's hot path: output only on stdout and only the
 * JSON the assistant expects; exit 0 and silence on every failure (the
 * reason goes to `<data dir>/hooks.log`); attention hooks finish within a
 * few seconds whatever happens.
 *
 * @module
 */

import { join } from "node:path";
import { parseArgs } from "node:util";
import { type Settings, settingsFromEnv } from "../config.ts";
import { RUN_FLAGS } from "../permissions.ts";
import type { WireMessage } from "../protocol/messages.ts";
import { AgentClient } from "../client/agent_client.ts";
import {
  type AgentActivity,
  type AgentRecord,
  listAgentRecords,
  readActivity,
  readAgentRecord,
  writeActivity,
} from "../state/agent_records.ts";
import {
  attentionText,
  DEFAULT_WAKE_POLICY,
  MARKER,
  type WakePolicy,
  wakeVerdict,
  wakeWorthy,
  withWake,
} from "./attention.ts";
import { ancestors, isAlive } from "./process_tree.ts";

/** The assistants that run hooks. */
export const HOOK_ASSISTANTS = ["claude", "codex", "gemini", "cursor", "windsurf"] as const;
/** Which assistant runs the hook. */
export type HookAssistant = typeof HOOK_ASSISTANTS[number];
/** What happened in the assistant. */
export const HOOK_EVENTS = ["start", "prompt", "tool", "stop", "wake", "watch"] as const;
/** One hook event. */
export type HookEvent = typeof HOOK_EVENTS[number];

/** Help text of `hook`. */
export const HOOK_HELP =
  `Usage: agent-ipc hook <claude|codex|gemini|cursor|windsurf> <event> [options]

Run by an assistant's hooks (written by "agent-ipc setup"), with the assistant's
JSON on stdin. Finds its own session by itself (the agent-ipc MCP server of the
same assistant process recorded it).

Events:
  start, prompt, tool  print unread messages (at most 5, ~4 KB) as the hook's
                       additional context; acknowledged after they are printed
  wake                 Claude Code (asyncRewake): wait while idle, then wake the
                       session with the message (exit 2, text on stderr)
  stop                 mark the session idle (Cursor: follow-up when messages wait)
  watch                wait while idle, then notify (bell, desktop notification)

Options:
  --wake-budget N      wakes per hour (default ${DEFAULT_WAKE_POLICY.perHour}, IPC_WAKE_BUDGET; 0: never)
  --notify             on stop, watch for messages and notify (no wake possible)
  -h, --help           show this help

It never fails the assistant: on any problem it exits 0 without output and
writes why to <data dir>/hooks.log.
`;

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
  spawnWatch?: (args: string[], assistantPid: number) => void;
  /** Rings and notifies (tests pass their own). */
  notify?: (title: string, body: string) => Promise<void>;
}

/** Time limits: attention hooks end within `attentionMs` whatever happens. */
export const HOOK_TIMEOUTS = {
  stdinMs: 1_000,
  connectMs: 1_500,
  attentionMs: 4_000,
  /** The start hook may first wait for the session record. */
  startMs: 7_000,
  /** A wake hook waits this long at most (its hook timeout is an hour). */
  wakeMs: 55 * 60_000,
  /** How often a waiting hook looks whether its session got busy again. */
  pollMs: 3_000,
  /** A wake hook lets the attention hooks of the same moment go first. */
  graceMs: 1_000,
  /** How long a start hook waits for its MCP server to record the session. */
  recordWaitStartMs: 3_000,
  /** How long a wake hook waits for it. */
  recordWaitWakeMs: 60_000,
};

/** True in Claude Code's unattended runs (`claude -p`, the SDK). */
export function headless(env: HookIo["env"]): boolean {
  return env.CLAUDE_CODE_SESSION_ATTENDED === "0" || env.CLAUDE_CODE_ENTRYPOINT === "sdk-cli";
}

/** How a hook found its session. */
export interface FoundSession {
  record: AgentRecord;
  how: string;
}

/**
 * Finds the session of the assistant this hook runs under: the first of its
 * ancestors with a record; else a record with the assistant's session id;
 * with `onlyOne` (for when the ancestors cannot be walked), else the only
 * record there is. Never a guess otherwise: a second session that is still
 * starting must not take the first one's messages.
 */
export async function findSession(
  dataDir: string,
  pids: number[],
  sessionId: string | undefined,
  options: { fallbacks?: boolean; onlyOne?: boolean } = {},
): Promise<FoundSession | undefined> {
  for (const pid of pids) {
    const record = await readAgentRecord(dataDir, pid);
    if (record) return { record, how: `assistant process ${pid}` };
  }
  if (options.fallbacks === false) return undefined;
  const all = await listAgentRecords(dataDir);
  if (sessionId) {
    const r = all.find((x) => x.session_id === sessionId);
    if (r) return { record: r, how: `session id ${sessionId}` };
  }
  if (options.onlyOne && all.length === 1) {
    return { record: all[0], how: "the only agent-ipc session" };
  }
  return undefined;
}

class Quiet extends Error {}

function hookEventName(assistant: HookAssistant, event: HookEvent, input: Record<string, unknown>) {
  if (typeof input.hook_event_name === "string" && input.hook_event_name) {
    return input.hook_event_name;
  }
  const gemini = assistant === "gemini";
  return event === "start"
    ? "SessionStart"
    : event === "prompt"
    ? gemini ? "BeforeAgent" : "UserPromptSubmit"
    : gemini
    ? "AfterTool"
    : "PostToolUse";
}

/** A policy from `--wake-budget` / IPC_WAKE_BUDGET. */
function policyFrom(flag: string | undefined, env: HookIo["env"]): WakePolicy {
  const raw = flag ?? env.IPC_WAKE_BUDGET;
  const n = raw === undefined || raw === "" ? NaN : Number(raw);
  return Number.isInteger(n) && n >= 0
    ? { ...DEFAULT_WAKE_POLICY, perHour: n }
    : DEFAULT_WAKE_POLICY;
}

/** hooks.log is moved to hooks.log.1 past this size (every prompt adds a line). */
export const HOOK_LOG_MAX_BYTES = 1_000_000;

async function note(dataDir: string, fields: Record<string, unknown>): Promise<void> {
  const file = join(dataDir, "hooks.log");
  try {
    await Deno.mkdir(dataDir, { recursive: true, mode: 0o700 });
    const size = await Deno.stat(file).then((i) => i.size, () => 0);
    if (size > HOOK_LOG_MAX_BYTES) await Deno.rename(file, `${file}.1`).catch(() => {});
    await Deno.writeTextFile(
      file,
      JSON.stringify({ time: new Date().toISOString(), pid: Deno.pid, ...fields }) + "\n",
      { append: true, mode: 0o600 },
    );
  } catch {
    // Nowhere to say it: stay quiet.
  }
}

/**
 * Runs one hook; returns the exit code (0, or 2 for a wake). Never throws.
 *
 * @example
 * ```ts
 * // echo '{"hook_event_name":"UserPromptSubmit"}' | agent-ipc hook claude prompt
 * ```
 */
export async function runHook(args: string[], io: HookIo): Promise<number> {
  let values: { "wake-budget"?: string; notify?: boolean; help?: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        "wake-budget": { type: "string" },
        notify: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (e) {
    // Misuse must not fail the assistant either: say it on stderr only (exit 0).
    io.stderr(`agent-ipc hook: ${(e as Error).message}\n`);
    return 0;
  }
  if (values.help) {
    io.stdout(HOOK_HELP);
    return 0;
  }
  const [assistant, event] = positionals as [HookAssistant, HookEvent];
  let settings: Settings;
  try {
    settings = settingsFromEnv((n) => io.env[n]);
  } catch {
    return 0;
  }
  const dataDir = settings.dataDir;
  if (!HOOK_ASSISTANTS.includes(assistant) || !HOOK_EVENTS.includes(event)) {
    await note(dataDir, { assistant, event, outcome: "usage", args });
    return 0;
  }
  const started = Date.now();
  const bounded = event === "start" || event === "prompt" || event === "tool";
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const work = hook(assistant, event, values, settings, io, started);
    if (!bounded) return await work;
    const timeout = new Promise<number>((resolve) => {
      timer = setTimeout(() => {
        void note(dataDir, { assistant, event, outcome: "timeout", ms: Date.now() - started });
        resolve(0);
      }, event === "start" ? HOOK_TIMEOUTS.startMs : HOOK_TIMEOUTS.attentionMs);
    });
    return await Promise.race([work, timeout]);
  } catch (e) {
    if (!(e instanceof Quiet)) {
      await note(dataDir, { assistant, event, outcome: "error", error: (e as Error).message });
    }
    return 0;
  } finally {
    clearTimeout(timer);
  }
}

async function hook(
  assistant: HookAssistant,
  event: HookEvent,
  values: { "wake-budget"?: string; notify?: boolean },
  settings: Settings,
  io: HookIo,
  started: number,
): Promise<number> {
  const dataDir = settings.dataDir;
  const log = (fields: Record<string, unknown>) =>
    note(dataDir, { assistant, event, ms: Date.now() - started, ...fields });
  let input: Record<string, unknown> = {};
  if (event !== "watch") {
    try {
      const v = JSON.parse(await io.readStdin(HOOK_TIMEOUTS.stdinMs) || "{}");
      if (typeof v === "object" && v !== null && !Array.isArray(v)) input = v;
    } catch {
      // Not JSON: the event alone still says what to do.
    }
  }
  // Claude Code's headless runs (`claude -p`) wait for every asyncRewake hook
  // before they exit: a waiting wake hook there would hang the run.
  if (event === "wake" && assistant === "claude" && headless(io.env)) {
    await log({ outcome: "headless" });
    return 0;
  }
  // A detached watch is told its assistant; a hook finds it among its ancestors
  // (Claude Code also names it: CLAUDE_PID).
  const given = Number(io.env.IPC_HOOK_ASSISTANT_PID);
  const claudePid = Number(io.env.CLAUDE_PID);
  // The cheap guesses first (no process listing): the named pid, the parent.
  const quick = [given, claudePid, Deno.ppid].filter((p) => Number.isInteger(p) && p > 1);
  let walked: number[] | undefined;
  let seenUp = 0; // how many ancestors the walk could see
  const pids = async () => {
    if (walked) return walked;
    if (Number.isInteger(given) && given > 1) {
      seenUp = Infinity; // told exactly: never another session
      return walked = [given];
    }
    const up = await (io.ancestors ?? (() => ancestors()))();
    seenUp = up.length;
    return walked = [...quick, ...up];
  };
  const sessionId = typeof input.session_id === "string"
    ? input.session_id
    : io.env.CLAUDE_CODE_SESSION_ID ?? io.env.GEMINI_SESSION_ID;
  // At session start the MCP server starts alongside the hooks and records its
  // session a moment later: start and wake wait for it (bounded).
  const patience = event === "wake" || event === "watch"
    ? HOOK_TIMEOUTS.recordWaitWakeMs
    : event === "start"
    ? HOOK_TIMEOUTS.recordWaitStartMs
    : 0;
  const look = async () =>
    await findSession(dataDir, quick, undefined, { fallbacks: false }) ??
      await findSession(dataDir, await pids(), sessionId);
  let found = await look();
  // Said in hooks.log: a hook that starts before its session shows why it took longer.
  if (!found && patience > 0) await log({ outcome: "awaiting-session", patience });
  for (const until = Date.now() + patience; !found && Date.now() < until;) {
    await new Promise((r) => setTimeout(r, 100));
    found = await look();
  }
  // Where no ancestors can be seen (Windows), the only session there is will do.
  if (!found && (await pids()) && seenUp <= 1) {
    found = await findSession(dataDir, [], sessionId, { onlyOne: true });
  }
  if (!found) {
    await log({ outcome: "no-session", ancestors: await pids() });
    return 0;
  }
  const name = found.record.name;
  const now = () => Date.now();
  const activity = async (): Promise<AgentActivity> =>
    await readActivity(dataDir, name) ?? { name, state: "idle", since: 0, wakes: [], assistant };
  const policy = policyFrom(values["wake-budget"], io.env);

  // State first: it needs no broker, and `list` shows it even when the broker is away.
  if (event === "prompt" || event === "tool") {
    const a = await activity();
    const prompt = typeof input.prompt === "string" ? input.prompt : "";
    // A woken turn may pass our own text as its prompt: that is not the person.
    const person = event === "prompt" && !prompt.includes(MARKER);
    await writeActivity(dataDir, {
      ...a,
      assistant,
      state: "awake",
      since: now(),
      ...(person ? { last_prompt: now() } : {}),
    });
  }
  // The moment this hook armed: any later change of state (a turn began, or a
  // newer stop armed its own hook) supersedes it, so one wake waits at a time.
  let armedAt = 0;
  if (event === "stop" || event === "wake") {
    armedAt = now();
    await writeActivity(dataDir, { ...await activity(), assistant, state: "idle", since: armedAt });
  } else if (event === "watch") {
    const a = await readActivity(dataDir, name);
    armedAt = a?.state === "idle" ? a.since : now();
  }

  let client: AgentClient;
  try {
    client = await AgentClient.connect({
      host: settings.host,
      port: settings.port,
      dataDir,
      role: "none",
      secret: settings.secret,
      session: { name, token: found.record.token },
      autoReregister: false,
      retries: 0,
      timeoutMs: HOOK_TIMEOUTS.connectMs,
      tls: settings.tlsCa ? { caCerts: [await Deno.readTextFile(settings.tlsCa)] } : undefined,
    });
  } catch (e) {
    await log({ outcome: "no-broker", error: (e as Error).message });
    return 0;
  }
  try {
    if (!client.session) {
      await log({ outcome: "session-unknown", name });
      return 0;
    }
    if (event === "start" || event === "prompt" || event === "tool") {
      if (assistant === "windsurf") return 0;
      const r = await client.check({ ack: false, limit: 20 });
      const shown = attentionText(r.messages, Math.max(r.remaining, r.messages.length));
      if (!shown) return 0;
      const text = assistant === "cursor"
        ? JSON.stringify({ additional_context: shown.text })
        : JSON.stringify({
          hookSpecificOutput: {
            hookEventName: hookEventName(assistant, event, input),
            additionalContext: shown.text,
          },
        });
      io.stdout(text + "\n");
      // Written: now it counts as delivered (at least once, as everywhere).
      await client.ack(shown.shown);
      await log({ outcome: "shown", name, shown: shown.shown.length, how: found.how });
      return 0;
    }
    if (event === "stop") {
      if (assistant === "cursor") {
        const r = await client.check({ ack: false, limit: 20 });
        const worthy = r.messages.filter(wakeWorthy);
        const verdict = wakeVerdict(await activity(), now(), policy);
        if (worthy.length && verdict.ok) {
          const shown = attentionText(r.messages, Math.max(r.remaining, r.messages.length))!;
          io.stdout(JSON.stringify({ followup_message: shown.text }) + "\n");
          await writeActivity(dataDir, withWake(await activity(), now()));
          await client.ack(shown.shown);
          await log({ outcome: "followup", name, shown: shown.shown.length });
          return 0;
        }
      }
      if (values.notify) {
        (io.spawnWatch ?? spawnWatch)([assistant, "watch"], found.record.assistant_pid);
        await log({ outcome: "watching", name });
      }
      return 0;
    }
    // wake / watch: wait while idle, unless no wake could happen anyway.
    const before = wakeVerdict(await activity(), now(), policy);
    if (!before.ok) {
      await log({ outcome: "not-armed", name, reason: before.reason });
      return 0;
    }
    const messages = await waitWhileIdle(
      client,
      dataDir,
      name,
      armedAt,
      log,
      found.record.assistant_pid,
    );
    if (!messages) return 0;
    const verdict = wakeVerdict(await activity(), now(), policy);
    if (!verdict.ok) {
      await log({ outcome: "not-woken", name, reason: verdict.reason });
      return 0;
    }
    if (event === "watch") {
      const from = [...new Set(messages.map((m) => m.from))].join(", ");
      await (io.notify ?? notify)(
        "agent-ipc",
        `${messages.length} new ${
          messages.length === 1 ? "message" : "messages"
        } for ${name} from ${from}`,
      );
      await writeActivity(dataDir, { ...await activity(), last_wake: now() });
      await log({ outcome: "notified", name });
      return 0;
    }
    const r = await client.check({ ack: false, limit: 20 });
    const shown = attentionText(r.messages, Math.max(r.remaining, r.messages.length));
    if (!shown) return 0;
    await writeActivity(dataDir, withWake(await activity(), now()));
    io.stderr(shown.text + "\n");
    await client.ack(shown.shown);
    await log({ outcome: "woken", name, shown: shown.shown.length });
    return 2;
  } finally {
    await client.close().catch(() => {});
  }
}

/**
 * Waits for wake-worthy messages while the session stays as this hook armed
 * it: undefined once its state changed after `armedAt` (a turn began: its
 * next stop re-arms a wake; or a newer hook armed), its assistant is gone, or
 * after the time limit.
 */
async function waitWhileIdle(
  client: AgentClient,
  dataDir: string,
  name: string,
  armedAt: number,
  log: (fields: Record<string, unknown>) => Promise<void>,
  assistantPid: number,
): Promise<WireMessage[] | undefined> {
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const busy = async () => {
    const a = await readActivity(dataDir, name);
    return a !== undefined && a.since > armedAt;
  };
  // Hooks of the same moment (SessionStart's attention hook) show what waits now.
  await sleep(HOOK_TIMEOUTS.graceMs);
  const deadline = Date.now() + HOOK_TIMEOUTS.wakeMs;
  while (Date.now() < deadline) {
    if (await busy()) {
      await log({ outcome: "superseded", name });
      return undefined;
    }
    // Never outlive the session it belongs to.
    if (!(await isAlive(assistantPid))) {
      await log({ outcome: "assistant-gone", name, pid: assistantPid });
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
  await log({ outcome: "wake-timeout", name });
  return undefined;
}

/** Starts `agent-ipc hook …` detached, so the assistant's hook returns at once. */
function spawnWatch(args: string[], assistantPid: number): void {
  const standalone = (Deno.build as { standalone?: boolean }).standalone === true;
  const cmd = Deno.execPath();
  const full = standalone
    ? ["hook", ...args]
    : ["run", ...RUN_FLAGS, Deno.mainModule, "hook", ...args];
  const child = new Deno.Command(cmd, {
    args: full,
    env: { IPC_HOOK_ASSISTANT_PID: String(assistantPid) },
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  child.unref();
}

/** The terminal bell (on the controlling terminal) and a desktop notification, best effort. */
async function notify(title: string, body: string): Promise<void> {
  try {
    const tty = await Deno.open("/dev/tty", { write: true });
    await tty.write(new Uint8Array([7]));
    tty.close();
  } catch {
    // No terminal.
  }
  const os = Deno.build.os;
  const [cmd, args] = os === "darwin"
    ? ["osascript", [
      "-e",
      `display notification ${JSON.stringify(body)} with title ${JSON.stringify(title)}`,
    ]]
    : ["notify-send", [title, body]];
  if (os === "windows") return; // the bell only
  try {
    await new Deno.Command(cmd as string, {
      args: args as string[],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).output();
  } catch {
    // No notifier installed.
  }
}
