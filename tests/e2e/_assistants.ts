/**
 * How the e2e tests drive each assistant: what a user who finished its
 * onboarding has in HOME (accepted terms, a trusted folder, an API key and
 * a model endpoint, here a fake one), and how to run it headless or
 * interactively. agent-ipc's own config is never written here: only
 * `agent-ipc setup` writes it.
 *
 * @module
 */

import { join } from "node:path";
import type { FakeModel } from "./fake_models/_fake_model.ts";
import { ensureCli, FAKE_KEY, type Output, PtySession, run, type World } from "./_harness.ts";

/** The project folder the assistants run in (trusted by preseed). */
export function projectDir(world: World): string {
  return join(world.home, "project");
}

async function readJson(path: string): Promise<Record<string, unknown>> {
  try {
    return JSON.parse(await Deno.readTextFile(path));
  } catch {
    return {};
  }
}

/** Claude Code after onboarding: terms and theme done, the project trusted, the API key approved. */
export async function preseedClaude(world: World): Promise<void> {
  const project = projectDir(world);
  await Deno.mkdir(project, { recursive: true });
  const path = join(world.home, ".claude.json");
  const state = await readJson(path);
  state.hasCompletedOnboarding = true;
  state.theme = "dark";
  state.numStartups = 5;
  state.autoUpdates = false;
  state.customApiKeyResponses = { approved: [FAKE_KEY.slice(-20)], rejected: [] };
  state.projects = {
    ...(state.projects as Record<string, unknown> ?? {}),
    [project]: {
      hasTrustDialogAccepted: true,
      hasCompletedProjectOnboarding: true,
      allowedTools: [],
    },
  };
  await Deno.writeTextFile(path, JSON.stringify(state, null, 2));
}

/** The environment that points Claude Code at a fake Anthropic endpoint. */
export function claudeEnv(world: World, model: FakeModel, extra: Record<string, string> = {}) {
  return world.env({ ANTHROPIC_BASE_URL: model.url, ANTHROPIC_API_KEY: FAKE_KEY, ...extra });
}

/** `claude -p PROMPT` in the project folder. */
export async function claudeHeadless(
  world: World,
  model: FakeModel,
  prompt: string,
  opts: { args?: string[]; timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<Output> {
  const bin = await ensureCli("claude");
  return run(bin, ["-p", prompt, ...(opts.args ?? [])], {
    env: claudeEnv(world, model, opts.env),
    cwd: projectDir(world),
    timeoutMs: opts.timeoutMs ?? 60_000,
  });
}

/** An interactive Claude Code session in a pseudo-terminal. */
export async function claudeInteractive(
  world: World,
  model: FakeModel,
  opts: { args?: string[]; env?: Record<string, string> } = {},
): Promise<PtySession> {
  const bin = await ensureCli("claude");
  const pty = new PtySession(bin, opts.args ?? [], {
    env: claudeEnv(world, model, opts.env),
    cwd: projectDir(world),
  });
  world.track({ kill: () => pty.kill(), done: pty.done });
  return pty;
}

/** Codex after onboarding: a model provider (the fake endpoint) and a trusted project. */
export async function preseedCodex(world: World, model: FakeModel): Promise<void> {
  const project = projectDir(world);
  await Deno.mkdir(project, { recursive: true });
  await world.write(
    ".codex/config.toml",
    [
      `model = "gpt-e2e"`,
      `model_provider = "fake"`,
      `check_for_update_on_startup = false`,
      ``,
      `[model_providers.fake]`,
      `name = "fake"`,
      `base_url = "${model.url}/v1"`,
      `env_key = "OPENAI_API_KEY"`,
      `wire_api = "responses"`,
      `supports_websockets = false`,
      `request_max_retries = 0`,
      `stream_max_retries = 0`,
      ``,
      `[analytics]`,
      `enabled = false`,
      ``,
      `[feedback]`,
      `enabled = false`,
      ``,
      // The curated-plugins sync at start-up reaches GitHub; apps reach chatgpt.com.
      `[features]`,
      `plugins = false`,
      `remote_plugin = false`,
      `apps = false`,
      ``,
      `[projects."${project}"]`,
      `trust_level = "trusted"`,
      ``,
    ].join("\n"),
  );
}

/** `codex exec PROMPT` in the project folder. */
export async function codexHeadless(
  world: World,
  prompt: string,
  opts: { args?: string[]; timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<Output> {
  const bin = await ensureCli("codex");
  return run(bin, ["exec", "--skip-git-repo-check", ...(opts.args ?? []), prompt], {
    env: world.env({ OPENAI_API_KEY: FAKE_KEY, ...opts.env }),
    cwd: projectDir(world),
    timeoutMs: opts.timeoutMs ?? 60_000,
  });
}

/** Gemini CLI after onboarding: API-key auth chosen, the project trusted, statistics off. */
export async function preseedGemini(world: World): Promise<void> {
  const project = projectDir(world);
  await Deno.mkdir(project, { recursive: true });
  const path = join(world.home, ".gemini", "settings.json");
  const settings = await readJson(path);
  Object.assign(settings, {
    security: { auth: { selectedType: "gemini-api-key" } },
    privacy: { usageStatisticsEnabled: false },
    telemetry: { enabled: false },
    general: { enableAutoUpdate: false, enableAutoUpdateNotification: false },
    ide: { enabled: false },
  });
  await world.write(".gemini/settings.json", JSON.stringify(settings, null, 2));
  await world.write(".gemini/trustedFolders.json", JSON.stringify({ [project]: "TRUST_FOLDER" }));
}

/** The environment that points Gemini CLI at a fake Gemini endpoint. */
export function geminiEnv(world: World, model: FakeModel, extra: Record<string, string> = {}) {
  return world.env({ GOOGLE_GEMINI_BASE_URL: model.url, GEMINI_API_KEY: FAKE_KEY, ...extra });
}

/** `gemini -p PROMPT` in the project folder. */
export async function geminiHeadless(
  world: World,
  model: FakeModel,
  prompt: string,
  opts: { args?: string[]; timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<Output> {
  const bin = await ensureCli("gemini");
  return run(bin, ["-p", prompt, ...(opts.args ?? [])], {
    env: geminiEnv(world, model, opts.env),
    cwd: projectDir(world),
    timeoutMs: opts.timeoutMs ?? 90_000,
  });
}

/** One hook as Codex itself lists it (`codex app-server`, JSON-RPC `hooks/list`). */
export interface CodexHook {
  key: string;
  eventName: string;
  command: string;
  currentHash: string;
  trustStatus: string;
  enabled: boolean;
}

/** The hooks Codex discovers for the project folder, with its own trust verdicts. */
export async function codexHooks(world: World): Promise<CodexHook[]> {
  const bin = await ensureCli("codex");
  const child = new Deno.Command(bin, {
    args: ["app-server"],
    env: world.env({ OPENAI_API_KEY: FAKE_KEY }),
    clearEnv: true,
    cwd: projectDir(world),
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const writer = child.stdin.getWriter();
  const send = (msg: unknown) => writer.write(new TextEncoder().encode(JSON.stringify(msg) + "\n"));
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  try {
    await send({
      id: 1,
      method: "initialize",
      params: { clientInfo: { name: "agent-ipc-e2e", version: "1" }, capabilities: {} },
    });
    await send({ method: "initialized" });
    await send({ id: 2, method: "hooks/list", params: { cwds: [projectDir(world)] } });
    let buf = "";
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      buf += chunk;
      for (const line of buf.split("\n")) {
        if (!line.startsWith("{")) continue;
        const msg = JSON.parse(line);
        if (msg.id === 2) {
          if (msg.error) throw new Error(`codex hooks/list: ${JSON.stringify(msg.error)}`);
          return msg.result.data.flatMap((d: { hooks: CodexHook[] }) => d.hooks);
        }
      }
      buf = buf.slice(buf.lastIndexOf("\n") + 1);
    }
    throw new Error("codex app-server closed without answering hooks/list");
  } finally {
    clearTimeout(timer);
    await writer.close().catch(() => {});
    try {
      child.kill("SIGTERM");
    } catch { /* gone */ }
    await child.status;
  }
}

/**
 * An interactive Codex TUI in a pseudo-terminal (`args`: e.g. a first prompt,
 * `--no-daemon`). In daemon mode (the default) it starts Codex's shared
 * app-server daemon, which outlives the TUI: disposing the world ends it too
 * (by the pids in its pid files).
 */
export async function codexInteractive(world: World, args: string[] = []): Promise<PtySession> {
  const bin = await ensureCli("codex");
  const pty = new PtySession(bin, args, {
    env: world.env({ OPENAI_API_KEY: FAKE_KEY }),
    cwd: projectDir(world),
  });
  world.track({ kill: () => pty.kill(), done: pty.done });
  // Once the TUI is gone, its daemon goes too (the world waits for this).
  world.track({ kill: () => {}, done: pty.done.then(() => stopCodexDaemon(world)) });
  return pty;
}

/** Ends the Codex app-server daemon of this world's HOME (and its updater), if running. */
export async function stopCodexDaemon(world: World): Promise<void> {
  // The updater first: it would start the daemon again.
  for (const file of ["daemon-updater.pid", "daemon.pid"]) {
    const text = await world.read(`.codex/app-server-daemon/${file}`).catch(() => "");
    const pid = Number(/\d+/.exec(text)?.[0]);
    if (!Number.isInteger(pid) || pid <= 1) continue;
    try {
      Deno.kill(pid, "SIGTERM");
    } catch { /* gone */ }
  }
}

/** An interactive Gemini CLI session in a pseudo-terminal. */
export async function geminiInteractive(
  world: World,
  model: FakeModel,
  opts: { args?: string[]; env?: Record<string, string> } = {},
): Promise<PtySession> {
  const bin = await ensureCli("gemini");
  const pty = new PtySession(bin, opts.args ?? [], {
    env: geminiEnv(world, model, opts.env),
    cwd: projectDir(world),
  });
  world.track({ kill: () => pty.kill(), done: pty.done });
  return pty;
}
