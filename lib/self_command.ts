/**
 * How a person runs this program again: the words of a command they can copy
 * into a shell, for hints such as the broker's banner. The installed
 * `agent-ipc` when there is one on `PATH` (or the compiled binary that is
 * running), else `deno task ipc` in the checkout (with `--config` from
 * elsewhere), else the exact `deno run` line of a program run from a URL or
 * a bundle.
 *
 * @module
 */

import { posix, win32 } from "node:path";
import { RUN_FLAGS } from "./permissions.ts";

/** The name of the installed executable (`deno task install`, the release binaries). */
export const EXECUTABLE_NAME = "agent-ipc";

/** What is known about the running program. */
export interface SelfContext {
  os: typeof Deno.build.os;
  /** `PATH` (and on Windows `PATHEXT`) are read from here. */
  env: Readonly<Record<string, string | undefined>>;
  /** True when running as a `deno compile` binary (`Deno.build.standalone`). */
  standalone: boolean;
  /** `Deno.execPath()`: the compiled binary, or the `deno` executable. */
  execPath: string;
  /** `Deno.mainModule`: a `file:` URL, or a remote URL. */
  mainModule: string;
  /** The current directory. */
  cwd: string;
}

/** The context of this process. */
export function currentContext(): SelfContext {
  return {
    os: Deno.build.os,
    env: Deno.env.toObject(),
    standalone: Deno.build.standalone ?? false,
    execPath: Deno.execPath(),
    mainModule: Deno.mainModule,
    cwd: Deno.cwd(),
  };
}

/** Quotes a word for a POSIX shell when it needs it. */
export function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * Finds an executable on `PATH` (with `PATHEXT` on Windows) and returns its
 * absolute path, or `undefined`. Assistants started from a desktop launcher
 * often have a shorter `PATH` than a shell, so entries use the full path.
 * Synchronous: hints are built synchronously.
 */
export function findExecutable(
  name: string,
  os: typeof Deno.build.os,
  env: Readonly<Record<string, string | undefined>>,
): string | undefined {
  const windows = os === "windows";
  const path = windows ? win32 : posix;
  const dirs = (env.PATH ?? env.Path ?? "").split(windows ? ";" : ":").filter((d) => d !== "");
  const exts = windows ? (env.PATHEXT ?? ".COM;.EXE;.BAT;.CMD").split(";").filter(Boolean) : [""];
  for (const dir of dirs) {
    if (!path.isAbsolute(dir)) continue;
    for (const ext of exts) {
      const candidate = path.join(dir, name + ext.toLowerCase());
      try {
        const info = Deno.statSync(candidate);
        if (info.isFile && (windows || info.mode === null || (info.mode & 0o111) !== 0)) {
          return candidate;
        }
      } catch {
        // Not here; try the next directory.
      }
    }
  }
  return undefined;
}

/** The command words to type to run this program (without its arguments). */
export function selfCommand(ctx: SelfContext = currentContext()): string {
  if (ctx.standalone) {
    const path = ctx.os === "windows" ? win32 : posix;
    const name = path.basename(ctx.execPath).replace(/\.exe$/i, "");
    const onPath = findExecutable(name, ctx.os, ctx.env);
    return onPath === ctx.execPath ? name : shellWord(ctx.execPath);
  }
  if (findExecutable(EXECUTABLE_NAME, ctx.os, ctx.env)) return EXECUTABLE_NAME;
  if (ctx.mainModule.startsWith("file:") && ctx.os !== "windows") {
    const main = decodeURIComponent(new URL(ctx.mainModule).pathname);
    const root = posix.dirname(main);
    const config = posix.join(root, "deno.json");
    try {
      Deno.statSync(config);
      const inside = ctx.cwd === root || ctx.cwd.startsWith(root + "/");
      return inside ? "deno task ipc" : `deno task --config ${shellWord(config)} ipc`;
    } catch { /* no checkout around it */ }
  }
  const module = ctx.mainModule.startsWith("file:")
    ? decodeURIComponent(new URL(ctx.mainModule).pathname)
    : ctx.mainModule;
  return ["deno", "run", ...RUN_FLAGS, module].map(shellWord).join(" ");
}

let current: string | undefined;
let resolve: (() => string) | undefined;

/**
 * The command words the CLI's hints print (`run "… register NAME"`): what
 * {@linkcode selfCommand} finds, once {@linkcode useSelfCommand} was called
 * (the real command line), looked up on first use (a command that prints no
 * hint needs no permission for it); else, or when it cannot be found out,
 * `agent-ipc`.
 */
export function selfName(): string {
  if (current === undefined) {
    try {
      current = resolve ? resolve() : EXECUTABLE_NAME;
    } catch {
      current = EXECUTABLE_NAME; // e.g. no --allow-env or --allow-read
    }
  }
  return current;
}

/** Makes {@linkcode selfName} name this process's own command (`runCli` from main.ts). */
export function useSelfCommand(ctx: () => SelfContext = currentContext): void {
  resolve = () => selfCommand(ctx());
  current = undefined;
}
