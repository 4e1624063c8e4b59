/**
 * Whether a process still runs, asked from outside: the MCP server prunes the
 * records of its assistant's dead servers, and the hooks check a recorded
 * watcher or server before they count on it.
 *
 * @module
 */

/**
 * False once `pid` is known to be gone (`ps -p`); true when that cannot be
 * told (Windows, no `ps`).
 *
 * @example
 * ```ts
 * if (!(await isAlive(12345))) console.log("process 12345 is gone");
 * ```
 */
export async function isAlive(pid: number): Promise<boolean> {
  if (Deno.build.os === "windows") return true;
  try {
    const out = await new Deno.Command("ps", {
      args: ["-o", "pid=", "-p", String(pid)],
      stdout: "piped",
      stderr: "null",
      stdin: "null",
    }).output();
    return out.success || new TextDecoder().decode(out.stdout).trim() !== "";
  } catch {
    return true;
  }
}
