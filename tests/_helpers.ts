/**
 * Test helpers shared by broker, client and CLI tests: an in-process broker on
 * a free port in a temp data dir, and a raw socket client that speaks frames
 * or legacy JSON byte for byte.
 *
 * @module
 */

import { authToken } from "../lib/protocol/auth.ts";
import { AgentClient } from "../lib/client/agent_client.ts";
import { type BrokerAndConsole, hostBroker, type HostOptions } from "../lib/app/host_broker.ts";
import { waitFor } from "./_wait.ts";
import { encodeFrame, FrameDecoder } from "../lib/protocol/framing.ts";
import { type JsonLogRecord, parseJsonLines } from "../lib/log.ts";

/** A broker for one test, with its temp dir removed on dispose. */
export interface TestBroker extends AsyncDisposable {
  broker: BrokerAndConsole;
  port: number;
  dataDir: string;
  secret: string;
  /** The auth token of `name` under this broker's secret. */
  auth(name: string): string;
}

/** Starts an in-process broker (with a console when `options.console`) on port 0 in a fresh temp dir. */
export async function testBroker(options: Partial<HostOptions> = {}): Promise<TestBroker> {
  const dataDir = options.dataDir ?? await Deno.makeTempDir({ prefix: "ipc-test-" });
  const broker = await hostBroker({ host: "127.0.0.1", port: 0, dataDir, ...options });
  return {
    broker,
    port: broker.port,
    dataDir,
    secret: broker.dataDir.secret,
    auth: (name) => authToken(name, broker.dataDir.secret),
    async [Symbol.asyncDispose]() {
      await broker.close();
      if (!options.dataDir) await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    },
  };
}

/** A client of the broker `b` (never hosting one), registered as `name`. */
export async function registeredClient(
  b: { port: number; dataDir: string; secret?: string },
  name: string,
): Promise<AgentClient> {
  const c = await AgentClient.connect({
    host: "127.0.0.1",
    port: b.port,
    dataDir: b.dataDir,
    role: "none",
    secret: b.secret,
  });
  try {
    await c.register(name);
    return c;
  } catch (e) {
    await c.close();
    throw e;
  }
}

const dec = new TextDecoder();
const enc = new TextEncoder();

/** A raw TCP client for protocol tests. */
export class RawClient implements AsyncDisposable {
  readonly conn: Deno.TcpConn;
  readonly #frames = new FrameDecoder(64 * 1024 * 1024);
  #queue: Record<string, unknown>[] = [];
  readonly #buf = new Uint8Array(65536);

  private constructor(conn: Deno.TcpConn) {
    this.conn = conn;
  }

  static async connect(port: number): Promise<RawClient> {
    return new RawClient(await Deno.connect({ hostname: "127.0.0.1", port }));
  }

  /** Writes raw bytes. */
  async write(bytes: Uint8Array | string): Promise<void> {
    const data = typeof bytes === "string" ? enc.encode(bytes) : bytes;
    let at = 0;
    while (at < data.length) at += await this.conn.write(data.subarray(at));
  }

  /** Sends one framed request. */
  send(obj: unknown): Promise<void> {
    return this.write(encodeFrame(obj));
  }

  /** Reads the next framed reply; null when the broker closed the connection. */
  async next(timeoutMs = 5000): Promise<Record<string, unknown> | null> {
    const timer = setTimeout(() => this.conn.close(), timeoutMs);
    try {
      while (this.#queue.length === 0) {
        let n: number | null;
        try {
          n = await this.conn.read(this.#buf);
        } catch {
          n = null;
        }
        if (n === null) return null;
        for (const ev of this.#frames.push(this.#buf.subarray(0, n))) {
          if (ev.kind === "frame") this.#queue.push(JSON.parse(dec.decode(ev.payload)));
        }
      }
      return this.#queue.shift()!;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Sends a request and returns its reply. */
  async request(obj: Record<string, unknown>): Promise<Record<string, unknown>> {
    await this.send(obj);
    const r = await this.next();
    if (r === null) throw new Error("connection closed");
    return r;
  }

  /** Reads everything until the broker closes (legacy replies). */
  async readToEnd(timeoutMs = 5000): Promise<string> {
    const timer = setTimeout(() => this.conn.close(), timeoutMs);
    const parts: Uint8Array[] = [];
    try {
      for (;;) {
        let n: number | null;
        try {
          n = await this.conn.read(this.#buf);
        } catch {
          break;
        }
        if (n === null) break;
        parts.push(this.#buf.slice(0, n));
      }
    } finally {
      clearTimeout(timer);
    }
    const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      all.set(p, at);
      at += p.length;
    }
    return dec.decode(all);
  }

  /** True when the broker closes the connection within `timeoutMs`. */
  async closedWithin(timeoutMs: number): Promise<boolean> {
    const t0 = Date.now();
    try {
      const r = await this.next(timeoutMs);
      if (r !== null) return false;
    } catch {
      return false;
    }
    return Date.now() - t0 < timeoutMs;
  }

  close(): void {
    try {
      this.conn.close();
    } catch { /* closed */ }
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }
}

/** One legacy request: one write, no newline, no half-close; the whole reply. */
export async function legacyRequest(
  port: number,
  obj: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  await using c = await RawClient.connect(port);
  await c.write(JSON.stringify(obj));
  return JSON.parse(await c.readToEnd());
}

/** A free TCP port on loopback (bind port 0, read it, release it). */
/**
 * The MCP `initialize` request a raw stdio client sends first (id 1 unless
 * told), named `client`: one place for the protocol version the tests and
 * the bench speak.
 */
export function mcpInitialize(client: string, id = 1): Record<string, unknown> {
  return {
    jsonrpc: "2.0",
    id,
    method: "initialize",
    params: {
      protocolVersion: "2025-06-18",
      capabilities: {},
      clientInfo: { name: client, version: "1" },
    },
  };
}

export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** The entry module of the program, for tests that run it as a process. */
export const MAIN = new URL("../main.ts", import.meta.url).pathname;

/**
 * The lockfile of the test-only npm packages (the MCP Inspector, playwright-core),
 * a superset of the runtime's `deno.lock`. The runtime's lock stays lean, since
 * `deno run main.ts` downloads every package its lock names; a test that runs one
 * of these packages starts it in a subprocess with `--lock=` this file.
 */
export const TEST_LOCK = new URL("./deno.lock", import.meta.url).pathname;

/**
 * Starts `main.ts broker` as a real process on `port` and resolves once it
 * accepts connections. Output is discarded unless `stderr: "inherit"`.
 */
export async function brokerProcess(
  port: number,
  dataDir: string,
  opts: { args?: string[]; env?: Record<string, string>; stderr?: "null" | "inherit" } = {},
): Promise<Deno.ChildProcess> {
  const { PERMISSION_FLAGS } = await import("../lib/permissions.ts");
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...PERMISSION_FLAGS,
      MAIN,
      "broker",
      "--port",
      String(port),
      "--data-dir",
      dataDir,
      "--no-http",
      ...(opts.args ?? []),
    ],
    env: { IPC_LOG: "warn", ...opts.env },
    stdin: "null",
    stdout: "null",
    stderr: opts.stderr ?? "null",
  }).spawn();
  try {
    await waitFor(async () => {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return true;
    }, { what: `the broker on port ${port} to listen` });
    return child;
  } catch (error) {
    child.kill("SIGKILL");
    await child.status;
    throw error;
  }
}

/**
 * Runs `deno task start` in the checkout with `env` added, reads its banner
 * (stdout up to "Ctrl-C"), hands it to `check` while the broker still
 * serves, then stops the broker with SIGTERM and waits for it to exit.
 */
export async function startBanner(
  env: Record<string, string>,
  check: (banner: string) => void | Promise<void>,
): Promise<void> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", "start"],
    cwd: new URL("../", import.meta.url).pathname,
    env,
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  try {
    while (!out.includes("Ctrl-C")) {
      const { value, done } = await reader.read();
      if (done) break;
      out += value;
    }
    await check(out);
  } finally {
    child.kill("SIGTERM");
    await child.status;
    await reader.cancel().catch(() => {});
  }
}

/** The records of a data dir's `broker.log` (JSON lines), oldest first; none when it is missing. */
export async function brokerLog(dataDir: string): Promise<JsonLogRecord[]> {
  const text = await Deno.readTextFile(`${dataDir}/broker.log`).catch(() => "");
  return parseJsonLines(text);
}

/** How many records of `log` are the event `event`. */
export function countEvents(log: JsonLogRecord[], event: string): number {
  return log.filter((r) => r.event === event).length;
}

let denoDirMemo: Promise<string> | undefined;

/**
 * Deno's cache directory as this process resolves it (`DENO_DIR`, else
 * `XDG_CACHE_HOME/deno`, else `~/.cache/deno`), from `deno info --json`. A
 * test that runs `deno` with a temporary HOME or a short environment passes
 * it on as `DENO_DIR`, so the child finds the cache (no download, works
 * offline) whether or not the variables are set here.
 */
export function realDenoDir(): Promise<string> {
  return denoDirMemo ??= (async () => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json"],
      stdout: "piped",
      stderr: "null",
    }).output();
    return JSON.parse(new TextDecoder().decode(out.stdout)).denoDir as string;
  })();
}

/**
 * This process's environment without `INIT_CWD`, for a child that runs `deno task` as a person
 * would from a shell: `deno task` keeps an `INIT_CWD` it inherits (from the `deno task test` that
 * runs the suite) instead of naming the directory it was started in.
 */
export function shellEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env = Deno.env.toObject();
  delete env.INIT_CWD;
  return { ...env, ...extra };
}
