/**
 * Structured logging. Each event is a {@linkcode LogRecord} (time, level,
 * scope, message and optional fields) handed to one sink: by default readable
 * text on stderr, so stdout stays free for protocol (MCP) and command output
 * (CLI); a log file gets one JSON object per line ({@linkcode jsonLines}), so
 * whoever reads it back (the election, the bench) reads fields, not text.
 * `IPC_LOG=debug|info|warn|error|silent`.
 *
 * @module
 */

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 } as const;
/** A log level. */
export type LogLevel = keyof typeof LEVELS;

/** Machine-readable facts of an event (ports, counts, codes); values must be JSON-friendly. */
export type LogFields = Record<string, unknown>;

/** One log event. */
export interface LogRecord {
  /** Unix ms. */
  time: number;
  level: Exclude<LogLevel, "silent">;
  /** The part of the program that logs ("broker", "election", "mcp", …). */
  scope: string;
  /** For people: a sentence that stands on its own. */
  message: string;
  /** For programs: what the message says, as fields. */
  fields?: LogFields;
}

/** Where records go. */
export type LogSink = (record: LogRecord) => void;

/**
 * A record as one line of readable text:
 * `2026-01-02T03:04:05.678Z WARN  [broker] purge failed: disk full`.
 */
export function formatText(r: LogRecord): string {
  return `${new Date(r.time).toISOString()} ${
    r.level.toUpperCase().padEnd(5)
  } [${r.scope}] ${r.message}`;
}

/**
 * A record as one line of JSON: `{"time":"…","level":"info","scope":"broker",
 * "msg":"listening on 127.0.0.1:9876", …fields}`. An Error in a field becomes
 * `{name, message, code?}`.
 */
export function formatJson(r: LogRecord): string {
  const out: Record<string, unknown> = {
    time: new Date(r.time).toISOString(),
    level: r.level,
    scope: r.scope,
    msg: r.message,
  };
  for (const [k, v] of Object.entries(r.fields ?? {})) {
    if (k in out) continue;
    out[k] = v instanceof Error
      ? { name: v.name, message: v.message, ...("code" in v ? { code: v.code } : {}) }
      : v;
  }
  try {
    return JSON.stringify(out);
  } catch {
    // A field that is not JSON (a cycle, a BigInt): keep the event, lose the fields.
    return JSON.stringify({ time: out.time, level: r.level, scope: r.scope, msg: r.message });
  }
}

/** A sink writing readable text lines (a terminal, a test buffer). */
export function textLines(write: (line: string) => void): LogSink {
  return (r) => write(formatText(r));
}

/** A sink writing one JSON object per line (log files). */
export function jsonLines(write: (line: string) => void): LogSink {
  return (r) => write(formatJson(r));
}

/**
 * A sink appending JSON lines to an open file; a failed write (disk full)
 * drops the line, never the program.
 *
 * @example
 * ```ts
 * const file = await Deno.open("broker.log", { append: true, create: true, mode: 0o600 });
 * setLogSink(fileSink(file));
 * ```
 */
export function fileSink(file: Deno.FsFile): LogSink {
  const enc = new TextEncoder();
  return jsonLines((line) => {
    try {
      file.writeSync(enc.encode(line + "\n"));
    } catch { /* disk full: drop the log line, not the program */ }
  });
}

/** A record as {@linkcode formatJson} writes it. */
export type JsonLogRecord = LogFields & { time: string; level: string; scope: string; msg: string };

/**
 * Reads back the records of a JSON-lines log (lines that are not records are skipped).
 *
 * @example
 * ```ts
 * const log = parseJsonLines(await Deno.readTextFile("broker.log"));
 * const failed = log.filter((r) => r.event === "start_failed");
 * ```
 */
export function parseJsonLines(text: string): JsonLogRecord[] {
  const out: JsonLogRecord[] = [];
  for (const line of text.split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      const r = JSON.parse(line);
      if (typeof r?.msg === "string" && typeof r.time === "string") out.push(r);
    } catch { /* a torn last line */ }
  }
  return out;
}

/** Readable text on stderr. */
export const stderrText: LogSink = textLines((line) => {
  try {
    Deno.stderr.writeSync(new TextEncoder().encode(line + "\n"));
  } catch {
    // stderr closed: nothing sensible to do
  }
});

let threshold: number = LEVELS.info;
let sink: LogSink = stderrText;

/** Sets the level (from `IPC_LOG`, or a flag). Unknown values keep the current level. */
export function setLogLevel(level: string | undefined): void {
  if (level && level in LEVELS) threshold = LEVELS[level as LogLevel];
}

/**
 * Sends log records somewhere else (a file for a detached broker, a buffer in tests).
 *
 * @example
 * ```ts
 * const records: LogRecord[] = [];
 * setLogSink((r) => records.push(r));
 * ```
 */
export function setLogSink(fn: LogSink): void {
  sink = fn;
}

function emit(level: LogRecord["level"], scope: string, message: string, fields?: LogFields) {
  if (LEVELS[level] < threshold) return;
  sink({ time: Date.now(), level, scope, message, fields });
}

/** A logger bound to a scope ("broker", "client", "mcp", …). */
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

/**
 * Returns a logger for `scope`.
 *
 * @example
 * ```ts
 * const log = logger("broker");
 * log.info(`listening on ${host}:${port}`, { event: "listening", host, port });
 * ```
 */
export function logger(scope: string): Logger {
  return {
    debug: (m, f) => emit("debug", scope, m, f),
    info: (m, f) => emit("info", scope, m, f),
    warn: (m, f) => emit("warn", scope, m, f),
    error: (m, f) => emit("error", scope, m, f),
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
export function throttle(
  intervalMs: number,
  clock: () => number = Date.now,
): (report: (suppressed: number) => void) => void {
  let last = -Infinity;
  let suppressed = 0;
  return (report) => {
    const now = clock();
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
