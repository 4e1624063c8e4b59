/**
 * `agent-ipc hook …` on its own: the entry `main.ts` takes for the hook
 * command, so a hook (on the assistant's path at every tool call that the
 * shell's quiet test does not settle) loads the hook's modules only, not the
 * whole CLI (`run.ts` loads every client command: ~3 times the start-up CPU).
 *
 * @module
 */

import { type CliIo, denoIo } from "../cli/cli_io.ts";

/**
 * Runs `hook ARGS` with the process's streams; never fails the assistant.
 *
 * @example
 * ```ts
 * // main.ts: if (Deno.args[0] === "hook") Deno.exit(await runHookCli(Deno.args.slice(1)));
 * ```
 */
export async function runHookCli(args: string[], io: CliIo = denoIo()): Promise<number> {
  let mod: typeof import("../hooks/hook_command.ts");
  try {
    mod = await import("../hooks/hook_command.ts");
  } catch (e) {
    io.stderr(`agent-ipc hook: this command is not available: ${(e as Error).message}\n`);
    return 0; // never fail the assistant
  }
  return await mod.runHook(args, {
    stdout: io.stdout,
    stderr: io.stderr,
    env: io.env,
    readStdin: (ms) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      return Promise.race([
        io.readStdin(),
        new Promise<string>((resolve) => timer = setTimeout(() => resolve(""), ms)),
      ]).finally(() => clearTimeout(timer));
    },
  });
}
