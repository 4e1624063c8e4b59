/**
 * `agent-ipc doctor`: checks every installed assistant's config for what
 * agent-ipc needs (the MCP entry, the hooks, the approval of its tools,
 * Codex's trust in the hooks, the wake settings) and says exactly what is
 * missing and the setup command that adds it. Reads only; writes nothing.
 *
 * @module
 */

import {
  CLAUDE_PERMISSION,
  codexTrustOf,
  GEMINI_WAKE_SETTINGS,
  geminiPolicyPath,
} from "./hooks.ts";
import { hooksPath } from "./hooks.ts";
import { readConfigFile } from "./config_file.ts";
import { getJsoncValue, parseJsoncObject } from "./jsonc_text.ts";
import { getTomlValue, isTomlTable, parseToml } from "./toml_document.ts";
import { SERVER_KEY } from "./server_entry.ts";
import { resolveTarget, TARGET_IDS, type TargetConfig, type TargetId } from "./targets.ts";
import type { SetupIo } from "./setup_command.ts";
import { claudeInbound, describeInbound, type InboundPlaces } from "../claude_inbound.ts";

/** One finding: ok, or missing with what to do. */
export interface Finding {
  ok: boolean;
  what: string;
  /** Not needed for messages to arrive (Gemini's wake): reported, not a failure. */
  optional?: boolean;
}

/** What doctor found for one assistant. */
export interface Diagnosis {
  id: TargetId;
  label: string;
  path: string;
  installed: boolean;
  findings: Finding[];
  /** How an idle session is woken with this config. */
  wake: string;
  /** The command that adds what is missing, if anything is. */
  fix?: string;
  /** The command that adds what is optional and absent. */
  hint?: string;
}

/** The hook events agent-ipc installs, per assistant (see `hookPlan`). */
const EVENTS: Readonly<Record<TargetId, string[]>> = {
  claude: ["SessionStart", "UserPromptSubmit", "PostToolUse", "Stop"],
  codex: ["SessionStart", "UserPromptSubmit", "PostToolUse", "Stop"],
  gemini: ["SessionStart", "BeforeAgent", "AfterTool", "AfterAgent"],
  cursor: ["sessionStart", "stop"],
  windsurf: ["post_cascade_response"],
};

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

async function text(path: string): Promise<string | undefined> {
  try {
    return (await readConfigFile(path)).text;
  } catch {
    return undefined;
  }
}

/** Our hook commands under `event` in a hooks JSON object, for assistant `id`. */
function ourCommands(hooks: unknown, event: string, id: TargetId): string[] {
  const list = (hooks as Record<string, unknown> | undefined)?.[event];
  if (!Array.isArray(list)) return [];
  const out: string[] = [];
  for (const g of list) {
    const handlers = Array.isArray((g as { hooks?: unknown }).hooks)
      ? (g as { hooks: unknown[] }).hooks
      : [g];
    for (const h of handlers) {
      const c = (h as { command?: unknown })?.command;
      if (typeof c === "string" && new RegExp(`hook'? '?${id}'? '?\\w`).test(c)) out.push(c);
    }
  }
  return out;
}

/** Diagnoses one assistant. */
export async function diagnose(
  target: TargetConfig,
  places?: InboundPlaces,
): Promise<Diagnosis> {
  const d: Diagnosis = {
    id: target.id,
    label: target.label,
    path: target.path,
    installed: false,
    findings: [],
    wake: "none",
  };
  for (const m of target.markers) if (await exists(m)) d.installed = true;
  if (!d.installed) return d;
  const add = (ok: boolean, what: string, optional = false) =>
    d.findings.push({ ok, what, ...(optional ? { optional } : {}) });
  const configText = await text(target.path);
  let entry: Record<string, unknown> | undefined;
  let configToml: ReturnType<typeof parseToml> | undefined;
  try {
    if (target.format === "json") {
      entry = getJsoncValue(configText ?? "{}", [target.serversKey, SERVER_KEY]) as
        | Record<string, unknown>
        | undefined;
    } else {
      configToml = parseToml(configText ?? "");
      const e = getTomlValue(configToml.value, [target.serversKey, SERVER_KEY]);
      entry = isTomlTable(e) ? e as Record<string, unknown> : undefined;
    }
  } catch (e) {
    add(false, `${target.path} cannot be read: ${(e as Error).message}`);
    d.fix = `fix ${target.path} by hand, then: agent-ipc setup ${target.id}`;
    return d;
  }
  add(entry !== undefined, `MCP server entry "${SERVER_KEY}" in ${target.path}`);

  // Hooks.
  const hpath = hooksPath(target, { os: Deno.build.os, isWsl: false, home: "", env: {} });
  const htext = hpath === target.path ? configText : await text(hpath);
  let hooks: unknown;
  try {
    hooks = htext ? parseJsoncObject(htext).hooks : undefined;
  } catch {
    hooks = undefined;
  }
  const missing = EVENTS[target.id].filter((e) => ourCommands(hooks, e, target.id).length === 0);
  add(
    missing.length === 0,
    missing.length === 0
      ? `hooks (${EVENTS[target.id].join(", ")}) in ${hpath}`
      : `hooks for ${
        missing.join(", ")
      } in ${hpath} (messages are then shown only when the model calls a tool)`,
  );

  // Approval of agent-ipc's tools.
  if (target.id === "claude") {
    const allow = htext ? getJsoncValue(htext, ["permissions", "allow"]) : undefined;
    add(
      Array.isArray(allow) && allow.includes(CLAUDE_PERMISSION),
      `permissions.allow "${CLAUDE_PERMISSION}" in ${hpath} (else every tool call asks; "setup --ask" keeps that on purpose)`,
    );
  } else if (target.id === "codex" && entry) {
    add(
      entry.default_tools_approval_mode === "approve",
      `default_tools_approval_mode = "approve" in the entry (else every tool call asks)`,
    );
    const envVars = Array.isArray(entry.env_vars) ? entry.env_vars : [];
    add(
      envVars.includes("IPC_PORT") && envVars.includes("IPC_DATA_DIR"),
      `env_vars passing IPC_PORT, IPC_DATA_DIR ... to the server (Codex passes only listed variables)`,
    );
  } else if (target.id === "gemini" && entry) {
    add(entry.trust === true, `"trust": true in the entry (else every tool call asks)`);
  }

  // Codex runs only hooks it trusts.
  if (target.id === "codex" && htext && configToml) {
    const wanted = codexTrustOf(hpath, htext);
    const stale = [...wanted].filter(([key, hash]) =>
      getTomlValue(configToml!.value, ["hooks", "state", key, "trusted_hash"]) !== hash
    );
    add(
      wanted.size > 0 && stale.length === 0,
      stale.length === 0
        ? `Codex trusts agent-ipc's ${wanted.size} hooks (hooks.state in ${target.path})`
        : `Codex's trust (hooks.state trusted_hash) for ${stale.length} of agent-ipc's hooks in ${target.path}: untrusted hooks do not run`,
    );
  }

  // Wake.
  const has = (event: string, pattern?: RegExp) =>
    ourCommands(hooks, event, target.id).some((c) => pattern === undefined || pattern.test(c));
  switch (target.id) {
    case "claude":
      d.wake = has("Stop", /\bwake\b/)
        ? "claude-socket (Claude Code's own inbox, 2.1.224 and later), else asyncRewake"
        : "none";
      add(d.wake !== "none", "the wake hook (Stop, asyncRewake) for an idle session");
      if (d.wake !== "none" && places) {
        // The person's choice: agent-ipc's wake neither starts a turn nor goes around it.
        const inbound = await claudeInbound(places);
        if (inbound.value === "hold") {
          d.wake = `claude-held: the nudge waits for the person's approval (${
            describeInbound(inbound)
          }); messages show at the next prompt`;
        } else if (inbound.value === "refuse") {
          d.wake = `none (${describeInbound(inbound)}); messages show at the next prompt`;
        }
      }
      break;
    case "codex":
      d.wake = has("Stop") ? "codex-queue (after the session's first turn)" : "none";
      add(d.wake !== "none", "the Stop hook that arms the codex-queue wake");
      break;
    case "gemini": {
      const settings = GEMINI_WAKE_SETTINGS.filter(([path, value]) =>
        (htext ? getJsoncValue(htext, path) : undefined) !== value
      ).map(([path, value]) => `${path.join(".")} = ${JSON.stringify(value)}`);
      const policy = await text(geminiPolicyPath(target.path, Deno.build.os));
      const waiter = /IPC_GEMINI_WAITER/.test(htext ?? "");
      if (settings.length === 0 && policy && waiter) {
        d.wake = "gemini-waiter (the model runs agent-ipc's waiter in the background)";
        add(true, "wake settings, the waiter's policy rule and its instruction");
      } else {
        d.wake = has("AfterAgent", /--notify/) ? "notify" : "none";
        add(
          false,
          `wake (optional: setup gemini --wake): ${
            [
              ...settings,
              ...(policy
                ? []
                : [`the policy rule in ${geminiPolicyPath(target.path, Deno.build.os)}`]),
              ...(waiter ? [] : ["the waiter instruction in the start hook"]),
            ].join("; ")
          }`,
          true,
        );
      }
      break;
    }
    case "cursor":
      d.wake = has("stop") ? "cursor-followup (at the end of a turn)" : "none";
      break;
    case "windsurf":
      d.wake = has("post_cascade_response", /--notify/) ? "notify" : "none";
      break;
  }
  if (d.findings.some((f) => !f.ok && !f.optional)) d.fix = `agent-ipc setup ${target.id}`;
  else if (d.findings.some((f) => !f.ok)) d.hint = `agent-ipc setup ${target.id} --wake`;
  return d;
}

/** Runs `doctor`; returns 0 when every installed assistant has what it needs, else 1. */
export async function runDoctor(args: string[], io: SetupIo): Promise<number> {
  if (args.includes("-h") || args.includes("--help")) {
    io.stdout(DOCTOR_HELP);
    return 0;
  }
  const json = args.includes("--json");
  const out: Diagnosis[] = [];
  for (const id of TARGET_IDS) {
    const target = resolveTarget(id, { os: io.os, isWsl: io.isWsl, home: io.home, env: io.env });
    if (typeof target === "string") continue;
    out.push(
      await diagnose(target, {
        env: io.env,
        home: io.os === "windows" ? io.env.USERPROFILE || io.home : io.home,
        project: io.cwd,
      }),
    );
  }
  const bad = out.filter((d) => d.installed && d.fix);
  if (json) {
    io.stdout(JSON.stringify({ ok: bad.length === 0, assistants: out }) + "\n");
    return bad.length === 0 ? 0 : 1;
  }
  for (const d of out) {
    if (!d.installed) {
      io.stdout(`${d.label}: not installed (nothing at its usual place)\n`);
      continue;
    }
    io.stdout(`${d.label} (${d.path}):\n`);
    for (const f of d.findings) {
      io.stdout(`  ${f.ok ? "ok     " : f.optional ? "absent " : "MISSING"}  ${f.what}\n`);
    }
    io.stdout(`  wake     ${d.wake}\n`);
    if (d.fix) io.stdout(`  fix:     ${d.fix}\n`);
    else if (d.hint) io.stdout(`  to add:  ${d.hint}\n`);
  }
  io.stdout(
    bad.length === 0
      ? "Every installed assistant has what agent-ipc needs.\n"
      : `${bad.length} assistant(s) miss something: run the fix commands above, then restart them.\n`,
  );
  return bad.length === 0 ? 0 : 1;
}

/** Help text of `doctor`. */
export const DOCTOR_HELP = `Usage: agent-ipc doctor [--json]

Checks every installed assistant (Claude Code, Gemini CLI, Codex, Cursor,
Windsurf) for what agent-ipc needs: the MCP server entry, the hooks that show
messages, the approval of agent-ipc's tools, Codex's trust in the hooks, and
how an idle session is woken (claude-socket/asyncRewake, codex-queue,
gemini-waiter, cursor-followup, notify, none). Says exactly what is missing
and the setup command that adds it. Reads only.

Exit status: 0 when nothing is missing, 1 otherwise.
`;
