/**
 * How `hook … stop --notify` tells the person a message came while the
 * assistant was idle (no wake possible there): a detached `hook … watch`
 * process, and the terminal bell plus a desktop notification, best effort.
 *
 * @module
 */

import { RUN_FLAGS } from "../permissions.ts";

/**
 * Starts `agent-ipc hook ARGS` detached, told its assistant's pid, so the
 * assistant's hook returns at once.
 *
 * @example
 * ```ts
 * spawnWatch(["codex", "watch"], assistantPid);
 * ```
 */
export function spawnWatch(
  args: string[],
  assistantPid: number,
  env: Record<string, string> = {},
): void {
  const standalone = (Deno.build as { standalone?: boolean }).standalone === true;
  const full = standalone
    ? ["hook", ...args]
    : ["run", ...RUN_FLAGS, Deno.mainModule, "hook", ...args];
  const child = new Deno.Command(Deno.execPath(), {
    args: full,
    env: { ...env, IPC_HOOK_ASSISTANT_PID: String(assistantPid) },
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  child.unref();
}

/**
 * The terminal bell (on the controlling terminal) and a desktop notification, best effort.
 *
 * @example
 * ```ts
 * await notify("agent-ipc", "1 new message for codex from bob");
 * ```
 */
export async function notify(title: string, body: string): Promise<void> {
  try {
    const tty = await Deno.open("/dev/tty", { write: true });
    await tty.write(new Uint8Array([7]));
    tty.close();
  } catch {
    // No terminal.
  }
  const os = Deno.build.os;
  if (os === "windows") return; // the bell only
  const [cmd, args] = os === "darwin"
    ? ["osascript", [
      "-e",
      `display notification ${JSON.stringify(body)} with title ${JSON.stringify(title)}`,
    ]]
    : ["notify-send", [title, body]];
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
