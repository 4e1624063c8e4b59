/**
 * `agent-ipc hook ASSISTANT EVENT`: the command an assistant's hooks run
 * (written by `setup`). It reads the assistant's JSON on stdin, finds its own
 * session (`session_discovery.ts`), and does what the event's entry in
 * {@linkcode EVENTS} says, in the assistant's output format
 * (`hook_output.ts`):
 *
 * - `start`, `prompt`, `tool` (attention): prints the unread messages, bounded,
 *   and acknowledges them only after that output is written;
 * - `wake` (Claude Code's asyncRewake Stop/SessionStart hook): marks the
 *   session idle and waits for a wake-worthy message; then wakes the idle
 *   session through Claude Code's inbox socket, else prints it on stderr and
 *   exits 2, within the wake budget and the loop guard, and never around the
 *   person's `crossSessionInbound` ("hold", "refuse": see `idle_events.ts`);
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

import { parseArgs } from "node:util";
import {
  CLIENT_SETTING_FLAGS,
  type ClientSettingFlag,
  envWithFlags,
  type Settings,
  settingsFromEnv,
} from "../config.ts";
import { HOOK_TIMEOUTS } from "../defaults.ts";
import { AgentClient } from "../client/agent_client.ts";
import { DEFAULT_WAKE_POLICY, type WakePolicy } from "./attention.ts";
import {
  HOOK_EVENTS,
  type HookEvent,
  type HookIo,
  type HookRun,
  type SessionHook,
} from "./hook_context.ts";
import { HOOK_ASSISTANTS, type HookAssistant } from "./hook_output.ts";
import { noteHook } from "./hook_log.ts";
import { idleSince, waiter, wake, watch } from "./idle_events.ts";
import { markAwake, markIdle, showUnread, stopped } from "./turn_events.ts";
import { discoverSession, sessionClues } from "./session_discovery.ts";
import { recordsOf } from "../state/agent_records.ts";

export { HOOK_ASSISTANTS, HOOK_EVENTS, type HookAssistant, type HookEvent, type HookIo };
export { HOOK_LOG_MAX_BYTES } from "./hook_log.ts";

/** Help text of `hook`. */
export const HOOK_HELP =
  `Usage: agent-ipc hook <claude|codex|gemini|cursor|windsurf> <event> [options]

Run by an assistant's hooks (written by "agent-ipc setup"), with the assistant's
JSON on stdin. Finds its own session by itself (the agent-ipc MCP server of the
same assistant process recorded it).

Events:
  start, prompt, tool  print unread messages (at most 5, ~4 KB) as the hook's
                       additional context; acknowledged after they are printed
  wake                 Claude Code: wait while idle, then wake the session through
                       its inbox socket, else with the message (exit 2, text on
                       stderr); neither when its crossSessionInbound is "hold"
                       (the nudge waits for the person) or "refuse"
  stop                 mark the session idle (Cursor: follow-up when messages wait)
  watch                wait while idle, then notify (bell, desktop notification)
  waiter               Gemini CLI: run by its model in the background; prints a
                       nudge and exits when a message comes while it is idle
                       (Gemini then starts a turn whose prompt hook shows it)

Options:
  --wake-budget N      wakes per hour (default ${DEFAULT_WAKE_POLICY.perHour}, IPC_WAKE_BUDGET; 0: never)
  --notify             on stop, watch for messages and notify (no wake possible)
  --port PORT  --host HOST  --data-dir DIR  --tls-ca FILE  --secret-file FILE
                       the broker's settings (setup writes the ones it was run
                       with; they win over IPC_PORT ...)
  -h, --help           show this help

It never fails the assistant: on any problem it exits 0 without output and
writes why to <data dir>/hooks.log.
`;

/** True in Claude Code's unattended runs (`claude -p`, the SDK). */
export function headless(env: HookIo["env"]): boolean {
  return env.CLAUDE_CODE_SESSION_ATTENDED === "0" || env.CLAUDE_CODE_ENTRYPOINT === "sdk-cli";
}

/** What one event does: the NSQ `Exec` dispatch, one entry per event. */
interface EventSpec {
  /** Whether the assistant gives this event JSON on stdin. */
  stdin: boolean;
  /** The whole hook ends within this (undefined: it may wait, detached or async). */
  boundMs?: number;
  /** How long it waits for its session to be recorded (it may start alongside it). */
  patienceMs: number;
  /** Why it does nothing at all here (checked before it looks for its session). */
  skip?: (run: HookRun) => string | undefined;
  /** The state it writes first (it needs no broker); returns when it armed. */
  mark?: (hook: SessionHook) => Promise<number>;
  /** What it does with its session at the broker; returns the exit code. */
  run: (hook: SessionHook, client: AgentClient) => Promise<number>;
}

/** The events, each with its own small handler. */
const EVENTS: Readonly<Record<HookEvent, EventSpec>> = {
  start: {
    stdin: true,
    boundMs: HOOK_TIMEOUTS.startMs,
    patienceMs: HOOK_TIMEOUTS.recordWaitStartMs,
    run: showUnread,
  },
  prompt: {
    stdin: true,
    boundMs: HOOK_TIMEOUTS.attentionMs,
    patienceMs: 0,
    mark: markAwake,
    run: showUnread,
  },
  tool: {
    stdin: true,
    boundMs: HOOK_TIMEOUTS.attentionMs,
    patienceMs: 0,
    mark: markAwake,
    run: showUnread,
  },
  stop: { stdin: true, patienceMs: 0, mark: markIdle, run: stopped },
  wake: {
    stdin: true,
    patienceMs: HOOK_TIMEOUTS.recordWaitWakeMs,
    // Claude Code's headless runs (`claude -p`) wait for every asyncRewake hook
    // before they exit: a waiting wake hook there would hang the run.
    skip: (r) => r.assistant === "claude" && headless(r.io.env) ? "headless" : undefined,
    mark: markIdle,
    run: wake,
  },
  watch: { stdin: false, patienceMs: HOOK_TIMEOUTS.recordWaitWakeMs, mark: idleSince, run: watch },
  waiter: { stdin: false, patienceMs: HOOK_TIMEOUTS.recordWaitWakeMs, run: waiter },
};

/** A policy from `--wake-budget` / IPC_WAKE_BUDGET. */
function policyFrom(flag: string | undefined, env: HookIo["env"]): WakePolicy {
  const raw = flag ?? env.IPC_WAKE_BUDGET;
  const n = raw === undefined || raw === "" ? NaN : Number(raw);
  return Number.isInteger(n) && n >= 0
    ? { ...DEFAULT_WAKE_POLICY, perHour: n }
    : DEFAULT_WAKE_POLICY;
}

/** The setting flags a hook takes (`--port` ...), as `parseArgs` options. */
const SETTING_OPTIONS = Object.fromEntries(
  Object.keys(CLIENT_SETTING_FLAGS).map((f) => [f, { type: "string" as const }]),
) as Record<ClientSettingFlag, { type: "string" }>;

type HookValues =
  & { "wake-budget"?: string; notify?: boolean; help?: boolean }
  & Partial<Record<ClientSettingFlag, string>>;

/** The setting flags of `values` again, for a hook this one starts (`watch`). */
function settingArgs(values: HookValues): string[] {
  return (Object.keys(CLIENT_SETTING_FLAGS) as ClientSettingFlag[])
    .flatMap((f) => values[f] ? [`--${f}`, values[f]!] : []);
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
  let values: HookValues;
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
        ...SETTING_OPTIONS,
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
    // The settings setup wrote into the hook command (--port ...) win over the variables.
    io = { ...io, env: envWithFlags(io.env, values) };
    settings = settingsFromEnv((n) => io.env[n]);
  } catch {
    return 0;
  }
  const dataDir = settings.dataDir;
  if (!HOOK_ASSISTANTS.includes(assistant) || !HOOK_EVENTS.includes(event)) {
    await noteHook(dataDir, { assistant, event, outcome: "usage", args });
    return 0;
  }
  const spec = EVENTS[event];
  const started = Date.now();
  const run: HookRun = {
    assistant,
    event,
    input: {},
    settings,
    io,
    policy: policyFrom(values["wake-budget"], io.env),
    notify: values.notify === true,
    settingArgs: settingArgs(values),
    log: (fields) => noteHook(dataDir, { assistant, event, ms: Date.now() - started, ...fields }),
  };
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const work = hook(spec, run);
    if (spec.boundMs === undefined) return await work;
    const timeout = new Promise<number>((resolve) => {
      timer = setTimeout(() => {
        void run.log({ outcome: "timeout" });
        resolve(0);
      }, spec.boundMs);
    });
    return await Promise.race([work, timeout]);
  } catch (e) {
    await noteHook(dataDir, { assistant, event, outcome: "error", error: (e as Error).message });
    return 0;
  } finally {
    clearTimeout(timer);
  }
}

/** The steps every event shares: stdin, its session, its state, the broker. */
async function hook(spec: EventSpec, run: HookRun): Promise<number> {
  if (spec.stdin) run.input = await readInput(run.io);
  const skipped = spec.skip?.(run);
  if (skipped) {
    await run.log({ outcome: skipped });
    return 0;
  }
  const dataDir = run.settings.dataDir;
  const discovery = await discoverSession(
    dataDir,
    {
      ...sessionClues(run.input, run.io.env, run.io.ancestors),
      // Codex runs every window under one daemon: only the thread id tells them apart.
      strictSession: run.assistant === "codex",
    },
    {
      patienceMs: spec.patienceMs,
      // Said in hooks.log: a hook that starts before its session shows why it took longer.
      onWait: () => run.log({ outcome: "awaiting-session", patience: spec.patienceMs }),
    },
  );
  if (!discovery.found) {
    await run.log({ outcome: "no-session", ancestors: discovery.ancestors });
    return 0;
  }
  const found = discovery.found;
  const session: SessionHook = {
    ...run,
    found,
    name: found.record.name,
    armedAt: 0,
    quietPid: await quietPidOf(dataDir, found.record.assistant_pid),
  };
  // State first: it needs no broker, and `list` shows it even when the broker is away.
  if (spec.mark) session.armedAt = await spec.mark(session);
  let client: AgentClient;
  try {
    client = await AgentClient.connect({
      host: run.settings.host,
      port: run.settings.port,
      dataDir,
      role: "none",
      secret: run.settings.secret,
      session: { name: session.name, token: found.record.token },
      autoReregister: false,
      retries: 0,
      timeoutMs: HOOK_TIMEOUTS.connectMs,
      tls: run.settings.tlsCa
        ? { caCerts: [await Deno.readTextFile(run.settings.tlsCa)] }
        : undefined,
    });
  } catch (e) {
    await run.log({ outcome: "no-broker", error: (e as Error).message });
    return 0;
  }
  try {
    if (!client.session) {
      await run.log({ outcome: "session-unknown", name: session.name });
      return 0;
    }
    return await spec.run(session, client);
  } finally {
    await client.close().catch(() => {});
  }
}

/** The assistant's JSON object on stdin; {} when there is none (the event alone still says what to do). */
async function readInput(io: HookIo): Promise<Record<string, unknown>> {
  try {
    const v = JSON.parse(await io.readStdin(HOOK_TIMEOUTS.stdinMs) || "{}");
    if (typeof v === "object" && v !== null && !Array.isArray(v)) return v;
  } catch {
    // Not JSON.
  }
  return {};
}

/**
 * The assistant process whose quiet marker and shell stamps are this
 * session's: only one that runs this one session (Codex's shared daemon runs
 * a session per window: no shell test can tell them apart), never on Windows
 * (setup writes no shell test there).
 */
async function quietPidOf(dataDir: string, pid: number): Promise<number | undefined> {
  if (Deno.build.os === "windows") return undefined;
  return (await recordsOf(dataDir, pid)).length === 1 ? pid : undefined;
}
