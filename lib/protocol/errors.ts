/**
 * Stable error codes of the agent-ipc wire protocol and the error class that
 * carries them through the broker, the clients, the CLI and the MCP server.
 *
 * @module
 */

/** Every error code a broker or client can report. Stable: scripts match on them. */
export const ERROR_CODES = [
  "E_BAD_FRAME", // framing broken (length 0, over the cap, truncated): connection closed
  "E_BAD_UTF8", // the payload is not valid UTF-8
  "E_BAD_JSON", // the payload is not JSON
  "E_NOT_OBJECT", // the JSON is not an object
  "E_UNKNOWN_ACTION", // `action` missing or not one we know
  "E_BAD_FIELD", // a field is missing or has the wrong type or form
  "E_BAD_NAME", // an instance name breaks the naming rules
  "E_RESERVED_NAME", // system, all, *, human
  "E_AUTH", // wrong auth_token for the name
  "E_SESSION", // unknown, revoked or missing session token
  "E_NAME_TAKEN", // the name is held by a connected session
  "E_QUEUE_FULL", // recipient queue at its cap
  "E_RATE_LIMITED", // too many attempts (renames, failed auth)
  "E_TOO_LARGE", // a message or request over a limit
  "E_NOT_FOUND", // no such thing (ack of an id that is not queued, etc.)
  "E_AMBIGUOUS", // a short message id matches several messages: use the full id
  "E_TIMEOUT", // the client gave up waiting (ask without a reply in time)
  "E_BUSY", // too many connections or waiters
  "E_LIMIT", // too many blocked waits pending for this session or process: retry when one answers
  "E_SHUTTING_DOWN", // the broker is stopping
  "E_UNAVAILABLE", // no broker could be reached or started
  "E_STORE", // the store failed (disk full, corrupt data dir)
  "E_INTERNAL", // a bug: reported, logged, never fatal
  "E_CLAIMED", // a file claim conflicts with another agent's claim
  "E_PATH_ESCAPE", // a claim path leaves the repository root (or is not normalised)
  "E_NOT_RESPONDING", // a broker holds the port and accepted, but does not answer (stopped?)
] as const;

/** One stable error code. */
export type ErrorCode = typeof ERROR_CODES[number];

/**
 * An error with a stable {@linkcode ErrorCode}. Thrown by broker handlers and
 * clients; turned into `{status:"error", code, message}` on the wire.
 *
 * @example
 * ```ts
 * throw new IpcError("E_QUEUE_FULL", `Queue of "fred" is full (10000 messages)`);
 * ```
 */
export class IpcError extends Error {
  /** The stable code. */
  readonly code: ErrorCode;
  /** Extra fields to include in the error reply (e.g. `missed` for broadcast). */
  readonly details?: Record<string, unknown>;

  constructor(
    code: ErrorCode,
    message: string,
    details?: Record<string, unknown>,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "IpcError";
    this.code = code;
    this.details = details;
  }
}

/** True when `value` is one of the {@linkcode ERROR_CODES}. */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === "string" && (ERROR_CODES as readonly string[]).includes(value);
}
