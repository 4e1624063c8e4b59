/**
 * Settings shared by the broker and its clients, from the `IPC_*` environment
 * variables and the defaults (both in `defaults.ts`). Flags (parsed by the
 * commands) override the environment, which overrides the defaults.
 *
 * @module
 */

import { join } from "node:path";
import { DEFAULT_HOST, type NumericSetting, SETTINGS } from "./defaults.ts";

/** Everything the broker and clients can be told. */
export interface Settings {
  /** Broker address. */
  host: string;
  port: number;
  /** Broker state: SQLite file, secret, large messages, lock. */
  dataDir: string;
  /** Web console port (0: any free port). */
  httpPort: number;
  /** Turn the web console off. */
  noHttp: boolean;
  /** "sqlite" (default) or a `nats://` URL. */
  store: string;
  natsToken?: string;
  natsCreds?: string;
  /** Replicas of the NATS store's streams (1-5); unset: 3 in a cluster of 3 or more, else 1. */
  natsReplicas?: number;
  /** Largest frame payload, bytes. */
  maxFrame: number;
  maxConnections: number;
  /** A connection must complete a started (or its first) frame within this. */
  idleTimeoutMs: number;
  /** Per-recipient queue cap. */
  queueCap: number;
  /** Days delivered messages are kept for history and search. */
  historyDays: number;
  /** Client session file. */
  sessionFile: string;
  /**
   * `IPC_SHARED_SECRET`, or the contents of the file `IPC_SHARED_SECRET_FILE`
   * names, when set: overrides the data-dir secret.
   */
  secret?: string;
  /** `IPC_SHARED_SECRET_FILE`: where `secret` was read from (setup writes this, never the value). */
  secretFile?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  logLevel?: string;
}

/** Reads an environment variable; undefined when unset or not permitted. */
export type EnvReader = (name: string) => string | undefined;

/** Deno's environment, tolerant of a missing `--allow-env`. */
export const denoEnv: EnvReader = (name) => {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
};

/** The user's home directory, or "." when unknown. */
export function homeDir(env: EnvReader = denoEnv): string {
  return env("HOME") ?? env("USERPROFILE") ?? ".";
}

/**
 * The per-user data directory of the OS:
 * Linux `$XDG_DATA_HOME/agent-ipc` or `~/.local/share/agent-ipc`;
 * macOS `~/Library/Application Support/agent-ipc`; Windows `%APPDATA%\agent-ipc`.
 */
export function defaultDataDir(
  env: EnvReader = denoEnv,
  os: typeof Deno.build.os = Deno.build.os,
): string {
  if (os === "windows") {
    const appData = env("APPDATA") ?? join(homeDir(env), "AppData", "Roaming");
    return join(appData, "agent-ipc");
  }
  if (os === "darwin") return join(homeDir(env), "Library", "Application Support", "agent-ipc");
  const xdg = env("XDG_DATA_HOME");
  return join(
    xdg && xdg.startsWith("/") ? xdg : join(homeDir(env), ".local", "share"),
    "agent-ipc",
  );
}

function intFrom(env: EnvReader, setting: NumericSetting): number {
  const { env: name, min, max } = setting;
  const raw = env(name);
  if (raw === undefined || raw === "") return setting.default;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new RangeError(`Invalid ${name} "${raw}": expected a whole number from ${min} to ${max}`);
  }
  return n;
}

/** A replica count (1-5) from a flag or variable; undefined when unset (automatic). */
export function natsReplicasFrom(raw: string | undefined, what: string): number | undefined {
  if (raw === undefined || raw === "" || raw === "auto") return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 5) {
    throw new RangeError(`Invalid ${what} "${raw}": expected a whole number from 1 to 5, or auto`);
  }
  return n;
}

/**
 * The secret in the file `IPC_SHARED_SECRET_FILE` names (trimmed), so a
 * config can point at the secret without holding it. Throws a TypeError when
 * the file cannot be read or is empty: a named secret that is missing must
 * not silently become "no secret".
 */
function secretFromFile(path: string | undefined): string | undefined {
  if (!path) return undefined;
  let text: string;
  try {
    text = Deno.readTextFileSync(path).trim();
  } catch (e) {
    throw new TypeError(
      `Cannot read IPC_SHARED_SECRET_FILE "${path}": ${(e as Error).message}`,
    );
  }
  if (text === "") throw new TypeError(`IPC_SHARED_SECRET_FILE "${path}" is empty`);
  return text;
}

/**
 * The client settings a command line can carry as flags instead of
 * variables (flag without dashes → variable). `setup` writes them into hook
 * commands, which do not get an MCP entry's `env`; the `hook` command reads
 * them back with {@linkcode envWithFlags}.
 */
export const CLIENT_SETTING_FLAGS = {
  host: "IPC_HOST",
  port: "IPC_PORT",
  "data-dir": "IPC_DATA_DIR",
  "tls-ca": "IPC_TLS_CA",
  "secret-file": "IPC_SHARED_SECRET_FILE",
} as const;

/** A flag of {@linkcode CLIENT_SETTING_FLAGS}. */
export type ClientSettingFlag = keyof typeof CLIENT_SETTING_FLAGS;

/**
 * `env` with the variables that the given {@linkcode CLIENT_SETTING_FLAGS}
 * values stand for put over it (a flag wins over the variable).
 *
 * @example
 * ```ts
 * envWithFlags({}, { port: "43876" }); // { IPC_PORT: "43876" }
 * ```
 */
export function envWithFlags(
  env: Readonly<Record<string, string | undefined>>,
  values: Partial<Record<ClientSettingFlag, unknown>>,
): Record<string, string | undefined> {
  const out = { ...env };
  for (const [flag, name] of Object.entries(CLIENT_SETTING_FLAGS)) {
    const value = values[flag as ClientSettingFlag];
    if (typeof value === "string" && value !== "") out[name] = value;
  }
  return out;
}

/** Settings from the environment and defaults. Throws a RangeError on a bad value,
 * a TypeError on an unreadable secret file. */
export function settingsFromEnv(env: EnvReader = denoEnv): Settings {
  return {
    host: env("IPC_HOST") || DEFAULT_HOST,
    port: intFrom(env, SETTINGS.port),
    dataDir: env("IPC_DATA_DIR") || defaultDataDir(env),
    httpPort: intFrom(env, SETTINGS.httpPort),
    noHttp: env("IPC_NO_HTTP") === "1",
    store: env("IPC_STORE") || "sqlite",
    natsToken: env("IPC_NATS_TOKEN") || undefined,
    natsCreds: env("IPC_NATS_CREDS") || undefined,
    natsReplicas: natsReplicasFrom(env("IPC_NATS_REPLICAS"), "IPC_NATS_REPLICAS"),
    maxFrame: intFrom(env, SETTINGS.maxFrame),
    maxConnections: intFrom(env, SETTINGS.maxConnections),
    idleTimeoutMs: intFrom(env, SETTINGS.idleTimeoutMs),
    queueCap: intFrom(env, SETTINGS.queueCap),
    historyDays: intFrom(env, SETTINGS.historyDays),
    sessionFile: env("IPC_SESSION_FILE") || join(homeDir(env), ".ipc-session"),
    secret: env("IPC_SHARED_SECRET") || secretFromFile(env("IPC_SHARED_SECRET_FILE")),
    secretFile: env("IPC_SHARED_SECRET_FILE") || undefined,
    tlsCert: env("IPC_TLS_CERT") || undefined,
    tlsKey: env("IPC_TLS_KEY") || undefined,
    tlsCa: env("IPC_TLS_CA") || undefined,
    logLevel: env("IPC_LOG") || undefined,
  };
}
