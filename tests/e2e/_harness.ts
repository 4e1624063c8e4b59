/**
 * The e2e tests' world: the real assistant CLIs at pinned versions
 * (installed from npm into a cache dir on first use), a temporary HOME with a
 * broker of its own on a free loopback port, the agent-ipc CLI run as a
 * process, headless assistant runs and interactive ones in a pseudo-terminal.
 *
 * Every process gets an explicit environment (`clearEnv`): HOME, PATH, the
 * broker port, the assistant's API base URL pointing at a fake model on
 * 127.0.0.1, and each assistant's documented switches for telemetry, update
 * checks and other traffic turned off.
 *
 * @module
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { PERMISSION_FLAGS } from "../../lib/permissions.ts";
import { freePort } from "../_helpers.ts";

/** The assistants, their npm packages and the versions the tests pin. */
export const PINNED = {
  claude: { pkg: "@anthropic-ai/claude-code", version: "2.1.328" },
  codex: { pkg: "@openai/codex", version: "0.171.0" },
  gemini: { pkg: "@google/gemini-cli", version: "0.61.0" },
} as const;

/** One of the pinned assistants. */
export type CliId = keyof typeof PINNED;

/**
 * Absolute path of the program's entry: this checkout's, or another one's named by
 * `AGENT_IPC_E2E_MAIN` (to run these tests against a branch checked out elsewhere).
 */
export const MAIN = Deno.env.get("AGENT_IPC_E2E_MAIN") ||
  fileURLToPath(new URL("../../main.ts", import.meta.url));
const PTY = fileURLToPath(new URL("./_pty.py", import.meta.url));

const dec = new TextDecoder();

/** Where the CLIs are installed: `$AGENT_IPC_E2E_CACHE`, else `~/.cache/agent-ipc-e2e`. */
export function cacheRoot(): string {
  const own = Deno.env.get("AGENT_IPC_E2E_CACHE");
  if (own) return own;
  const base = Deno.env.get("XDG_CACHE_HOME") || join(Deno.env.get("HOME") ?? "/tmp", ".cache");
  return join(base, "agent-ipc-e2e");
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

function binaryOf(id: CliId, dir: string): string[] {
  const nm = join(dir, "node_modules");
  if (id === "claude") {
    // The native binary itself (the wrapper's bin is a copy made by a postinstall
    // script that npm may skip).
    const arch = Deno.build.arch === "aarch64" ? "arm64" : "x64";
    return [
      join(nm, `@anthropic-ai/claude-code-linux-${arch}`, "claude"),
      join(nm, ".bin", "claude"),
    ];
  }
  return [join(nm, ".bin", id)];
}

/** The path of a pinned assistant CLI if it is installed already (never installs it). */
export async function installedCli(id: CliId): Promise<string | undefined> {
  const dir = join(cacheRoot(), `${id}@${PINNED[id].version}`);
  for (const bin of binaryOf(id, dir)) if (await exists(bin)) return bin;
  return undefined;
}

const installing = new Map<CliId, Promise<string>>();

/**
 * The path of a pinned assistant CLI, installing it with npm into
 * {@linkcode cacheRoot} when missing (a few seconds to a minute, once).
 */
export function ensureCli(id: CliId): Promise<string> {
  let p = installing.get(id);
  if (!p) {
    p = install(id);
    installing.set(id, p);
  }
  return p;
}

async function install(id: CliId): Promise<string> {
  const { pkg, version } = PINNED[id];
  const dir = join(cacheRoot(), `${id}@${version}`);
  for (const bin of binaryOf(id, dir)) if (await exists(bin)) return bin;
  await Deno.mkdir(dir, { recursive: true });
  const out = await new Deno.Command("npm", {
    args: [
      "install",
      "--prefix",
      dir,
      "--no-audit",
      "--no-fund",
      "--loglevel=error",
      `${pkg}@${version}`,
    ],
    env: { npm_config_update_notifier: "false" },
    stdin: "null",
  }).output();
  if (!out.success) {
    throw new Error(`Cannot install "${pkg}@${version}": ${dec.decode(out.stderr).slice(-2000)}`);
  }
  for (const bin of binaryOf(id, dir)) if (await exists(bin)) return bin;
  throw new Error(`Installed "${pkg}@${version}" but found no executable in "${dir}"`);
}

let denoDirCache: string | undefined;

/** Deno's cache dir (where the program's npm dependencies are), from `deno info`. */
async function realDenoDir(): Promise<string> {
  if (denoDirCache) return denoDirCache;
  const out = await new Deno.Command(Deno.execPath(), { args: ["info", "--json"] }).output();
  denoDirCache = JSON.parse(dec.decode(out.stdout)).denoDir as string;
  return denoDirCache;
}

/** Turns off telemetry, update checks and other non-essential traffic of all three CLIs. */
export const QUIET_ENV: Readonly<Record<string, string>> = {
  // Claude Code: one switch covers telemetry, auto-update, error reports, release notes.
  CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
  DISABLE_AUTOUPDATER: "1",
  DISABLE_TELEMETRY: "1",
  DISABLE_ERROR_REPORTING: "1",
  // Interactive Claude Code clones its official plugin marketplace from GitHub at start.
  CLAUDE_CODE_DISABLE_OFFICIAL_MARKETPLACE_AUTOINSTALL: "1",
  // Gemini CLI; its update check and usage statistics are off in settings.json (preseed).
  GEMINI_TELEMETRY_ENABLED: "false",
  // Codex has no env switch: config.toml turns off the update check and analytics (preseed).
};

/** The API key the CLIs present to the fake models. */
export const FAKE_KEY = "sk-ant-e2e-fake-key-0123456789abcdef";

/** What a finished process printed and returned. */
export interface Output {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs a process with a time limit (killed with its group on expiry). */
export async function run(
  cmd: string,
  args: string[],
  opts: { env: Record<string, string>; cwd?: string; stdin?: string; timeoutMs: number },
): Promise<Output> {
  const t0 = Date.now();
  const child = new Deno.Command(cmd, {
    args,
    env: opts.env,
    clearEnv: true,
    cwd: opts.cwd,
    stdin: opts.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (opts.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(opts.stdin));
    await w.close();
  }
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  }, opts.timeoutMs);
  const out = await child.output();
  clearTimeout(timer);
  return {
    code: out.code,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
    ms: Date.now() - t0,
  };
}

/** Waits until `check` returns a value (not undefined), polling; rejects after `timeoutMs`. */
export async function until<T>(
  what: string,
  check: () => T | undefined | Promise<T | undefined>,
  timeoutMs: number,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * A temporary HOME with its own broker: the place one e2e test runs in.
 * Only `agent-ipc setup` writes agent-ipc's config into it; `preseed*`
 * writes what a user who finished each CLI's onboarding would have.
 */
export class World implements AsyncDisposable {
  readonly home: string;
  readonly port: number;
  readonly #denoDir: string;
  readonly #broker: Deno.ChildProcess;
  readonly #children = new Set<{ kill(): void; done: Promise<unknown> }>();
  /** Variables every process of this world gets (e.g. `IPC_STORE`: a host of a shared NATS). */
  readonly #extraEnv: Record<string, string>;

  private constructor(
    home: string,
    port: number,
    denoDir: string,
    broker: Deno.ChildProcess,
    extraEnv: Record<string, string>,
  ) {
    this.home = home;
    this.port = port;
    this.#denoDir = denoDir;
    this.#broker = broker;
    this.#extraEnv = extraEnv;
  }

  /**
   * Creates the HOME and starts its broker. `env` goes to the broker and to
   * every process of the world: two worlds with one `IPC_STORE` are two
   * hosts sharing a NATS registry.
   */
  static async create(options: { env?: Record<string, string> } = {}): Promise<World> {
    const extraEnv = options.env ?? {};
    const home = await Deno.makeTempDir({ prefix: "ipc-e2e-" });
    const denoDir = await realDenoDir();
    // The assistants start `deno run … main.ts mcp` with HOME set to this dir, and
    // Codex passes no DENO_DIR: let Deno find its cache where it would look.
    await Deno.mkdir(join(home, ".cache"), { recursive: true });
    await Deno.symlink(denoDir, join(home, ".cache", "deno"));
    const port = freePort();
    const dataDir = join(home, ".local", "share", "agent-ipc");
    const broker = new Deno.Command(Deno.execPath(), {
      args: ["run", ...PERMISSION_FLAGS, MAIN, "broker", "--port", String(port), "--no-http"],
      env: {
        HOME: home,
        PATH: Deno.env.get("PATH") ?? "",
        IPC_DATA_DIR: dataDir,
        IPC_LOG: "warn",
        DENO_DIR: denoDir,
        ...extraEnv,
      },
      clearEnv: true,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    await until(
      "the broker to accept connections",
      async () => {
        try {
          (await Deno.connect({ hostname: "127.0.0.1", port })).close();
          return true;
        } catch {
          return undefined;
        }
      },
      15_000,
      50,
    );
    return new World(home, port, denoDir, broker, extraEnv);
  }

  /** The environment of every process in this world, plus `extra`. */
  env(extra: Record<string, string> = {}): Record<string, string> {
    return {
      HOME: this.home,
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      LANG: "C.UTF-8",
      TERM: "xterm-256color",
      DENO_DIR: this.#denoDir,
      DENO_NO_UPDATE_CHECK: "1",
      NO_COLOR: "1",
      IPC_PORT: String(this.port),
      IPC_NO_HTTP: "1",
      ...QUIET_ENV,
      ...this.#extraEnv,
      ...extra,
    };
  }

  /** Runs the agent-ipc CLI (as agent `as`, with its own session file, when given). */
  ipc(
    args: string[],
    opts: { as?: string; timeoutMs?: number; stdin?: string } = {},
  ): Promise<Output> {
    const extra: Record<string, string> = {};
    if (opts.as) extra.IPC_SESSION_FILE = join(this.home, `.ipc-session-${opts.as}`);
    return run(Deno.execPath(), ["run", ...PERMISSION_FLAGS, MAIN, ...args], {
      env: this.env(extra),
      cwd: this.home,
      stdin: opts.stdin,
      timeoutMs: opts.timeoutMs ?? 30_000,
    });
  }

  /** Runs the agent-ipc CLI and fails the test unless it exits 0. */
  async ipcOk(args: string[], opts: { as?: string; timeoutMs?: number } = {}): Promise<string> {
    const r = await this.ipc(args, opts);
    if (r.code !== 0) {
      throw new Error(`agent-ipc ${args.join(" ")} exited ${r.code}: ${r.stdout}${r.stderr}`);
    }
    return r.stdout;
  }

  /** Writes a file under HOME (creating directories). */
  async write(rel: string, text: string): Promise<string> {
    const path = join(this.home, rel);
    await Deno.mkdir(join(path, ".."), { recursive: true });
    await Deno.writeTextFile(path, text);
    return path;
  }

  /** Reads a file under HOME. */
  read(rel: string): Promise<string> {
    return Deno.readTextFile(join(this.home, rel));
  }

  /** Tracks a process so dispose kills it. */
  track(p: { kill(): void; done: Promise<unknown> }): void {
    this.#children.add(p);
    p.done.finally(() => this.#children.delete(p));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    for (const c of [...this.#children]) {
      c.kill();
      await c.done.catch(() => {});
    }
    try {
      this.#broker.kill("SIGTERM");
    } catch { /* gone */ }
    await this.#broker.status;
    if (!Deno.env.get("AGENT_IPC_E2E_KEEP")) {
      await Deno.remove(this.home, { recursive: true }).catch(() => {});
    }
  }
}

/** Strips terminal escape sequences from pseudo-terminal output. */
export function plain(text: string): string {
  return text
    // deno-lint-ignore no-control-regex
    .replace(/\x1b\[[0-9;?<>=]*[ -/]*[@-~]/g, " ")
    // deno-lint-ignore no-control-regex
    .replace(/\x1b\][^\x07\x1b]*(\x07|\x1b\\)/g, "")
    // deno-lint-ignore no-control-regex
    .replace(/\x1b[()][0-9A-Za-z]|\x1b[=>78MDEHc]/g, "");
}

/** An interactive program in a pseudo-terminal (python3's pty module). */
export class PtySession implements AsyncDisposable {
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  #raw = "";
  readonly done: Promise<Deno.CommandStatus>;
  readonly #reading: Promise<void>;

  constructor(cmd: string, args: string[], opts: { env: Record<string, string>; cwd: string }) {
    this.#child = new Deno.Command("python3", {
      args: [PTY, "120", "40", cmd, ...args],
      env: opts.env,
      clearEnv: true,
      cwd: opts.cwd,
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#writer = this.#child.stdin.getWriter();
    const stdout = this.#child.stdout;
    this.#reading = (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of stdout) this.#raw += decoder.decode(chunk, { stream: true });
    })();
    this.done = this.#child.status;
  }

  /** Everything shown so far, escape sequences removed. */
  get screen(): string {
    return plain(this.#raw);
  }

  /** Types text into the terminal. */
  async type(text: string): Promise<void> {
    await this.#writer.write(new TextEncoder().encode(text));
  }

  /** Waits until the screen shows `pattern`. */
  waitFor(pattern: RegExp | string, timeoutMs: number): Promise<true> {
    return until(
      `the terminal to show ${pattern}`,
      () =>
        (typeof pattern === "string" ? this.screen.includes(pattern) : pattern.test(this.screen)) ||
        undefined,
      timeoutMs,
    ).catch((e) => {
      throw new Error(
        `${e.message}\n--- screen (last 1500 chars) ---\n${this.screen.slice(-1500)}`,
      );
    });
  }

  /** Ends the program: closing the terminal sends it SIGHUP, then SIGKILL. */
  kill(): void {
    this.#writer.close().catch(() => {});
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.kill();
    await this.done;
    await this.#reading.catch(() => {});
  }
}
