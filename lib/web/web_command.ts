/**
 * `agent-ipc web`: asks the running broker (framed `status`) where its web
 * console is, reads the login token from the broker's data dir
 * (`console-token`), prints the login address and opens it in the default
 * browser where there is one. Starts a background broker when none runs.
 *
 * @module
 */

import { usageLine } from "../command_table.ts";
import { parseArgs } from "node:util";
import { join } from "node:path";
import { AgentClient } from "../client/agent_client.ts";
import { type Settings, settingsFromEnv } from "../config.ts";
import { DEFAULT_HOST, SETTINGS } from "../defaults.ts";
import { IpcError } from "../protocol/errors.ts";
import { CONSOLE_TOKEN_FILE, readConsoleToken } from "./console_token.ts";

/** Help text of `web`. */
export const WEB_HELP = `${usageLine("web")}

Prints the web console's address with its login token and opens it in your
default browser (when there is one). The broker serves the console on
http://${DEFAULT_HOST}:${SETTINGS.httpPort.default} (broker --http-port, ${SETTINGS.httpPort.env}; --no-http turns it
off). A broker is started in the background when none is running.

Options:
  --no-open             print the address, do not open a browser
  --host HOST           broker address (default ${DEFAULT_HOST}, IPC_HOST)
  --port PORT           broker port (default ${SETTINGS.port.default}, ${SETTINGS.port.env})
  --data-dir DIR        broker data dir (IPC_DATA_DIR)
  --json                print one JSON document instead of text
  -h, --help            show this help

Example:
  agent-ipc web
`;

/** What `web` may touch of the outside world (a subset of the CLI's io). */
export interface WebCommandIo {
  /** Writes text to standard output as is. */
  stdout: (text: string) => void;
  /** Writes text to standard error as is. */
  stderr: (text: string) => void;
  /** Environment variables (default: the process's). */
  env?: Readonly<Record<string, string | undefined>>;
  /** Opens a URL in a browser; resolves false when none could be started. */
  openUrl?: (url: string) => Promise<boolean>;
}

function defaultIo(): WebCommandIo {
  const enc = new TextEncoder();
  const write = (f: { writeSync(p: Uint8Array): number }, s: string) => {
    const b = enc.encode(s);
    for (let at = 0; at < b.length;) at += f.writeSync(b.subarray(at));
  };
  return {
    stdout: (s) => write(Deno.stdout, s),
    stderr: (s) => {
      try {
        write(Deno.stderr, s);
      } catch { /* stderr closed */ }
    },
  };
}

function processEnv(): Record<string, string> {
  try {
    return Deno.env.toObject();
  } catch {
    return {};
  }
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host.startsWith("127.");
}

/**
 * The command that opens `url` in the default browser on `os`, or null when
 * there is none to use (a Linux machine without a display).
 */
export function browserCommand(
  url: string,
  os: typeof Deno.build.os,
  env: Readonly<Record<string, string | undefined>>,
): { cmd: string; args: string[] } | null {
  if (os === "darwin") return { cmd: "open", args: [url] };
  // Not "cmd /c start": cmd.exe would re-parse the URL; this hands it over untouched.
  if (os === "windows") return { cmd: "rundll32", args: ["url.dll,FileProtocolHandler", url] };
  if (env.WSL_DISTRO_NAME) return { cmd: "wslview", args: [url] };
  if (!env.DISPLAY && !env.WAYLAND_DISPLAY) return null;
  return { cmd: "xdg-open", args: [url] };
}

/** Opens `url` in the default browser; false when none could be started. Never throws. */
export async function openBrowser(
  url: string,
  env: Readonly<Record<string, string | undefined>> = processEnv(),
): Promise<boolean> {
  const c = browserCommand(url, Deno.build.os, env);
  if (!c) return false;
  try {
    const child = new Deno.Command(c.cmd, {
      args: c.args,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const status = await Promise.race([
      child.status,
      new Promise<null>((r) => timer = setTimeout(() => r(null), 3_000)),
    ]);
    clearTimeout(timer);
    if (status === null) {
      child.unref(); // still running (some openers wait for the browser): leave it
      return true;
    }
    return status.success;
  } catch {
    return false;
  }
}

/** The flags of `web`. */
export const WEB_FLAGS = {
  "no-open": { type: "boolean" },
  host: { type: "string" },
  port: { type: "string" },
  "data-dir": { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/** Settings from the environment and the flags; throws a RangeError on a bad value. */
function settingsOf(
  values: { host?: string; port?: string; "data-dir"?: string },
  env: Readonly<Record<string, string | undefined>>,
): Settings {
  const s = settingsFromEnv((name) => env[name]);
  if (values.host) s.host = values.host;
  if (values.port !== undefined) {
    const n = Number(values.port);
    if (values.port.trim() === "" || !Number.isInteger(n) || n < 1 || n > 65535) {
      throw new RangeError(
        `Invalid --port "${values.port}": expected a whole number from 1 to 65535`,
      );
    }
    s.port = n;
  }
  if (values["data-dir"]) s.dataDir = values["data-dir"];
  return s;
}

/** What the broker says about its console: its address and data dir. */
async function askBroker(s: Settings): Promise<{ consoleUrl?: string; dataDir: string }> {
  const client = await AgentClient.connect({
    host: s.host,
    port: s.port,
    dataDir: s.dataDir,
    role: "spawn",
    secret: s.secret,
  });
  try {
    const reply = await client.status();
    const broker = (reply.broker ?? {}) as Record<string, unknown>;
    return {
      consoleUrl: typeof broker.console_url === "string" ? broker.console_url : undefined,
      dataDir: typeof broker.data_dir === "string" ? broker.data_dir : s.dataDir,
    };
  } finally {
    await client.close();
  }
}

/**
 * Runs `web`; returns the exit status (0, 1 failure, 2 usage).
 *
 * @example
 * ```ts
 * const code = await runWebCommand(["--no-open"]);
 * ```
 */
export async function runWebCommand(
  args: string[],
  io: WebCommandIo = defaultIo(),
): Promise<number> {
  const env = io.env ?? processEnv();
  const json = args.includes("--json");
  const fail = (message: string, code: string, status: number): number => {
    io.stderr(
      `agent-ipc web: ${message}\n` +
        (status === 2 ? `Run "agent-ipc web --help" for usage.\n` : ""),
    );
    if (json) io.stdout(JSON.stringify({ ok: false, code, error: message }) + "\n");
    return status;
  };
  let values: {
    "no-open"?: boolean;
    host?: string;
    port?: string;
    "data-dir"?: string;
    help?: boolean;
  };
  let settings: Settings;
  try {
    ({ values } = parseArgs({ args, options: WEB_FLAGS, strict: true, allowPositionals: false }));
    if (values.help) {
      io.stdout(WEB_HELP);
      return 0;
    }
    settings = settingsOf(values, env);
  } catch (e) {
    return fail((e as Error).message, "E_USAGE", 2);
  }
  if (!isLoopback(settings.host)) {
    return fail(
      `The web console is served on the broker's machine only (loopback): run "agent-ipc web" on ${settings.host}`,
      "E_UNAVAILABLE",
      1,
    );
  }
  let info: { consoleUrl?: string; dataDir: string };
  try {
    info = await askBroker(settings);
  } catch (e) {
    return fail((e as Error).message, e instanceof IpcError ? e.code : "E_INTERNAL", 1);
  }
  if (!info.consoleUrl) {
    return fail(
      `The broker on ${settings.host}:${settings.port} serves no web console: it was started with ` +
        `--no-http (IPC_NO_HTTP=1), or its console port was taken (see the broker's log, ` +
        `${
          join(info.dataDir, "broker.log")
        } for a background one). Restart it with a free --http-port`,
      "E_UNAVAILABLE",
      1,
    );
  }
  const token = await readConsoleToken(info.dataDir);
  if (!token) {
    return fail(
      `Cannot read the console's login token "${join(info.dataDir, CONSOLE_TOKEN_FILE)}": ` +
        "run this as the user who runs the broker",
      "E_AUTH",
      1,
    );
  }
  const loginUrl = `${info.consoleUrl}?token=${token}`;
  const opened = values["no-open"]
    ? false
    : await (io.openUrl ?? ((u) => openBrowser(u, env)))(loginUrl);
  if (json) {
    io.stdout(
      JSON.stringify({ ok: true, url: info.consoleUrl, login_url: loginUrl, opened }) + "\n",
    );
  } else {
    io.stdout(loginUrl + "\n");
    if (opened) io.stderr("agent-ipc web: opened in your browser\n");
  }
  return 0;
}
