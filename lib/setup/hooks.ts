/**
 * The hooks `setup` installs next to the MCP entry, per assistant, and the
 * edits that put them in (or take them out) without touching the user's own
 * hooks: where each assistant keeps its hooks, the hook entries themselves
 * (`agent-ipc hook ASSISTANT EVENT`), Claude Code's permission rule, and
 * Codex's per-hook trust record (`[hooks.state."…"] trusted_hash`).
 *
 * Our entries are recognised by their command (`… hook <assistant> <event>`),
 * so a second run changes nothing and `--remove` takes out only ours.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { posix, win32 } from "node:path";
import { getJsoncValue, parseJsoncObject, removeJsoncValue, setJsoncValue } from "./jsonc_text.ts";
import { getTomlValue, isTomlTable, parseToml } from "./toml_document.ts";
import { removeTomlPath, setTomlValue } from "./toml_text.ts";
import type { ServerLaunch } from "./server_entry.ts";
import type { TargetConfig, TargetContext, TargetId } from "./targets.ts";

/** The permission rule that lets Claude Code call every agent-ipc tool without asking. */
export const CLAUDE_PERMISSION = "mcp__agent-ipc";

/** Environment variables Codex must pass to the MCP server (it passes only listed ones). */
export const CODEX_ENV_VARS = [
  "IPC_PORT",
  "IPC_HOST",
  "IPC_DATA_DIR",
  "IPC_SHARED_SECRET",
  "IPC_TLS_CA",
  "IPC_LOG",
  "DENO_DIR",
];

/** One hook handler as written. */
export interface HookHandler {
  type?: "command";
  command: string;
  timeout?: number;
  asyncRewake?: boolean;
  loop_limit?: number;
  show_output?: boolean;
  /** Gemini CLI: environment variables of the hook (the waiter command). */
  env?: Record<string, string>;
}

/** A group under one event (`{matcher?, hooks: [handler]}`), or a flat handler (Cursor, Windsurf). */
export type HookGroup = { matcher?: string; hooks: HookHandler[] } | HookHandler;

/** The hooks of one assistant: the file, its layout and the entries by event. */
export interface HookPlan {
  path: string;
  /** Cursor's `hooks.json` needs `"version": 1` at the top. */
  version?: number;
  events: Record<string, HookGroup[]>;
}

/** The agent-ipc hook command in any of its forms (our entries are found by it). */
const OURS =
  /(?:^|\s|')hook'? '?(claude|codex|gemini|cursor|windsurf)'? '?(start|prompt|tool|stop|wake|watch)\b/;

function quote(arg: string, os: typeof Deno.build.os): string {
  if (/^[\w@%+=:,./\\-]+$/.test(arg)) return arg;
  if (os === "windows") return `"${arg.replaceAll('"', '\\"')}"`;
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

/**
 * The data dir as `config.ts` finds it, in POSIX shell: IPC_DATA_DIR, else
 * the OS's per-user folder. Fixed text: nothing of the user's is put in.
 */
function shellDataDir(os: typeof Deno.build.os): string {
  return os === "darwin"
    ? "${IPC_DATA_DIR:-$HOME/Library/Application Support/agent-ipc}"
    : "${IPC_DATA_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/agent-ipc}";
}

/**
 * What the hook command's shell does, without Deno, when the broker's quiet
 * marker says the session's queue is empty (`broker/quiet_markers.ts`):
 * records what Deno would have recorded (`state/agent_records.ts`: the state
 * stamp; at a prompt, the person's prompt unless it is a woken turn's, which
 * carries our marker) and exits 0. Undefined: the event always needs Deno
 * (Claude Code's wake waits; `--notify` starts a watch; a session's start
 * may come from a process that is starting another session, Codex's shared
 * daemon opening a window, before that session's record exists: the marker
 * still speaks of the first one, so the start hook, once per session, runs
 * Deno).
 */
function quietPath(event: string, extra: string[]): string | undefined {
  if (extra.includes("--notify")) return undefined;
  switch (event) {
    case "tool":
      return `printf 'awake sh\\n' >"$f.state" 2>/dev/null; exit 0`;
    case "prompt":
      return `printf 'awake sh\\n' >"$f.state" 2>/dev/null; ` +
        `grep -cF '[agent-ipc]' >/dev/null || printf 'prompt sh\\n' >"$f.prompt" 2>/dev/null; exit 0`;
    case "stop":
      return `printf 'idle sh\\n' >"$f.state" 2>/dev/null; exit 0`;
    default:
      return undefined;
  }
}

/**
 * The shell command of one hook: the server's launcher with `hook ASSISTANT
 * EVENT` for `mcp`. Outside Windows, the attention and stop hooks first test
 * the broker's quiet marker for their assistant (`$PPID`, the process that
 * runs the hook's shell, the one the MCP server recorded as its parent) with
 * shell built-ins alone: a pid read from the file and `kill -0` on it (a
 * broker that died leaves no valid marker). Only when that fails does Deno
 * start.
 *
 * @example
 * ```ts
 * hookCommand({ command: "/usr/bin/agent-ipc", args: ["mcp"] }, "claude", "tool", "linux");
 * // 'f="${IPC_DATA_DIR:-…}/agents/pid-$PPID"; … exec /usr/bin/agent-ipc hook claude tool'
 * ```
 */
export function hookCommand(
  launch: ServerLaunch,
  assistant: TargetId,
  event: string,
  os: typeof Deno.build.os,
  extra: string[] = [],
): string {
  const args = launch.args.at(-1) === "mcp" ? launch.args.slice(0, -1) : [...launch.args];
  const run = [launch.command, ...args, "hook", assistant, event, ...extra]
    .map((a) => quote(a, os)).join(" ");
  // Codex's Stop hook arms the codex-queue watcher even when nothing waits now: always Deno.
  const arms = assistant === "codex" && event === "stop";
  const quiet = os === "windows" || arms ? undefined : quietPath(event, extra);
  if (quiet === undefined) return run;
  // The data dir the hook will use: its --data-dir (setup remembered it), else as config.ts finds it.
  const flag = extra.indexOf("--data-dir");
  const path = flag >= 0 && extra[flag + 1] !== undefined
    ? `${quote(extra[flag + 1], os)}"/agents/pid-$PPID"`
    : `"${shellDataDir(os)}/agents/pid-$PPID"`;
  return `f=${path}; ` +
    `if read -r p 2>/dev/null <"$f.quiet" && kill -0 "$p" 2>/dev/null; then ${quiet}; fi; ` +
    `exec ${run}`;
}

/** Where an assistant keeps its hooks, from where it keeps its MCP servers. */
export function hooksPath(target: TargetConfig, ctx: TargetContext): string {
  const path = ctx.os === "windows" ? win32 : posix;
  const dir = path.dirname(target.path);
  switch (target.id) {
    case "claude":
      if (ctx.project !== undefined) return path.join(ctx.project, ".claude", "settings.json");
      return ctx.env.CLAUDE_CONFIG_DIR
        ? path.join(ctx.env.CLAUDE_CONFIG_DIR, "settings.json")
        : path.join(dir, ".claude", "settings.json");
    case "gemini":
      return target.path;
    case "codex":
    case "cursor":
    case "windsurf":
      return path.join(dir, "hooks.json");
  }
}

/** The hooks agent-ipc installs for `id`, with the launcher `launch`. */
export function hookPlan(
  id: TargetId,
  path: string,
  launch: ServerLaunch,
  os: typeof Deno.build.os,
  options: { notify?: boolean; settingsArgs?: string[]; waiter?: string } = {},
): HookPlan {
  // The settings setup remembers (--port ...): a hook gets no MCP entry's env.
  const settings = options.settingsArgs ?? [];
  const cmd = (event: string, extra: string[] = []) =>
    hookCommand(launch, id, event, os, [...extra, ...settings]);
  const notify = options.notify ? ["--notify"] : [];
  const one = (event: string, extra: Partial<HookHandler> = {}, matcher?: string): HookGroup => ({
    ...(matcher !== undefined ? { matcher } : {}),
    hooks: [{ type: "command", command: cmd(event), timeout: 10, ...extra }],
  });
  switch (id) {
    case "claude": {
      // asyncRewake: the hook runs in the background; its exit 2 wakes the idle session.
      const wake = one("wake", { asyncRewake: true, timeout: 3600 });
      return {
        path,
        events: {
          SessionStart: [one("start"), wake],
          UserPromptSubmit: [one("prompt")],
          PostToolUse: [one("tool", {}, "*")],
          Stop: [wake],
        },
      };
    }
    case "codex":
      return {
        path,
        events: {
          SessionStart: [one("start")],
          UserPromptSubmit: [one("prompt")],
          PostToolUse: [one("tool", {}, "*")],
          Stop: [{ hooks: [{ type: "command", command: cmd("stop", notify), timeout: 10 }] }],
        },
      };
    case "gemini": {
      // Gemini's timeouts are in milliseconds.
      const g = (
        event: string,
        matcher?: string,
        extra: string[] = [],
        env?: Record<string, string>,
      ): HookGroup => ({
        ...(matcher !== undefined ? { matcher } : {}),
        hooks: [{
          type: "command",
          command: cmd(event, extra),
          timeout: 10_000,
          ...(env ? { env } : {}),
        }],
      });
      // With --wake, the start and prompt hooks tell the model the waiter's exact command.
      const waiter = options.waiter ? { IPC_GEMINI_WAITER: options.waiter } : undefined;
      return {
        path,
        events: {
          SessionStart: [g("start", undefined, [], waiter)],
          BeforeAgent: [g("prompt", undefined, [], waiter)],
          AfterTool: [g("tool", "*")],
          AfterAgent: [g("stop", undefined, notify)],
        },
      };
    }
    case "cursor":
      return {
        path,
        version: 1,
        events: {
          sessionStart: [{ command: cmd("start") }],
          // Cursor caps automatic follow-ups itself as well (loop_limit).
          stop: [{ command: cmd("stop", notify), loop_limit: 5 }],
        },
      };
    case "windsurf":
      return {
        path,
        events: {
          post_cascade_response: [{ command: cmd("stop", notify), show_output: false }],
        },
      };
  }
}

/**
 * The command Gemini CLI's model runs in the background to be woken
 * (`hook gemini waiter`, with the settings the hooks get).
 */
export function waiterCommand(
  launch: ServerLaunch,
  os: typeof Deno.build.os,
  settingsArgs: string[] = [],
): string {
  return hookCommand(launch, "gemini", "waiter", os, settingsArgs);
}

/** The two Gemini CLI settings a background command's end needs to start a turn. */
export const GEMINI_WAKE_SETTINGS: readonly [string[], unknown][] = [
  [["experimental", "modelSteering"], true],
  [["tools", "shell", "backgroundCompletionBehavior"], "inject"],
];

/** Turns on (or, `on` false, leaves alone) the settings of {@linkcode GEMINI_WAKE_SETTINGS}. */
export function editGeminiWakeSettings(text: string, on: boolean): string {
  if (!on) return text;
  let out = text;
  for (const [path, value] of GEMINI_WAKE_SETTINGS) out = setJsoncValue(out, path, value);
  return out;
}

/**
 * What turning the wake settings on creates in settings.json `text`: for each
 * setting, the shortest part of its path that is not there yet, dotted
 * (`"experimental"` when there is no such object, `"tools.shell.backgroundCompletionBehavior"`
 * when only the key is new); nothing for a setting the user has already.
 */
export function geminiWakeCreated(text: string): string[] {
  const created: string[] = [];
  for (const [path] of GEMINI_WAKE_SETTINGS) {
    const k = path.findIndex((_, i) => getJsoncValue(text, path.slice(0, i + 1)) === undefined);
    if (k >= 0) created.push(path.slice(0, k + 1).join("."));
  }
  return created;
}

/** The line of agent-ipc's policy file that names what setup created in settings.json. */
const GEMINI_CREATED_LINE = "# agent-ipc created in settings.json: ";

/** The settings {@linkcode geminiWakeCreated} recorded in agent-ipc's policy file `policy`. */
export function geminiCreatedOf(policy: string): string[] {
  if (!policy.includes(GEMINI_POLICY_MARK)) return [];
  const line = policy.split(/\r?\n/).find((l) => l.startsWith(GEMINI_CREATED_LINE));
  return line ? line.slice(GEMINI_CREATED_LINE.length).split(", ").filter(Boolean) : [];
}

/**
 * Takes back what `setup gemini --wake` created (`created`, from the policy
 * file): a setting still holding our value, then the objects made for it
 * that are empty now. A setting the user had before, or has changed since, stays.
 */
export function removeGeminiWakeSettings(text: string, created: readonly string[]): string {
  let out = text;
  for (const [path, value] of GEMINI_WAKE_SETTINGS) {
    const made = created.map((c) => c.split(".")).find((c) =>
      c.length <= path.length && c.every((part, i) => part === path[i])
    );
    if (!made || getJsoncValue(out, path) !== value) continue;
    out = removeJsoncValue(out, path);
    for (let k = path.length - 1; k >= made.length; k--) {
      const parent = getJsoncValue(out, path.slice(0, k));
      if (typeof parent !== "object" || parent === null || Object.keys(parent).length > 0) break;
      out = removeJsoncValue(out, path.slice(0, k));
    }
  }
  return out;
}

/** The first line of agent-ipc's policy file (a removal takes only a file that has it). */
export const GEMINI_POLICY_MARK = "# agent-ipc: written by `agent-ipc setup gemini --wake`";

/** Where agent-ipc's policy rule goes: `policies/agent-ipc.toml` beside settings.json. */
export function geminiPolicyPath(settingsPath: string, os: typeof Deno.build.os): string {
  const path = os === "windows" ? win32 : posix;
  return path.join(path.dirname(settingsPath), "policies", "agent-ipc.toml");
}

/**
 * The policy rule that lets Gemini CLI run exactly the waiter command without
 * asking (a regex over the JSON of the tool's arguments, anchored at the
 * closing quote: the command and nothing after it).
 */
export function geminiWaiterPolicy(command: string, created: readonly string[] = []): string {
  const json = JSON.stringify(command).slice(1, -1);
  const regex = json.replace(/[.*+?^${}()|[\]\\]/g, "\\$&") + '"';
  return [
    GEMINI_POLICY_MARK,
    ...(created.length ? [GEMINI_CREATED_LINE + created.join(", ")] : []),
    "# Lets the model start agent-ipc's waiter (it wakes the session when a message comes).",
    "[[rule]]",
    'toolName = "run_shell_command"',
    `commandRegex = ${JSON.stringify(regex)}`,
    'decision = "allow"',
    "priority = 500",
    "",
  ].join("\n");
}

function commandsOf(group: unknown): unknown[] {
  if (typeof group !== "object" || group === null) return [];
  const g = group as Record<string, unknown>;
  if (Array.isArray(g.hooks)) {
    return g.hooks.map((
      h,
    ) => (typeof h === "object" && h !== null ? (h as HookHandler).command : undefined));
  }
  return [g.command];
}

/** The `hook ASSISTANT EVENT` words of a group of ours, e.g. "claude wake"; undefined for others'. */
function ourKind(group: unknown): string | undefined {
  for (const c of commandsOf(group)) {
    const m = typeof c === "string" ? OURS.exec(c) : null;
    if (m) return `${m[1]} ${m[2]}`;
  }
  return undefined;
}

/** What an edit of hooks did. */
export interface HooksEdit {
  text: string;
  /** The events whose entries were added, changed or removed. */
  events: string[];
}

/**
 * Puts `plan`'s entries into a hooks JSON text (or, with `plan` undefined,
 * takes every agent-ipc entry out): the user's groups stay where they are;
 * ours are replaced in place or appended.
 *
 * @example
 * ```ts
 * const plan = hookPlan("claude", "/h/.claude/settings.json", { command: "agent-ipc", args: ["mcp"] }, "linux");
 * editHooks('{"hooks":{"Stop":[{"hooks":[{"type":"command","command":"say done"}]}]}}', plan).text;
 * ```
 * @throws {SyntaxError} on text that is not JSON (with comments)
 * @throws {TypeError} when `hooks` or an event is of the wrong kind
 */
export function editHooks(text: string, plan: HookPlan | undefined): HooksEdit {
  const root = parseJsoncObject(text);
  const hooks = root.hooks;
  if (
    hooks !== undefined && (typeof hooks !== "object" || hooks === null || Array.isArray(hooks))
  ) {
    throw new TypeError(`"hooks" is not an object`);
  }
  const events: string[] = [];
  let out = text;
  if (plan === undefined) {
    for (const [event, list] of Object.entries((hooks ?? {}) as Record<string, unknown>)) {
      if (!Array.isArray(list)) continue;
      const ours = list.map((g, i) => ourKind(g) ? i : -1).filter((i) => i >= 0);
      if (ours.length === 0) continue;
      events.push(event);
      if (ours.length === list.length) {
        out = removeJsoncValue(out, ["hooks", event]);
      } else {
        for (const i of ours.reverse()) out = removeJsoncValue(out, ["hooks", event, i]);
      }
    }
    // An empty `hooks` goes only when it held ours: one the user left empty is theirs.
    const left = getJsoncValue(out, ["hooks"]);
    if (events.length > 0 && left !== undefined && Object.keys(left as object).length === 0) {
      out = removeJsoncValue(out, ["hooks"]);
      // Cursor's `"version": 1` left alone, in the very bytes setup writes into a hooks file it
      // creates, is setup's too: it goes, and the file with it (isSetupSkeleton). Without the
      // final newline it stays: those are the bytes setup makes of a user's `{"version": 1}`.
      if (out === '{\n  "version": 1\n}\n') {
        out = removeJsoncValue(out, ["version"]);
      }
    }
    return { text: out, events };
  }
  if (plan.version !== undefined && getJsoncValue(out, ["version"]) === undefined) {
    out = setJsoncValue(out, ["version"], plan.version);
  }
  for (const [event, groups] of Object.entries(plan.events)) {
    const current = getJsoncValue(out, ["hooks", event]);
    if (current !== undefined && !Array.isArray(current)) {
      throw new TypeError(`"hooks"."${event}" is not a list`);
    }
    let changed = false;
    for (const group of groups) {
      const kind = ourKind(group);
      const list = (getJsoncValue(out, ["hooks", event]) ?? []) as unknown[];
      const at = list.findIndex((g) => ourKind(g) === kind);
      if (at >= 0) {
        const next = setJsoncValue(out, ["hooks", event, at], group);
        if (next !== out) changed = true;
        out = next;
      } else {
        out = list.length === 0 && current === undefined && !changed
          ? setJsoncValue(out, ["hooks", event], [group])
          : setJsoncValue(out, ["hooks", event, -1], group);
        changed = true;
      }
    }
    if (changed) events.push(event);
  }
  return { text: out, events };
}

/** Adds (or with `allow` false removes) Claude Code's rule for agent-ipc's tools. */
export function editClaudePermission(text: string, allow: boolean): string {
  const list = getJsoncValue(text, ["permissions", "allow"]);
  if (list !== undefined && !Array.isArray(list)) {
    throw new TypeError(`"permissions"."allow" is not a list`);
  }
  const at = (list ?? []).indexOf(CLAUDE_PERMISSION);
  if (allow) {
    if (at >= 0) return text;
    return list === undefined
      ? setJsoncValue(text, ["permissions", "allow"], [CLAUDE_PERMISSION])
      : setJsoncValue(text, ["permissions", "allow", -1], CLAUDE_PERMISSION);
  }
  if (at < 0) return text;
  let out = removeJsoncValue(text, ["permissions", "allow", at]);
  if ((getJsoncValue(out, ["permissions", "allow"]) as unknown[]).length === 0) {
    out = removeJsoncValue(out, ["permissions", "allow"]);
    const p = getJsoncValue(out, ["permissions"]);
    if (p !== undefined && Object.keys(p as object).length === 0) {
      out = removeJsoncValue(out, ["permissions"]);
    }
  }
  return out;
}

function snake(event: string): string {
  return event.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase();
}

function sortedJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(sortedJson).join(",")}]`;
  if (typeof value === "object" && value !== null) {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${sortedJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/**
 * Codex's trust hash of one hook: "sha256:" and the hex SHA-256 of the
 * compact, key-sorted JSON of `{event_name, matcher?, hooks: [{type, command,
 * timeout (600 when unset), async (false when unset), statusMessage?}]}`.
 */
export function codexHookHash(
  event: string,
  group: Record<string, unknown>,
  handler: number,
): string {
  const h = (group.hooks as Record<string, unknown>[])[handler];
  const identity = {
    event_name: snake(event),
    matcher: typeof group.matcher === "string" ? group.matcher : undefined,
    hooks: [{
      type: h.type ?? "command",
      command: h.command,
      timeout: typeof h.timeout === "number" ? h.timeout : 600,
      async: h.async === true,
      statusMessage: typeof h.statusMessage === "string" ? h.statusMessage : undefined,
    }],
  };
  return "sha256:" + createHash("sha256").update(sortedJson(identity)).digest("hex");
}

/** The trust records (`hooks.state` keys and hashes) of agent-ipc's hooks in a Codex hooks.json text. */
export function codexTrustOf(hooksPath: string, hooksText: string): Map<string, string> {
  const out = new Map<string, string>();
  const hooks = parseJsoncObject(hooksText).hooks;
  if (typeof hooks !== "object" || hooks === null) return out;
  for (const [event, list] of Object.entries(hooks)) {
    if (!Array.isArray(list)) continue;
    list.forEach((group, g) => {
      if (!ourKind(group)) return;
      const handlers = (group as { hooks?: unknown[] }).hooks ?? [];
      handlers.forEach((_, h) => {
        out.set(`${hooksPath}:${snake(event)}:${g}:${h}`, codexHookHash(event, group, h));
      });
    });
  }
  return out;
}

/**
 * Records Codex's trust in our hooks in config.toml (`[hooks.state."KEY"]
 * trusted_hash = "…"`), dropping the records of ours that no longer match
 * (`before`: our records as of the old hooks.json).
 */
export function editCodexTrust(
  configText: string,
  trusted: Map<string, string>,
  before: Map<string, string> = new Map(),
): string {
  let out = configText;
  for (const key of before.keys()) {
    if (!trusted.has(key)) out = removeTomlPath(out, ["hooks", "state", key]);
  }
  for (const [key, hash] of trusted) {
    out = setTomlValue(out, ["hooks", "state", key, "trusted_hash"], hash);
  }
  // An emptied [hooks.state] / [hooks] table of ours goes too.
  const value = parseToml(out).value;
  const state = getTomlValue(value, ["hooks", "state"]);
  if (isTomlTable(state) && Object.keys(state).length === 0) {
    out = removeTomlPath(out, ["hooks", "state"]);
    const hooks = getTomlValue(parseToml(out).value, ["hooks"]);
    if (isTomlTable(hooks) && Object.keys(hooks).length === 0) out = removeTomlPath(out, ["hooks"]);
  }
  return out;
}
