/**
 * Helpers for CLI tests: run the real program (`Deno.execPath()` with the
 * docs/install.md's permission flags) in an isolated environment, capture stdout,
 * stderr and the exit status, and stream the output of long-running commands.
 *
 * @module
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { PERMISSION_FLAGS } from "../../lib/permissions.ts";
import type { CliIo } from "../../lib/cli/cli_io.ts";

/** Absolute path of the program's entry. */
export const MAIN = fileURLToPath(new URL("../../main.ts", import.meta.url));

/** What a finished command printed and returned. */
export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * A folder holding an installed-style `agent-ipc` (a script running MAIN), put first on the
 * program's PATH: the CLI tests run as a user who ran `deno task install`, so the hints they
 * check name `agent-ipc` (lib/self_command.ts; tests/self_command_test.ts covers the others).
 */
const INSTALLED_BIN = (() => {
  const dir = Deno.makeTempDirSync({ prefix: "ipc-cli-bin-" });
  Deno.writeTextFileSync(
    join(dir, "agent-ipc"),
    `#!/bin/sh\nexec '${Deno.execPath()}' run ${PERMISSION_FLAGS.join(" ")} '${MAIN}' "$@"\n`,
    { mode: 0o755 },
  );
  return dir;
})();

/** Environment variables of the parent that must not leak into the program; PATH with `agent-ipc`. */
function scrubbedIpcVars(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(Deno.env.toObject())) if (key.startsWith("IPC_")) out[key] = "";
  out.PATH = `${INSTALLED_BIN}:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}`;
  return out;
}

/** An isolated place to run the CLI: a data dir, a port, session files per agent. */
export class CliPlace implements AsyncDisposable {
  readonly dir: string;
  readonly dataDir: string;
  readonly port: number;
  readonly extraEnv: Record<string, string>;

  constructor(dir: string, port: number, dataDir?: string, extraEnv: Record<string, string> = {}) {
    this.dir = dir;
    this.port = port;
    this.dataDir = dataDir ?? join(dir, "data");
    this.extraEnv = extraEnv;
  }

  /** A fresh temp dir for `port` (and optionally an existing broker data dir). */
  static async create(
    port: number,
    dataDir?: string,
    extraEnv: Record<string, string> = {},
  ): Promise<CliPlace> {
    return new CliPlace(await Deno.makeTempDir({ prefix: "ipc-cli-" }), port, dataDir, extraEnv);
  }

  /** The session file of agent `who`. */
  sessionFile(who: string): string {
    return join(this.dir, `session-${who}`);
  }

  /** The environment agent `who` runs with. */
  env(who: string, extra: Record<string, string> = {}): Record<string, string> {
    return {
      ...scrubbedIpcVars(),
      IPC_PORT: String(this.port),
      IPC_DATA_DIR: this.dataDir,
      IPC_SESSION_FILE: this.sessionFile(who),
      IPC_NO_HTTP: "1", // a broker started by a command must not take the console port
      ...this.extraEnv,
      ...extra,
    };
  }

  /** Runs the program as agent `who`; resolves when it exits. */
  run(
    who: string,
    args: string[],
    options: { stdin?: string; env?: Record<string, string>; cwd?: string } = {},
  ): Promise<Result> {
    return runProgram(args, this.env(who, options.env), options.stdin, options.cwd);
  }

  /** Starts the program as agent `who` without waiting for it. */
  start(who: string, args: string[]): Running {
    return new Running(args, this.env(who));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}

function command(
  args: string[],
  env: Record<string, string>,
  stdin: boolean,
  cwd?: string,
): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", ...PERMISSION_FLAGS, MAIN, ...args],
    env,
    cwd,
    stdin: stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  });
}

const decoder = new TextDecoder();

/** Runs the program with `args` and `env`, feeding `stdin` if given. */
export async function runProgram(
  args: string[],
  env: Record<string, string>,
  stdin?: string,
  cwd?: string,
): Promise<Result> {
  const child = command(args, env, stdin !== undefined, cwd).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const out = await child.output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/** A running program whose stdout can be awaited line by line. */
export class Running {
  readonly child: Deno.ChildProcess;
  #stdout = "";
  #stderr = "";
  #waiters: (() => void)[] = [];
  readonly #done: Promise<Result>;

  constructor(args: string[], env: Record<string, string>) {
    const child = this.child = command(args, env, false).spawn();
    const pump = async (stream: ReadableStream<Uint8Array>, out: "stdout" | "stderr") => {
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        if (out === "stdout") this.#stdout += chunk;
        else this.#stderr += chunk;
        for (const w of this.#waiters.splice(0)) w();
      }
    };
    const pumps = Promise.all([pump(child.stdout, "stdout"), pump(child.stderr, "stderr")]);
    this.#done = (async () => {
      const [status] = await Promise.all([child.status, pumps]);
      for (const w of this.#waiters.splice(0)) w();
      return { code: status.code, stdout: this.#stdout, stderr: this.#stderr };
    })();
  }

  /** What it printed to stdout so far. */
  get stdout(): string {
    return this.#stdout;
  }

  /** Resolves once stdout matches `pattern`; rejects after `timeoutMs`. */
  async waitFor(pattern: RegExp, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    this.#done.then(() => exited = true);
    while (!pattern.test(this.#stdout)) {
      if (exited) throw new Error(`exited before printing ${pattern}: ${this.#stderr}`);
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`no ${pattern} within ${timeoutMs} ms; stdout: ${this.#stdout}`);
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        timer = setTimeout(resolve, Math.min(left, 200));
      });
      clearTimeout(timer);
    }
  }

  /** Resolves with the result once the program exits. */
  done(): Promise<Result> {
    return this.#done;
  }
}

/** A CliIo that records output, for in-process runs of `runCli`. */
export function recordingIo(
  env: Record<string, string | undefined> = {},
  stdin = "",
): CliIo & { out: string; err: string } {
  const io = {
    out: "",
    err: "",
    stdout: (s: string) => void (io.out += s),
    stderr: (s: string) => void (io.err += s),
    env,
    readStdin: () => Promise.resolve(stdin),
    onInterrupt: () => () => {},
  };
  return io;
}

/** Parses the single JSON document a `--json` command printed. */
export function jsonOf(r: Result): Record<string, unknown> {
  const text = r.stdout.trim();
  if (text.includes("\n")) throw new Error(`more than one JSON document: ${r.stdout}`);
  return JSON.parse(text);
}
