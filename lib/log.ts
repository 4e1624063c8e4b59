/**
 * Logging to stderr, one line per event, so stdout stays free for protocol
 * (MCP) and command output (CLI). `IPC_LOG=debug|info|warn|error|silent`.
 *
 * @module
 */

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 } as const;
/** A log level. */
export type LogLevel = keyof typeof LEVELS;

let threshold: number = LEVELS.info;
let sink: (line: string) => void = (line) => {
  try {
    Deno.stderr.writeSync(new TextEncoder().encode(line + "\n"));
  } catch {
    // stderr closed: nothing sensible to do
  }
};

/** Sets the level (from `IPC_LOG`, or a flag). Unknown values keep the current level. */
export function setLogLevel(level: string | undefined): void {
  if (level && level in LEVELS) threshold = LEVELS[level as LogLevel];
}

/** Sends log lines somewhere else (a file for a detached broker, a buffer in tests). */
export function setLogSink(fn: (line: string) => void): void {
  sink = fn;
}

function emit(level: LogLevel, scope: string, message: string): void {
  if (LEVELS[level] < threshold) return;
  sink(`${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} [${scope}] ${message}`);
}

/** A logger bound to a scope ("broker", "client", "mcp", …). */
export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** Returns a logger for `scope`. */
export function logger(scope: string): Logger {
  return {
    debug: (m) => emit("debug", scope, m),
    info: (m) => emit("info", scope, m),
    warn: (m) => emit("warn", scope, m),
    error: (m) => emit("error", scope, m),
  };
}

/**
 * A gate that lets one report through per `intervalMs` and counts the rest,
 * so a hostile peer cannot flood the log (refused HTTP requests, refused
 * connections).
 *
 * @example
 * ```ts
 * const httpRefused = throttle(10_000);
 * httpRefused((more) => log.warn(`HTTP request refused${more ? ` (+${more} more)` : ""}`));
 * ```
 */
export function throttle(intervalMs: number): (report: (suppressed: number) => void) => void {
  let last = -Infinity;
  let suppressed = 0;
  return (report) => {
    const now = Date.now();
    if (now - last < intervalMs) {
      suppressed++;
      return;
    }
    last = now;
    const n = suppressed;
    suppressed = 0;
    report(n);
  };
}
