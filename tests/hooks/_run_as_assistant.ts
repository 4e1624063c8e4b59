/**
 * Runs a hook command the way an assistant does: `/bin/sh -c COMMAND` with
 * the assistant's JSON on stdin, our own logging silenced.
 *
 * @module
 */

/** What the hook printed, its exit code and how long it took. */
export interface HookRun {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/**
 * Runs `command` through `/bin/sh -c` with `stdin` as JSON.
 *
 * @example
 * ```ts
 * const r = await runAsAssistant("agent-ipc hook claude prompt", { prompt: "hi" }, {});
 * ```
 */
export async function runAsAssistant(
  command: string,
  stdin: unknown,
  env: Record<string, string>,
): Promise<HookRun> {
  const t0 = performance.now();
  const child = new Deno.Command("/bin/sh", {
    args: ["-c", command],
    env: { IPC_LOG: "silent", ...env },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  // A hook may exit without reading its input (the shell's quiet test does): a broken pipe is fine.
  await w.write(new TextEncoder().encode(JSON.stringify(stdin))).catch(() => {});
  await w.close().catch(() => {});
  const out = await child.output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
    ms: performance.now() - t0,
  };
}
