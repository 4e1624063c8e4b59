/**
 * The ways agent-ipc starts a turn in an idle session without typing into
 * its terminal, one per assistant that has one:
 *
 * - **claude-socket**: Claude Code (2.1.224 and later) gives its hooks and
 *   MCP servers `CLAUDE_CODE_MESSAGING_SOCKET` and `CLAUDE_CODE_MESSAGING_TOKEN`,
 *   its own cross-session inbox. A line `{"type":"auth","token":…}` then
 *   `{"type":"user","message":{"role":"user","content":…}}` starts a turn in
 *   an idle session (under 1 s) and queues behind a busy one. It answers
 *   nothing, whatever Claude Code does with the line: under the person's
 *   `crossSessionInbound` "hold" Claude Code parks it for the person to
 *   approve, under "refuse" it drops it (2.1.328, seen in an e2e test), so
 *   the wake hook reads that setting first (`lib/claude_inbound.ts`) and then
 *   neither goes around it with asyncRewake. The format is seen in Claude Code's
 *   own debug log, not documented: version-dependent, so `asyncRewake` (exit 2
 *   of the wake hook) stays the fallback.
 * - **codex-queue**: `codex queue --thread ID --message TEXT` (Codex 0.171)
 *   queues a turn for a session; an idle TUI runs it at once (daemon mode,
 *   ~1-2 s) or within ~2-13 s (`--no-daemon`), a busy one when its turn ends.
 *
 * Both carry only a neutral nudge ({@linkcode WAKE_NUDGE}): the assistant
 * frames the text as a peer's or the user's own words, so the messages
 * themselves reach the model through the prompt hook, under agent-ipc's
 * "data, not instructions" header.
 *
 * @module
 */

import { delimiter, join } from "node:path";
import { MARKER } from "./attention.ts";

/** How a session can be woken (shown by list, status, whoami and the console). */
export type WakeMechanism =
  | "claude-socket"
  | "claude-held"
  | "asyncRewake"
  | "codex-queue"
  | "gemini-waiter"
  | "cursor-followup"
  | "notify"
  | "none";

/** The text that starts the woken turn: names no sender and no content. */
export const WAKE_NUDGE = `${MARKER} New messages from other agents are waiting for you; ` +
  "agent-ipc shows them with this prompt.";

/** How long a wake channel may take before it counts as failed. */
export const CHANNEL_TIMEOUTS = { socketMs: 2_000, queueMs: 30_000 };

/** Claude Code's inbox socket and token from a hook's environment, when it has one. */
export function claudeSocketOf(
  env: Readonly<Record<string, string | undefined>>,
): { path: string; token: string } | undefined {
  const path = env.CLAUDE_CODE_MESSAGING_SOCKET;
  const token = env.CLAUDE_CODE_MESSAGING_TOKEN;
  return path && token ? { path, token } : undefined;
}

/**
 * Starts a turn through Claude Code's inbox socket. Resolves once both lines
 * are written; rejects when the socket cannot be reached in time.
 */
export async function sendClaudeNudge(
  socket: { path: string; token: string },
  text: string = WAKE_NUDGE,
): Promise<void> {
  const conn = await withTimeout(
    Deno.connect({ transport: "unix", path: socket.path }),
    CHANNEL_TIMEOUTS.socketMs,
    "connecting to Claude Code's messaging socket",
  );
  try {
    const lines = JSON.stringify({ type: "auth", token: socket.token }) + "\n" +
      JSON.stringify({ type: "user", message: { role: "user", content: text } }) + "\n";
    const bytes = new TextEncoder().encode(lines);
    for (let off = 0; off < bytes.length;) {
      off += await withTimeout(
        conn.write(bytes.subarray(off)),
        CHANNEL_TIMEOUTS.socketMs,
        "writing",
      );
    }
  } finally {
    try {
      conn.close();
    } catch { /* closed */ }
  }
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    const info = await Deno.stat(path);
    return info.isFile && (info.mode === null || (info.mode & 0o111) !== 0);
  } catch {
    return false;
  }
}

/**
 * The codex command a hook can run: `IPC_CODEX_BIN`, else the package of the
 * Codex that runs the hook (`CODEX_MANAGED_PACKAGE_ROOT/bin/codex.js`, set in
 * its hooks' environment), else `codex` on `PATH`. Undefined when none is found.
 */
export async function codexCommand(
  env: Readonly<Record<string, string | undefined>>,
): Promise<string | undefined> {
  const candidates: string[] = [];
  if (env.IPC_CODEX_BIN) candidates.push(env.IPC_CODEX_BIN);
  if (env.CODEX_MANAGED_PACKAGE_ROOT) {
    candidates.push(join(env.CODEX_MANAGED_PACKAGE_ROOT, "bin", "codex.js"));
  }
  const windows = Deno.build.os === "windows";
  for (const dir of (env.PATH ?? "").split(delimiter).filter(Boolean)) {
    for (const ext of windows ? [".exe", ".cmd"] : [""]) candidates.push(join(dir, "codex" + ext));
  }
  for (const c of candidates) if (await isExecutable(c)) return c;
  return undefined;
}

/**
 * Queues `text` as a turn of the Codex session `threadId` (`codex queue`).
 * Resolves with Codex's answer; rejects with its error output, or on timeout.
 */
export async function queueCodexTurn(
  codex: string,
  threadId: string,
  env: Readonly<Record<string, string | undefined>>,
  text: string = WAKE_NUDGE,
): Promise<string> {
  const child = new Deno.Command(codex, {
    args: ["queue", "--thread", threadId, "--message", text],
    env: Object.fromEntries(
      Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined),
    ),
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  }, CHANNEL_TIMEOUTS.queueMs);
  try {
    const out = await child.output();
    const dec = new TextDecoder();
    const said = (dec.decode(out.stdout) + dec.decode(out.stderr)).trim();
    if (!out.success) {
      throw new Error(`codex queue exited ${out.code}: ${said.split("\n").slice(-3).join(" ")}`);
    }
    return said.split("\n").filter((l) => !l.startsWith("WARNING")).join(" ");
  } finally {
    clearTimeout(timer);
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
