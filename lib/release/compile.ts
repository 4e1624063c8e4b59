/**
 * The release build (`deno task compile`): one standalone binary per target
 * with `deno compile`, the permission flags baked in, into `dist/`, and a
 * `dist/SHA256SUMS` in the format `sha256sum -c` reads. `--dry-run` prints
 * the exact commands and builds nothing (`deno compile` downloads a runtime
 * per target, which needs the network).
 *
 * Run as a script by the task; the work is in {@linkcode runCompile}.
 *
 * @module
 */

import { shellWord } from "../self_command.ts";
import { basename, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { RUN_FLAGS } from "../permissions.ts";

/** The release targets, as `deno compile --target` names them. */
export const COMPILE_TARGETS = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
  "x86_64-pc-windows-msvc",
] as const;

/**
 * Files of npm packages that the program never loads, left out of the binaries
 * (paths under the npm cache's `registry.npmjs.org/`). zod ships its TypeScript
 * sources (3.9 MB) beside the built files, and its exports map them only under
 * the `@zod/source` condition, which Deno never sets; without them the payload
 * is 17 MB instead of 20 (tests/release/compile_test.ts checks the exports).
 */
export const PAYLOAD_EXCLUDES: readonly string[] = ["zod/4.6.7/src"];

/** The `--exclude` flags for {@linkcode PAYLOAD_EXCLUDES}, for this npm cache directory. */
export function excludeFlags(npmCache: string): string[] {
  return PAYLOAD_EXCLUDES.flatMap((p) => ["--exclude", join(npmCache, "registry.npmjs.org", p)]);
}

/** The npm cache directory `deno` uses (`npmCache` of `deno info --json`). */
export async function npmCacheDir(deno: string = Deno.execPath()): Promise<string> {
  const out = await new Deno.Command(deno, { args: ["info", "--json"], stdout: "piped" }).output();
  return JSON.parse(new TextDecoder().decode(out.stdout)).npmCache;
}

/** One release target. */
export type CompileTarget = typeof COMPILE_TARGETS[number];

/** The binary's file name for a target: `agent-ipc-<target>`, `.exe` on Windows. */
export function binaryName(target: CompileTarget): string {
  return `agent-ipc-${target}${target.includes("windows") ? ".exe" : ""}`;
}

/**
 * The `deno compile` command line for one target, relative to the repository root.
 *
 * @example
 * ```ts
 * compileCommand("deno", "x86_64-unknown-linux-gnu", "dist");
 * // ["deno", "compile", "--target", "x86_64-unknown-linux-gnu", "--output",
 * //  "dist/agent-ipc-x86_64-unknown-linux-gnu", "--allow-net", ..., "main.ts"]
 * ```
 */
export function compileCommand(
  deno: string,
  target: CompileTarget,
  outDir: string,
  excludes: readonly string[] = [],
): string[] {
  return [
    deno,
    "compile",
    "--target",
    target,
    "--output",
    `${outDir}/${binaryName(target)}`,
    ...excludes,
    ...RUN_FLAGS,
    "main.ts",
  ];
}

/** Where the build reads and writes, and how it runs a command. */
export interface CompileIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  /** The repository root (where main.ts is); commands run there. */
  root: string;
  /** The `deno` executable; defaults to `Deno.execPath()`. */
  deno?: string;
  /** The npm cache directory (for `--exclude`); defaults to `deno info --json`'s. */
  npmCache?: string;
  /** Runs a command in `root` and returns its exit code; defaults to a real subprocess. */
  run?: (command: string[], cwd: string) => Promise<number>;
}

/**
 * Runs the build with these arguments: `[--dry-run] [--target T]... [--out DIR]`.
 * Returns the exit code: 0 built, 1 a build failed, 2 usage error.
 */
export async function runCompile(args: string[], io: CompileIo): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        "dry-run": { type: "boolean", default: false },
        target: { type: "string", multiple: true },
        out: { type: "string", default: "dist" },
      },
    }));
  } catch (error) {
    io.stderr(`compile: ${(error as Error).message.split(". ")[0]}\n${USAGE}`);
    return 2;
  }
  const targets = values.target ?? [...COMPILE_TARGETS];
  const unknown = targets.find((t) => !(COMPILE_TARGETS as readonly string[]).includes(t));
  if (unknown !== undefined) {
    io.stderr(`compile: Unknown target "${unknown}" (known: ${COMPILE_TARGETS.join(", ")})\n`);
    return 2;
  }
  const outDir = values.out.replace(/\/+$/, "") || ".";
  const deno = io.deno ?? Deno.execPath();
  const excludes = excludeFlags(io.npmCache ?? await npmCacheDir(deno));
  const commands = (targets as CompileTarget[]).map((t) =>
    compileCommand(deno, t, outDir, excludes)
  );
  const sums = `${outDir}/SHA256SUMS`;

  if (values["dry-run"]) {
    io.stdout(`# in ${io.root}\n`);
    io.stdout(`mkdir -p ${shellWord(outDir)}\n`);
    for (const command of commands) io.stdout(command.map(shellWord).join(" ") + "\n");
    io.stdout(`# then write ${sums} (sha256sum format) for the ${commands.length} binaries\n`);
    return 0;
  }

  const run = io.run ?? runCommand;
  await Deno.mkdir(join(io.root, outDir), { recursive: true });
  const outputs: string[] = [];
  for (const command of commands) {
    io.stdout(`$ ${command.map(shellWord).join(" ")}\n`);
    const code = await run(command, io.root);
    if (code !== 0) {
      io.stderr(`compile: ${command[3]} failed with exit code ${code}\n`);
      return 1;
    }
    outputs.push(join(io.root, command[5]));
  }
  const lines = [];
  for (const output of outputs.sort()) {
    lines.push(`${await sha256File(output)}  ${basename(output)}\n`);
  }
  await Deno.writeTextFile(join(io.root, sums), lines.join(""));
  io.stdout(`wrote ${sums}\n`);
  return 0;
}

const USAGE = "Usage: deno task compile [--dry-run] [--target TARGET]... [--out DIR]\n";

/** The hex SHA-256 of a file. */
export async function sha256File(path: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function runCommand(command: string[], cwd: string): Promise<number> {
  const child = new Deno.Command(command[0], {
    args: command.slice(1),
    cwd,
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  return (await child.status).code;
}

if (import.meta.main) {
  // A release script, not part of the program: it is its own entry point.
  Deno.exitCode = await runCompile(Deno.args, {
    stdout: (s) => Deno.stdout.writeSync(new TextEncoder().encode(s)),
    stderr: (s) => Deno.stderr.writeSync(new TextEncoder().encode(s)),
    root: resolve(fileURLToPath(new URL("../..", import.meta.url))),
  });
}
