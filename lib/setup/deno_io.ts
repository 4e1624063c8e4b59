/**
 * The real-world {@linkcode SetupIo} for `main.ts`: stdout and stderr, the
 * environment, the home directory, the OS (with WSL detected) and the
 * working directory, all read from `Deno`.
 *
 * @module
 */

import type { SetupIo } from "./setup_command.ts";

/**
 * Builds the {@linkcode SetupIo} of this process.
 *
 * @example
 * ```ts
 * // in main.ts
 * Deno.exit(await runSetup(args, denoSetupIo()));
 * ```
 */
export function denoSetupIo(): SetupIo {
  const encoder = new TextEncoder();
  const env = Deno.env.toObject();
  const os = Deno.build.os;
  return {
    stdout: (s) => writeAll(Deno.stdout, encoder.encode(s)),
    stderr: (s) => writeAll(Deno.stderr, encoder.encode(s)),
    env,
    home: (os === "windows" ? env.USERPROFILE : env.HOME) ?? env.HOME ?? env.USERPROFILE ?? "",
    os,
    isWsl: os === "linux" && detectWsl(env),
    cwd: Deno.cwd(),
  };
}

/**
 * True when this Linux runs under WSL: WSL sets `WSL_DISTRO_NAME` (and
 * `WSL_INTEROP`), and its kernel release names Microsoft.
 */
export function detectWsl(
  env: Readonly<Record<string, string | undefined>>,
  osRelease = "/proc/sys/kernel/osrelease",
): boolean {
  if (env.WSL_DISTRO_NAME || env.WSL_INTEROP) return true;
  try {
    return /microsoft/i.test(Deno.readTextFileSync(osRelease));
  } catch {
    return false;
  }
}

function writeAll(stream: { writeSync(p: Uint8Array): number }, bytes: Uint8Array): void {
  let written = 0;
  while (written < bytes.length) written += stream.writeSync(bytes.subarray(written));
}
