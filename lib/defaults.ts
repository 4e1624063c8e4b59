/**
 * One table of defaults: the ports, limits, timeouts and TTLs of agent-ipc,
 * each defined once. Settings ({@linkcode SETTINGS}) carry their accepted
 * range, environment variable and flag, so `config.ts` (environment), the
 * flag parsers, the help texts, framing, the broker and the docs check all
 * read the same numbers. Fixed values follow in {@linkcode LIMITS},
 * {@linkcode TIMEOUTS} and {@linkcode TTLS}. The lowest layer: imports nothing.
 *
 * @module
 */

/** A numeric setting: its default, the accepted range, its environment variable and flag. */
export interface NumericSetting {
  readonly default: number;
  readonly min: number;
  readonly max: number;
  /** `IPC_*` variable that sets it. */
  readonly env: string;
  /** `--flag` (without dashes) that sets it. */
  readonly flag: string;
}

const KiB = 1024;
const MiB = 1024 * 1024;
const SECOND = 1_000;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/**
 * The numeric settings (flag, then `IPC_*` variable, then this default).
 *
 * @example
 * ```ts
 * `--port PORT  broker port (default ${SETTINGS.port.default}, ${SETTINGS.port.env})`;
 * ```
 */
export const SETTINGS = {
  /** The broker's port. */
  port: { default: 9876, min: 0, max: 65535, env: "IPC_PORT", flag: "port" },
  /** The web console's port. */
  httpPort: { default: 9877, min: 0, max: 65535, env: "IPC_HTTP_PORT", flag: "http-port" },
  /** Largest frame payload (a request), bytes. */
  maxFrame: { default: MiB, min: KiB, max: 64 * MiB, env: "IPC_MAX_FRAME", flag: "max-frame" },
  /** Connections the broker keeps open at once. */
  maxConnections: {
    default: 4096,
    min: 1,
    max: 1_000_000,
    env: "IPC_MAX_CONNECTIONS",
    flag: "max-connections",
  },
  /** Time to complete a started (or the first) frame. */
  idleTimeoutMs: {
    default: 10 * SECOND,
    min: 100,
    max: HOUR,
    env: "IPC_IDLE_TIMEOUT_MS",
    flag: "idle-timeout-ms",
  },
  /** Messages per recipient queue. */
  queueCap: { default: 10_000, min: 1, max: 10_000_000, env: "IPC_QUEUE_CAP", flag: "queue-cap" },
  /** Days delivered messages are kept for history and search. */
  historyDays: { default: 30, min: 0, max: 3650, env: "IPC_HISTORY_DAYS", flag: "history-days" },
} as const satisfies Record<string, NumericSetting>;

/** The broker's default address (loopback). */
export const DEFAULT_HOST = "127.0.0.1";

/**
 * Fixed limits.
 *
 * @example
 * ```ts
 * if (bytes > LIMITS.largeMessageBytes) await writeLargeMessage(dataDir, msg);
 * ```
 */
export const LIMITS = {
  /** Content longer than this many UTF-8 bytes is saved as a file (a large message). */
  largeMessageBytes: 10 * KiB,
  /** Longest `wait` a client may ask for. */
  maxWaitMs: 300 * SECOND,
  /** A `wait` without `timeout_ms`. */
  defaultWaitMs: 30 * SECOND,
  /** Replies a connection may have unwritten before the broker stops reading its requests. */
  maxPendingWriteBytes: 4 * MiB,
  /** Requests of one connection in the works before the broker stops reading it. */
  maxInflightRequests: 1024,
  /** Blocked `wait`/`wait_reply` requests one session may have pending at once (then E_LIMIT). */
  maxWaitsPerSession: 256,
  /** Blocked `wait`/`wait_reply` requests one peer (process) may have pending at once, all its sessions together. */
  maxWaitsPerPeer: 1024,
  /** Messages one `check` returns by default. */
  defaultCheckLimit: 100,
  /** Paths (or globs) in one claim, release or claims request. */
  maxClaimPaths: 100,
  /** Longest claim path, characters. */
  maxClaimPathChars: 512,
  /** Longest claim reason, characters. */
  maxClaimReason: 200,
  /** Largest frame a connection may send before it has registered or shown a session. */
  preAuthMaxFrameBytes: 64 * KiB,
  /** Bytes of unfinished requests buffered for all connections without a session, together. */
  preAuthBufferBytes: 16 * MiB,
  /** Failed registrations or session tokens one connection may make, ever. */
  authFailuresPerConnection: 20,
  /** Failed registrations one peer (process) may make per second. */
  authFailuresPerPeer: 10,
  /** Failures per second broker-wide from which a registration's peer is found before it is judged. */
  authFailuresHot: 50,
  /**
   * Once half the connection slots are taken, one peer (process) may hold at
   * most this share of them (1/4 of `maxConnections`).
   */
  peerConnectionShare: 4,
  /** Nesting depth of a message's `data`. */
  maxDataDepth: 32,
  /** Connections the web console keeps open at once. */
  consoleMaxConnections: 128,
} as const;

/**
 * Fixed timeouts.
 *
 * @example
 * ```ts
 * const deadline = Date.now() + (options.timeoutMs ?? TIMEOUTS.electionMs);
 * ```
 */
export const TIMEOUTS = {
  /** A reply write that makes no progress for this long closes the connection. */
  writeMs: 30 * SECOND,
  /** How long the election tries to reach or start a broker. */
  electionMs: 10 * SECOND,
  /** How long a connect waits for the broker's answer to `ping` (then: not responding). */
  pingMs: 2 * SECOND,
  /** On shutdown, in-flight requests get this long to answer. */
  shutdownGraceMs: 2 * SECOND,
  /** A claim to start the background broker stands this long. */
  spawnClaimMs: 5 * SECOND,
  /** A NATS request (the NATS store). */
  natsRequestMs: 5 * SECOND,
  /**
   * A client with requests in flight that has heard nothing from its broker
   * for this long sends it a `ping`; no answer within half as long again and
   * the broker is reported not responding.
   */
  brokerQuietMs: 2 * SECOND,
  /** The least time between two scans of /proc for who is on the other end of connections. */
  peerScanMs: 200,
  /** The web console: time to send a request's head, from the connection's start or the last reply. */
  consoleHeaderMs: 10 * SECOND,
  /** The web console: a connection with no bytes either way for this long is closed (SSE pings every 20 s). */
  consoleIdleMs: 60 * SECOND,
  /** After a failed accept (out of file descriptors), the first wait; it doubles up to 1 s. */
  acceptBackoffMs: 10,
} as const;

/**
 * Fixed times to live and periods.
 *
 * @example
 * ```ts
 * await store.rename(name, to, now, now + TTLS.forwardMs);
 * ```
 */
export const TTLS = {
  /** The least time between two renames of one instance. */
  renameCooldownMs: HOUR,
  /** How long an old name forwards to the new one. */
  forwardMs: 2 * HOUR,
  /** How long a queue with no live session is kept. */
  unclaimedQueueMs: 7 * DAY,
  /** How long a send's client_id is remembered (exactly-once across retries). */
  dedupeMs: DAY,
  /** A file claim without `ttl_ms`. */
  claimDefaultMs: 30 * 60 * SECOND,
  /** Longest file claim lease (claiming again renews). */
  claimMaxMs: DAY,
  /** How often the broker purges expired queues, forwards and history. */
  purgeIntervalMs: HOUR,
} as const;

/**
 * Time limits of `agent-ipc hook` (it runs on the assistant's hot path: the
 * attention hooks end within `attentionMs` whatever happens).
 *
 * @example
 * ```ts
 * const text = await readStdin(HOOK_TIMEOUTS.stdinMs);
 * ```
 */
export const HOOK_TIMEOUTS = {
  /** How long a hook waits for the assistant's JSON on stdin. */
  stdinMs: SECOND,
  /** How long a hook waits for the broker to answer its connect. */
  connectMs: 1_500,
  /** A prompt or tool hook ends within this, whatever happens. */
  attentionMs: 4 * SECOND,
  /** The start hook (it may first wait for its session to be recorded). */
  startMs: 7 * SECOND,
  /** A wake hook waits this long at most (Claude Code's hook timeout is an hour). */
  wakeMs: 55 * 60 * SECOND,
  /** How often a waiting hook looks whether its session got busy again. */
  pollMs: 3 * SECOND,
  /** A wake hook lets the attention hooks of the same moment go first. */
  graceMs: SECOND,
  /** How long a start hook waits for its MCP server to record the session. */
  recordWaitStartMs: 3 * SECOND,
  /** How long a wake or watch hook waits for it. */
  recordWaitWakeMs: 60 * SECOND,
  /** How often a hook that waits for its session record looks again. */
  recordPollMs: 100,
} as const;
