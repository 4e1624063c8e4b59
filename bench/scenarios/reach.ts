/**
 * Reach: how long a message takes from `send` to the first model request
 * that carries it, with the real assistant CLIs (configured by `agent-ipc
 * setup` alone) against the e2e suite's fake model endpoints:
 *
 * - Claude Code, idle (interactive, nobody typing): the wake;
 * - Claude Code, busy (mid-turn, calling a tool that takes a while): the next
 *   tool hook, against the tool call's own period;
 * - the next prompt: Claude Code interactive (a `no_wake` message waits for
 *   the person's prompt), Codex (`codex exec`) and Gemini CLI (`gemini -p`),
 *   each timed with and without a message waiting, alternately: what the
 *   message adds to the prompt's own start.
 *
 * The driver (`bench.ts`) runs this file as its own process inside a
 * loopback-only network namespace where the OS allows it (as `deno task e2e`
 * does), and skips it, saying so, when the CLIs are not installed (`deno run
 * -A tests/e2e/run_e2e.ts --install-only` installs them). It never installs
 * them itself.
 *
 * @module
 */

import { join } from "node:path";
import { AgentClient } from "../../lib/client/agent_client.ts";
import { listAgentRecords, readActivity } from "../../lib/state/agent_records.ts";
import { HOOK_TIMEOUTS } from "../../lib/defaults.ts";
import { type CliId, installedCli, PINNED, until, World } from "../../tests/e2e/_harness.ts";
import {
  claudeInteractive,
  codexHeadless,
  geminiHeadless,
  preseedClaude,
  preseedCodex,
  preseedGemini,
} from "../../tests/e2e/_assistants.ts";
import { isolation } from "../../tests/e2e/run_e2e.ts";
import { onlineNames, quiet, sessionsOnline } from "../../tests/e2e/_sessions.ts";
import { startFakeAnthropic } from "../../tests/e2e/fake_models/anthropic.ts";
import { startFakeOpenAI } from "../../tests/e2e/fake_models/openai.ts";
import { startFakeGemini } from "../../tests/e2e/fake_models/gemini.ts";
import type { FakeModel, ModelCall, Script } from "../../tests/e2e/fake_models/_fake_model.ts";
import { answer, marker } from "../../tests/e2e/_scripts.ts";
import type { BenchOptions, Row, ScenarioResult } from "../_scenario.ts";
import { round, Samples, sleep } from "../_stats.ts";

const HERE = new URL(import.meta.url).pathname;

/** The tool a busy turn calls over and over, and how long it takes. */
const BUSY_TOOL_MS = 500;

/** What one run of this file measured (ms), by case. */
export interface ReachFigures {
  claude_idle_wake: number[];
  claude_busy: number[];
  /** The busy turn's tool period: one request to the next (the tool call and its hooks). */
  claude_tool_period: number[];
  claude_prompt_plain: number[];
  claude_prompt_message: number[];
  codex_prompt_plain: number[];
  codex_prompt_message: number[];
  gemini_prompt_plain: number[];
  gemini_prompt_message: number[];
}

/** The CLIs not installed (the scenario is skipped, not installed, when any is missing). */
export async function missingClis(): Promise<CliId[]> {
  const out: CliId[] = [];
  for (const id of Object.keys(PINNED) as CliId[]) if (!(await installedCli(id))) out.push(id);
  return out;
}

/** Runs the scenario: this file in its own process (loopback-only where possible). */
export async function run(o: BenchOptions): Promise<ScenarioResult> {
  const missing = await missingClis();
  if (missing.length) {
    const why = `skipped: ${missing.join(", ")} not installed ` +
      "(deno run -A tests/e2e/run_e2e.ts --install-only)";
    console.error(`bench: reach ${why}`);
    return { rows: [{ scenario: "reach", metric: why, value: null, unit: "" }], figures: { why } };
  }
  // CI's --quick: two runs of each Claude Code case, one prompt pair of Codex and Gemini CLI
  // (about 2-3 minutes on 2 busy cores, most of it the CLIs' own start-up).
  const runs = o.quick ? 2 : 10;
  const headlessRuns = o.quick ? 1 : 10;
  const prefix = await isolation();
  const cmd = [
    ...prefix,
    Deno.execPath(),
    "run",
    "--allow-all",
    HERE,
    "--runs",
    String(runs),
    "--headless-runs",
    String(headlessRuns),
  ];
  const out = await new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
  if (!out.success) throw new Error(`reach exited ${out.code}: ${lines.slice(-3).join(" ")}`);
  const f = JSON.parse(lines.at(-1)!) as ReachFigures;
  return {
    rows: rowsOf(f),
    figures: { runs, headless_runs: headlessRuns, isolated: prefix.length > 0, ...summaries(f) },
  };
}

function summaries(f: ReachFigures): Record<string, unknown> {
  return Object.fromEntries(
    (Object.entries(f) as [string, number[]][]).map(([k, v]) => [
      k,
      { ...summary(v), samples: v.map((x) => round(x, 1)) },
    ]),
  );
}

function summary(values: number[]) {
  const s = new Samples();
  for (const v of values) s.add(v);
  const x = s.summary();
  return { p50: round(x.p50 ?? NaN, 1), max: round(x.max ?? NaN, 1), count: x.count };
}

/** The report's rows: p50 / max per case, against the targets. */
export function rowsOf(f: ReachFigures): Row[] {
  const pm = (v: number[]) => {
    const s = summary(v);
    return `${s.p50} / ${s.max}`;
  };
  const p50 = (v: number[]) => summary(v).p50;
  const period = p50(f.claude_tool_period);
  const rows: Row[] = [
    {
      scenario: "reach",
      metric: "Claude Code idle: send to the model (wake), p50 / max",
      value: pm(f.claude_idle_wake),
      unit: "ms",
      target: "p50 < 1000",
      met: p50(f.claude_idle_wake) < 1000,
    },
    {
      scenario: "reach",
      metric:
        `Claude Code busy (a ${BUSY_TOOL_MS} ms tool, period p50 ${period} ms): next tool hook`,
      value: pm(f.claude_busy),
      unit: "ms",
      target: `p50 < ${round(period + 50)}`,
      met: p50(f.claude_busy) < period + 50,
    },
  ];
  for (
    const [who, plain, message] of [
      ["Claude Code", f.claude_prompt_plain, f.claude_prompt_message],
      ["Codex (exec)", f.codex_prompt_plain, f.codex_prompt_message],
      ["Gemini CLI (-p)", f.gemini_prompt_plain, f.gemini_prompt_message],
    ] as const
  ) {
    const adds = round(p50(message) - p50(plain), 1);
    rows.push({
      scenario: "reach",
      metric: `${who} next prompt to the model: plain / with a message (p50), added`,
      value: `${p50(plain)} / ${p50(message)}, ${adds >= 0 ? "+" : ""}${adds}`,
      unit: "ms",
      target: "added < 20",
      met: adds < 20,
    });
  }
  return rows;
}

// --- the measuring process ---------------------------------------------------

/** Calls seen by a fake model, each with its arrival time (performance.now()). */
function timed(model: FakeModel, script: Script): Map<ModelCall, number> {
  const at = new Map<ModelCall, number>();
  model.script = (c) => {
    at.set(c, performance.now());
    return script(c);
  };
  return at;
}

/** The first main call carrying `text`, and when it came. */
async function arrival(
  model: FakeModel,
  at: Map<ModelCall, number>,
  text: string,
  timeoutMs: number,
): Promise<number> {
  const c = await model.waitFor((c) => c.main && c.raw.includes(text), timeoutMs);
  return at.get(c) ?? performance.now();
}

/** The sender, in this process (a CLI's start-up would blur the timing); "bob" lists sessions. */
async function sender(world: World): Promise<AgentClient> {
  await world.ipcOk(["register", "bob"], { as: "bob" });
  const c = await AgentClient.connect({
    host: "127.0.0.1",
    port: world.port,
    dataDir: join(world.home, ".local", "share", "agent-ipc"),
    role: "none",
  });
  await c.register("sender");
  return c;
}

/** Claude Code: idle wake, busy (next tool hook), next prompt. */
async function claude(runs: number, f: ReachFigures): Promise<void> {
  await using world = await World.create();
  const dataDir = join(world.home, ".local", "share", "agent-ipc");
  let busyUntil: string | undefined; // the busy turn ends once the model has seen this
  let busyCalls = 0;
  const busyTimes: number[] = [];
  const script: Script = (c) => {
    const busyTurn = (c.last.kind === "user" && c.last.text.includes("busy-work")) ||
      (c.last.kind === "tool_result" && c.last.tool === "Bash");
    if (!busyTurn) return { text: "noted" };
    if (c.last.kind === "tool_result") busyTimes.push(performance.now());
    if ((busyUntil && c.raw.includes(busyUntil)) || ++busyCalls > 40) return { text: "done" };
    return {
      tool: "Bash",
      input: { command: `sleep ${BUSY_TOOL_MS / 1000}`, description: "wait a while" },
    };
  };
  await using model = startFakeAnthropic(answer());
  const at = timed(model, script);
  await preseedClaude(world);
  await world.ipcOk(["setup", "claude", "--name", "claude"]);
  await using bob = await sender(world);
  const pty = await claudeInteractive(world, model, { args: ["--allowedTools", "Bash(sleep:*)"] });
  const [name] = await sessionsOnline(world, 1, ["bob", "sender"]);
  let turns = 0;
  /** The person types (which also clears the wake loop guard) and the turn ends. */
  const person = async (text: string) => {
    const t0 = performance.now();
    await pty.type(`${text}\r`);
    const t = await arrival(model, at, text, 60_000);
    turns++;
    return t - t0;
  };
  /** Idle: no request for a while and the wake hook armed past its grace. */
  const settle = async () => {
    await quiet([model], 1500, 60_000);
    const pid = (await listAgentRecords(dataDir)).find((r) => r.name === name)?.assistant_pid;
    for (const until = Date.now() + 30_000; Date.now() < until;) {
      const a = await readActivity(dataDir, name, pid);
      if (a?.state === "idle" && Date.now() - a.since > HOOK_TIMEOUTS.graceMs + 300) return;
      await sleep(100);
    }
    throw new Error(`claude session ${name} never became idle`);
  };
  await person("hello"); // the first turn: hooks and code caches warm
  for (let i = 0; i < runs; i++) {
    await settle();
    const text = marker(`idle-${i}`);
    const t0 = performance.now();
    await bob.send(name, text);
    f.claude_idle_wake.push((await arrival(model, at, text, 30_000)) - t0);
    await settle();
    await person(`thanks ${i}`); // the person's prompt: the loop guard starts over
  }
  for (let i = 0; i < runs; i++) {
    await settle();
    busyCalls = 0;
    busyUntil = undefined;
    busyTimes.length = 0;
    await pty.type(`busy-work ${i}\r`);
    // Two tool calls in: the turn is in its stride; the message lands anywhere in a call.
    for (const until = Date.now() + 60_000; busyTimes.length < 2 && Date.now() < until;) {
      await sleep(20);
    }
    await sleep(Math.random() * BUSY_TOOL_MS);
    const text = marker(`busy-${i}`);
    busyUntil = text;
    const t0 = performance.now();
    await bob.send(name, text);
    f.claude_busy.push((await arrival(model, at, text, 30_000)) - t0);
    for (let k = 1; k < busyTimes.length; k++) {
      f.claude_tool_period.push(busyTimes[k] - busyTimes[k - 1]);
    }
  }
  for (let i = 0; i < 2 * runs; i++) {
    await settle();
    const withMessage = i % 2 === 1;
    const text = marker(`prompt-message-${i}`);
    // Marked not worth a wake: it waits for the person's next prompt.
    if (withMessage) await bob.send(name, text, { no_wake: true });
    const ms = await person(`prompt-${i}`);
    if (withMessage) {
      const c = model.calls.find((c) => c.main && c.raw.includes(`prompt-${i}`))!;
      if (!c.raw.includes(text)) throw new Error(`the prompt came without the waiting message`);
    }
    (withMessage ? f.claude_prompt_message : f.claude_prompt_plain).push(ms);
  }
  console.error(`reach: claude done after ${turns} person turns`);
}

/** Codex and Gemini CLI: a headless prompt, with and without a message waiting. */
async function headless(
  id: "codex" | "gemini",
  runs: number,
  f: ReachFigures,
): Promise<void> {
  await using world = await World.create();
  await using model = id === "codex" ? startFakeOpenAI(answer()) : startFakeGemini(answer());
  const at = timed(model, answer());
  if (id === "codex") await preseedCodex(world, model);
  else await preseedGemini(world);
  await world.ipcOk(["setup", id, "--name", id]);
  await using bob = await sender(world);
  for (let i = 0; i < 2 * runs + 1; i++) {
    const withMessage = i % 2 === 1;
    const text = marker(`${id}-message-${i}`);
    // The last run's session must be gone, or this run's server registers as "NAME-2".
    await until(
      "the last run's session to leave",
      async () => !(await onlineNames(world, ["bob", "sender"])).includes(id) || undefined,
      30_000,
    );
    if (withMessage) await bob.send(id, text);
    const prompt = `prompt-${i}`;
    const t0 = performance.now();
    // No wakes here: a finished run's Codex Stop hook would leave a watcher that wakes its old
    // thread (`codex queue`) for the message meant for this run's prompt.
    const env = { IPC_WAKE_BUDGET: "0" };
    const done = id === "codex"
      ? codexHeadless(world, prompt, { env })
      : geminiHeadless(world, model, prompt, { env });
    const t = await arrival(model, at, prompt, 90_000);
    const r = await done;
    if (r.code !== 0) throw new Error(`${id} exited ${r.code}: ${r.stderr.slice(-500)}`);
    if (withMessage && !model.shown(text).length) {
      const log = await world.read(".local/share/agent-ipc/hooks.log").catch(() => "(none)");
      throw new Error(`${id}: the prompt came without the waiting message; hooks.log:\n${log}`);
    }
    if (i === 0) continue; // the first run warms caches
    (withMessage ? f[`${id}_prompt_message`] : f[`${id}_prompt_plain`]).push(t - t0);
  }
}

async function measure(runs: number, headlessRuns: number): Promise<ReachFigures> {
  const f: ReachFigures = {
    claude_idle_wake: [],
    claude_busy: [],
    claude_tool_period: [],
    claude_prompt_plain: [],
    claude_prompt_message: [],
    codex_prompt_plain: [],
    codex_prompt_message: [],
    gemini_prompt_plain: [],
    gemini_prompt_message: [],
  };
  await claude(runs, f);
  await headless("codex", headlessRuns, f);
  await headless("gemini", headlessRuns, f);
  return f;
}

if (import.meta.main) {
  const arg = (name: string) => {
    const at = Deno.args.indexOf(name);
    return at >= 0 ? Number(Deno.args[at + 1]) : 10;
  };
  const f = await measure(arg("--runs"), arg("--headless-runs"));
  console.log(JSON.stringify(f));
  // The CLIs' and the world's leftovers must not keep this process.
  Deno.exit(0);
}
