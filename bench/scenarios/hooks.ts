/**
 * Hooks: what one hook event costs the assistant, for every hook command
 * `setup` writes (Claude Code, Codex, Gemini CLI, Cursor, Windsurf), run
 * exactly as setup writes it (`/bin/sh -c COMMAND`, the assistant's JSON on
 * stdin) against a broker subprocess, with the session recorded by an MCP
 * agent for this process (the hooks' parent, as the assistant is):
 *
 * - empty inbox: the common case, every tool call and prompt;
 * - something to show: a message is sent, the hook must print it (the run
 *   fails when it does not, or when it shows it twice).
 *
 * Claude Code's `wake` hook runs in the background (asyncRewake) and waits:
 * its cost is not on the assistant's path, so it is left out here (see
 * `reach`).
 *
 * @module
 */

import { AgentClient } from "../../lib/client/agent_client.ts";
import { McpAgent } from "../../lib/mcp/agent.ts";
import { resolveLaunch } from "../../lib/setup/server_entry.ts";
import { type HookGroup, hookPlan } from "../../lib/setup/hooks.ts";
import type { TargetId } from "../../lib/setup/targets.ts";
import { BrokerProcess, childEnv } from "../_processes.ts";
import type { BenchOptions, Row, ScenarioResult } from "../_scenario.ts";
import { round, Samples } from "../_stats.ts";

const ROOT = new URL("../../", import.meta.url);

/** The assistants whose hooks setup writes, and what each one's JSON names the events. */
const ASSISTANTS: TargetId[] = ["claude", "codex", "gemini", "cursor", "windsurf"];

/** One hook command as setup writes it. */
export interface HookCase {
  assistant: TargetId;
  /** The assistant's event name (PostToolUse, AfterTool, stop, …). */
  hookEvent: string;
  /** Our event (`hook ASSISTANT EVENT`). */
  event: string;
  command: string;
  /** Whether a message waiting is printed to the model by this hook. */
  shows: boolean;
}

/** Every synchronous hook command setup writes (Claude's async wake left out). */
export async function hookCases(): Promise<HookCase[]> {
  const launch = await resolveLaunch({
    os: Deno.build.os,
    env: {}, // no agent-ipc on PATH: deno run with the permission flags, as from a checkout
    standalone: false,
    execPath: Deno.execPath(),
    mainModule: new URL("main.ts", ROOT).href,
  });
  const cases: HookCase[] = [];
  for (const assistant of ASSISTANTS) {
    const plan = hookPlan(assistant, "/unused/hooks.json", launch, Deno.build.os);
    for (const [hookEvent, groups] of Object.entries(plan.events)) {
      for (const group of groups as HookGroup[]) {
        const handlers = "hooks" in group ? group.hooks : [group];
        for (const h of handlers) {
          if (h.asyncRewake) continue;
          const event = / hook '?\w+'? '?(\w+)/.exec(h.command)?.[1] ?? "?";
          // Codex's Stop arms its codex-queue wake (always Deno), like Claude's wake hook: left out.
          if (assistant === "codex" && event === "stop") continue;
          const shows = event === "start" || event === "prompt" || event === "tool"
            ? assistant !== "windsurf"
            : event === "stop" && assistant === "cursor";
          cases.push({ assistant, hookEvent, event, command: h.command, shows });
        }
      }
    }
  }
  return cases;
}

/** The JSON an assistant gives a hook of `c` (a tool call's carries its input and output). */
function stdinOf(c: HookCase, sessionId: string): string {
  const base = { session_id: sessionId, hook_event_name: c.hookEvent, cwd: Deno.cwd() };
  const extra = c.event === "tool"
    ? {
      tool_name: "Bash",
      tool_input: { command: "ls -la" },
      tool_response: { stdout: "x".repeat(2_000), stderr: "", interrupted: false },
    }
    : c.event === "prompt"
    ? { prompt: "please run the tests" }
    : c.event === "stop"
    ? { status: "completed", stop_hook_active: false }
    : { source: "startup" };
  return JSON.stringify({ ...base, ...extra });
}

/** Runs a hook command as the assistant does; its stdout and wall time. */
async function runHookCommand(
  command: string,
  stdin: string,
  env: Record<string, string>,
): Promise<{ ms: number; stdout: string; code: number }> {
  const t0 = performance.now();
  const child = new Deno.Command("/bin/sh", {
    args: ["-c", command],
    clearEnv: true,
    env,
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const w = child.stdin.getWriter();
  // An assistant writes and closes; a hook that reads no stdin may close it first.
  await w.write(new TextEncoder().encode(stdin)).catch(() => {});
  await w.close().catch(() => {});
  const out = await child.output();
  return {
    ms: performance.now() - t0,
    stdout: new TextDecoder().decode(out.stdout),
    code: out.code,
  };
}

/** Runs the scenario. */
export async function run(o: BenchOptions): Promise<ScenarioResult> {
  const emptyRuns = o.quick ? 8 : 40;
  const shownRuns = o.quick ? 2 : 8;
  await using broker = await BrokerProcess.start(
    o.nats ? { store: o.nats.url } : {},
  );
  const sessionId = crypto.randomUUID();
  await using agent = new McpAgent({
    client: { host: broker.host, port: broker.port, dataDir: broker.dataDir },
    name: "hooked",
    // This process is the hooks' parent, as the assistant is.
    assistant: { pid: Deno.pid, sessionId },
  });
  await agent.start();
  await using sender = await AgentClient.connect({
    host: broker.host,
    port: broker.port,
    dataDir: broker.dataDir,
    role: "none",
  });
  await sender.register("sender");
  const env = childEnv({
    IPC_PORT: String(broker.port),
    IPC_HOST: broker.host,
    IPC_DATA_DIR: broker.dataDir,
    IPC_LOG: "silent",
  });
  const cases = await hookCases();
  const byAssistant = new Map<string, { empty: Samples; shown: Samples }>();
  // Hooks setup writes without the shell's quiet test run Deno always (a session's start, once
  // per session; Codex's stop, which arms its wake watcher; see lib/setup/hooks.ts): their own row.
  const starts = new Samples();
  const always = (c: HookCase) => !c.command.includes(".quiet");
  const perCase: Record<string, unknown> = {};
  let n = 0;
  for (const c of cases) {
    const empty = new Samples();
    const shown = new Samples();
    const input = stdinOf(c, sessionId);
    // One run first: Deno's code cache and the session's files warm, as in a session.
    await runHookCommand(c.command, input, env);
    for (let i = 0; i < emptyRuns; i++) {
      const r = await runHookCommand(c.command, input, env);
      if (r.stdout.trim() !== "") {
        throw new Error(`${c.assistant} ${c.event} printed with nothing unread: ${r.stdout}`);
      }
      empty.add(r.ms);
    }
    // Cursor's stop starts a follow-up turn, a wake: the loop guard allows 4 in 2 minutes.
    const shows = !c.shows ? 0 : c.event === "stop" ? Math.min(shownRuns, 3) : shownRuns;
    for (let i = 0; i < shows; i++) {
      const tag = `hooks-bench ${c.assistant} ${c.event} ${++n}`;
      await sender.send("hooked", tag);
      const r = await runHookCommand(c.command, input, env);
      if (!r.stdout.includes(tag)) {
        throw new Error(
          `${c.assistant} ${c.event} did not show "${tag}": ${r.stdout || "(nothing)"}`,
        );
      }
      shown.add(r.ms);
      const again = await runHookCommand(c.command, input, env);
      if (again.stdout.includes(tag)) {
        throw new Error(`${c.assistant} ${c.event} showed "${tag}" twice`);
      }
    }
    const left = (await agent.unread()).count;
    if (left !== 0) {
      throw new Error(`${c.assistant} ${c.event}: ${left} shown messages left unread`);
    }
    const a = byAssistant.get(c.assistant) ?? { empty: new Samples(), shown: new Samples() };
    for (const ms of empty.values()) (always(c) ? starts : a.empty).add(ms);
    for (const ms of shown.values()) a.shown.add(ms);
    byAssistant.set(c.assistant, a);
    perCase[`${c.assistant} ${c.event} (${c.hookEvent})`] = {
      empty: empty.summary(),
      shown: c.shows ? shown.summary() : undefined,
    };
  }
  const rows: Row[] = [];
  for (const [assistant, s] of byAssistant) {
    const events = cases.filter((c) => c.assistant === assistant && !always(c))
      .map((c) => c.event).join(", ");
    const e = s.empty.summary();
    rows.push({
      scenario: "hooks",
      metric: `${assistant} (${events}), inbox empty: p50 / p99`,
      value: `${round(e.p50 ?? 0, 1)} / ${round(e.p99 ?? 0, 1)}`,
      unit: "ms",
      target: "≤ 10 / ≤ 30",
      met: (e.p50 ?? Infinity) <= 10 && (e.p99 ?? Infinity) <= 30,
    });
    const sh = s.shown.summary();
    if (sh.count > 0) {
      rows.push({
        scenario: "hooks",
        metric: `${assistant}, a message to show: p50 / max`,
        value: `${round(sh.p50 ?? 0, 1)} / ${round(sh.max ?? 0, 1)}`,
        unit: "ms",
        target: "≤ 150",
        met: (sh.p50 ?? Infinity) <= 150,
      });
    }
  }
  const st = starts.summary();
  rows.push({
    scenario: "hooks",
    metric: `always Deno (${
      cases.filter(always).map((c) => `${c.assistant} ${c.event}`).join(", ")
    }), inbox empty: p50 / max`,
    value: `${round(st.p50 ?? 0, 1)} / ${round(st.max ?? 0, 1)}`,
    unit: "ms",
  });
  return {
    rows,
    figures: {
      empty_runs_per_command: emptyRuns,
      shown_runs_per_command: shownRuns,
      commands: Object.fromEntries(cases.map((c) => [`${c.assistant} ${c.hookEvent}`, c.command])),
      per_command: perCase,
    },
  };
}
