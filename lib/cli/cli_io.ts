/**
 * What a CLI command may touch of the outside world, in one injectable
 * object: output streams, the environment, standard input and Ctrl-C. The
 * real one (`denoIo`) writes to the process's streams; tests pass their own.
 *
 * @module
 */

/** The outside world of a CLI command. */
export interface CliIo {
  /** Writes text to standard output as is (newlines included). Throws when it cannot. */
  stdout: (text: string) => void;
  /** Writes text to standard error as is (newlines included). */
  stderr: (text: string) => void;
  /** The environment variables visible to the command. */
  env: Readonly<Record<string, string | undefined>>;
  /** Reads all of standard input as UTF-8 text. */
  readStdin: () => Promise<string>;
  /** Calls `handler` on Ctrl-C (SIGINT) until the returned function is called. */
  onInterrupt: (handler: () => void) => () => void;
}

const encoder = new TextEncoder();

function writeAllSync(file: { writeSync(p: Uint8Array): number }, text: string): void {
  const bytes = encoder.encode(text);
  let at = 0;
  while (at < bytes.length) at += file.writeSync(bytes.subarray(at));
}

function environment(): Record<string, string> {
  try {
    return Deno.env.toObject();
  } catch {
    return {}; // no --allow-env: defaults only
  }
}

/**
 * The process's own streams, environment and signals.
 *
 * @example
 * ```ts
 * const io = denoIo();
 * io.stdout("hello\n");
 * ```
 */
export function denoIo(): CliIo {
  return {
    stdout: (text) => writeAllSync(Deno.stdout, text),
    stderr: (text) => {
      try {
        writeAllSync(Deno.stderr, text);
      } catch { /* stderr closed: nowhere left to report */ }
    },
    env: environment(),
    readStdin: async () => await new Response(Deno.stdin.readable).text(),
    onInterrupt: (handler) => {
      Deno.addSignalListener("SIGINT", handler);
      return () => Deno.removeSignalListener("SIGINT", handler);
    },
  };
}
