/**
 * The settings `setup` remembers: every non-default broker or client setting
 * it was run with (its flags over the `IPC_*` variables of its shell) goes
 * into each MCP entry's `env` and, for the ones a hook needs, into each hook
 * command as flags. An assistant started from a desktop launcher does not
 * have the shell's variables; without this it would look on the default
 * port, host a broker of its own and never meet the others.
 *
 * Secrets are written only by reference: `IPC_SHARED_SECRET_FILE` (the path),
 * never `IPC_SHARED_SECRET` or a NATS token; those give a warning instead.
 *
 * @module
 */

import { posix, win32 } from "node:path";
import { CLIENT_SETTING_FLAGS, type ClientSettingFlag, defaultDataDir } from "../config.ts";
import { DEFAULT_HOST, SETTINGS } from "../defaults.ts";

/** One setting as remembered. */
export interface RememberedSetting {
  /** The `IPC_*` variable an MCP entry's `env` carries it in. */
  env: string;
  value: string;
  /** The hook flag that carries it, for the settings a hook needs. */
  hookFlag?: ClientSettingFlag;
}

/** What setup remembers, and what it would not write. */
export interface RememberedSettings {
  settings: RememberedSetting[];
  /** Settings that were set but are not written (secrets by value). */
  warnings: string[];
}

interface SettingSpec {
  env: string;
  /** The setup flag (without dashes) that sets it, if any. */
  flag?: string;
  kind: "path" | "text" | "flag";
  /** The value that means "not set" (not written). */
  isDefault?: (value: string, env: Readonly<Record<string, string | undefined>>) => boolean;
}

const numeric = (s: { default: number; env: string; min: number; max: number }): SettingSpec => ({
  env: s.env,
  kind: "text",
  isDefault: (v) => {
    const n = Number(v);
    if (v.trim() === "" || !Number.isInteger(n) || n < s.min || n > s.max) {
      throw new RangeError(
        `Invalid ${s.env} "${v}": expected a whole number from ${s.min} to ${s.max}`,
      );
    }
    return n === s.default;
  },
});

/** Everything setup remembers, in the order it writes and shows them. */
const SPECS: SettingSpec[] = [
  { env: "IPC_HOST", flag: "host", kind: "text", isDefault: (v) => v === DEFAULT_HOST },
  { ...numeric(SETTINGS.port), flag: "port" },
  {
    env: "IPC_DATA_DIR",
    flag: "data-dir",
    kind: "path",
    isDefault: (v, env) => v === defaultDataDir((n) => env[n]),
  },
  { env: "IPC_STORE", flag: "store", kind: "text", isDefault: (v) => v === "sqlite" },
  { env: "IPC_NATS_CREDS", flag: "nats-creds", kind: "path" },
  { env: "IPC_NATS_REPLICAS", kind: "text", isDefault: (v) => v === "auto" },
  { env: "IPC_TLS_CERT", flag: "tls-cert", kind: "path" },
  { env: "IPC_TLS_KEY", flag: "tls-key", kind: "path" },
  { env: "IPC_TLS_CA", flag: "tls-ca", kind: "path" },
  { env: "IPC_SHARED_SECRET_FILE", flag: "secret-file", kind: "path" },
  { ...numeric(SETTINGS.httpPort), flag: "http-port" },
  { env: "IPC_NO_HTTP", kind: "flag", isDefault: (v) => v !== "1" },
  numeric(SETTINGS.maxFrame),
  numeric(SETTINGS.maxConnections),
  numeric(SETTINGS.idleTimeoutMs),
  numeric(SETTINGS.queueCap),
  numeric(SETTINGS.historyDays),
];

/** The `IPC_*` variables setup owns in an entry's `env` (a rerun without one takes it out). */
export const REMEMBERED_ENV: readonly string[] = SPECS.map((s) => s.env);

/** The setup flags (without dashes) that set a remembered setting, for `parseArgs`. */
export const SETTING_FLAGS = Object.fromEntries(
  SPECS.filter((s) => s.flag !== undefined).map((s) => [s.flag!, { type: "string" as const }]),
) as Record<string, { type: "string" }>;

/** Help lines of {@linkcode SETTING_FLAGS}. */
export const SETTING_FLAGS_HELP =
  `Settings written into every entry and hook (flag, else the variable):
  --port PORT  --host HOST  --data-dir DIR  --store URL  --nats-creds FILE
  --tls-cert FILE  --tls-key FILE  --tls-ca FILE  --http-port PORT
  --secret-file FILE   the shared secret by reference (IPC_SHARED_SECRET_FILE);
                       IPC_SHARED_SECRET's value is never written
  Also remembered from the environment: IPC_NATS_REPLICAS, IPC_NO_HTTP, IPC_MAX_FRAME,
  IPC_MAX_CONNECTIONS, IPC_IDLE_TIMEOUT_MS, IPC_QUEUE_CAP, IPC_HISTORY_DAYS.`;

const HOOK_FLAG_OF: Record<string, ClientSettingFlag> = Object.fromEntries(
  Object.entries(CLIENT_SETTING_FLAGS).map(([flag, env]) => [env, flag as ClientSettingFlag]),
);

/**
 * The non-default settings of a setup run: its flags over `env`. Paths are
 * made absolute against `cwd` (an assistant starts the server elsewhere).
 * Throws a RangeError on a number out of its setting's range.
 *
 * @example
 * ```ts
 * rememberedSettings({ IPC_PORT: "43876" }, {}, "/home/me", "linux").settings;
 * // [{ env: "IPC_PORT", value: "43876", hookFlag: "port" }]
 * ```
 */
export function rememberedSettings(
  env: Readonly<Record<string, string | undefined>>,
  flags: Readonly<Record<string, unknown>>,
  cwd: string,
  os: typeof Deno.build.os,
): RememberedSettings {
  const path = os === "windows" ? win32 : posix;
  const settings: RememberedSetting[] = [];
  for (const spec of SPECS) {
    const fromFlag = spec.flag !== undefined ? flags[spec.flag] : undefined;
    let value = typeof fromFlag === "string" && fromFlag !== "" ? fromFlag : env[spec.env];
    if (value === undefined || value === "") continue;
    if (spec.kind === "path") value = path.resolve(cwd, value);
    if (spec.isDefault?.(value, env)) continue;
    settings.push({ env: spec.env, value, hookFlag: HOOK_FLAG_OF[spec.env] });
  }
  const warnings: string[] = [];
  if (env.IPC_SHARED_SECRET && !settings.some((s) => s.env === "IPC_SHARED_SECRET_FILE")) {
    warnings.push(
      "IPC_SHARED_SECRET is set in this shell, but setup never writes a secret into a config: " +
        "an assistant started elsewhere uses <data dir>/secret instead. To share this one, " +
        "put it in a file only you can read and run setup with --secret-file FILE",
    );
  }
  if (env.IPC_NATS_TOKEN) {
    warnings.push(
      "IPC_NATS_TOKEN is set, but setup never writes a token into a config: " +
        "use a credentials file (--nats-creds FILE) for assistants started elsewhere",
    );
  }
  return { settings, warnings };
}

/** The `env` entries of the remembered settings. */
export function settingsEnv(remembered: RememberedSettings): Record<string, string> {
  return Object.fromEntries(remembered.settings.map((s) => [s.env, s.value]));
}

/** The flags a hook command carries (`--port 43876 --data-dir DIR` ...). */
export function hookSettingsArgs(remembered: RememberedSettings): string[] {
  return remembered.settings.flatMap((s) => s.hookFlag ? [`--${s.hookFlag}`, s.value] : []);
}
