/**
 * `<data dir>/hooks.log`: where a hook says what it did and why it stayed
 * quiet (a hook says nothing to the assistant on failure). One JSON line per
 * event, moved to `hooks.log.1` past {@linkcode HOOK_LOG_MAX_BYTES}.
 *
 * @module
 */

import { join } from "node:path";

/** hooks.log is moved to hooks.log.1 past this size (every prompt adds a line). */
export const HOOK_LOG_MAX_BYTES = 1_000_000;

/**
 * Appends one line to hooks.log; never throws (nowhere to say it otherwise).
 *
 * @example
 * ```ts
 * await noteHook("/tmp/ipc", { assistant: "claude", event: "tool", outcome: "no-session" });
 * ```
 */
export async function noteHook(dataDir: string, fields: Record<string, unknown>): Promise<void> {
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
