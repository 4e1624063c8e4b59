/**
 * The processes of a benchmark run, seen from the driver: a broker started
 * as users start it (`main.ts broker`, the durable SQLite store or
 * `--store nats://…`, a fresh data dir, a free port), and load processes (`bench/load.ts`) that speak to it
 * over loopback and report their figures as JSON lines on stdout.
 *
 * @module
 */

import { join } from "node:path";
import { RUN_FLAGS } from "../lib/permissions.ts";
import { FramedClient } from "../lib/client/framed_client.ts";
import { sleep } from "./_stats.ts";

const MAIN = Deno.env.get("BENCH_BROKER_ENTRY") ?? new URL("../main.ts", import.meta.url).pathname;
const LOAD = new URL("./load.ts", import.meta.url).pathname;

/**
 * The environment of every child: ours without `IPC_*` settings (a user's
 * IPC_SHARED_SECRET or IPC_PORT must not leak into the run), plus `extra`.
 */
export function childEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(Deno.env.toObject())) {
    if (!k.startsWith("IPC_")) env[k] = v;
  }
  return { ...env, ...extra };
}

/** A free loopback port (bound, then released). */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/**
 * Reads a procfs file. Deno grants `/proc` only to `--allow-all`, so with the
 * task's explicit flags this falls back to `cat` (`--allow-run`). Null when
 * the file does not exist (process gone, not Linux).
 */
export async function readProc(path: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
  }
  try {
    const out = await new Deno.Command("cat", { args: [path], stdout: "piped", stderr: "null" })
      .output();
    return out.success ? new TextDecoder().decode(out.stdout) : null;
  } catch {
    return null;
  }
}

/** Resident set size and its peak of a process, in bytes (Linux only; null elsewhere). */
export async function rssOf(pid: number): Promise<{ rss: number; peak: number } | null> {
  const status = await readProc(`/proc/${pid}/status`);
  if (status === null) return null;
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)?.[1]);
  const rss = kb("VmRSS"), peak = kb("VmHWM");
  return Number.isFinite(rss) ? { rss: rss * 1024, peak: peak * 1024 } : null;
}

/** CPU seconds (user + system) a process has used so far (Linux only; null elsewhere). */
export async function cpuSecondsOf(pid: number): Promise<number | null> {
  const stat = await readProc(`/proc/${pid}/stat`);
  if (stat === null) return null;
  // Fields after the command name (which may hold spaces): utime and stime are 14 and 15.
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(rest[11]) + Number(rest[12]);
  return Number.isFinite(ticks) ? ticks / CLOCK_TICKS : null;
}

/** Bytes of the files under `dir`, recursively (0 when it does not exist). */
export async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  try {
    for await (const e of Deno.readDir(dir)) {
      const path = `${dir}/${e.name}`;
      if (e.isDirectory) total += await dirBytes(path);
      else if (e.isFile) total += (await Deno.stat(path).catch(() => ({ size: 0 }))).size;
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return total;
}

/** USER_HZ: 100 on every Linux we know of. */
const CLOCK_TICKS = 100;

/** Limits of a run (set by `bench.ts`). */
export const limits = {
  /** A load process still running after this is killed and its scenario fails. */
  loadTimeoutMs: 15 * 60_000,
};

/**
 * Extra `deno run` flags for every child, e.g. `--cpu-prof --cpu-prof-dir=DIR`
 * (set by `bench.ts --cpu-prof DIR`).
 */
export const denoFlags: string[] = [];

/** True while a process with this pid runs (`kill -0`; a zombie counts as gone on Linux). */
export async function alive(pid: number): Promise<boolean> {
  const stat = await readProc(`/proc/${pid}/stat`);
  if (stat !== null) return !/^\d+ \(.*\) Z/.test(stat);
  try {
    return (await new Deno.Command("kill", { args: ["-0", String(pid)], stderr: "null" }).output())
      .success;
  } catch {
    return false;
  }
}

/** Options of a benchmark broker. */
export interface BrokerProcessOptions {
  /** Extra `main.ts broker` flags (e.g. `--queue-cap`). */
  args?: string[];
  /** Reuse this data dir instead of a fresh one. */
  dataDir?: string;
  /** How long to wait for the first ping answer (default 30 s). */
  readyTimeoutMs?: number;
  /**
   * `--store` of the broker (a `nats://` URL); the SQLite store in the data
   * dir when absent. The broker must report this kind of store in `status`.
   */
  store?: string;
}

/** The store kind a broker reports in `status` for a `--store` value (absent: SQLite). */
export function storeKind(store: string | undefined): string {
  if (store === undefined || store === "sqlite") return "sqlite";
  return /^(nats|tls):\/\//.test(store) ? "nats" : store;
}

/** A broker subprocess on a fresh data dir. */
export class BrokerProcess implements AsyncDisposable {
  readonly host = "127.0.0.1";
  readonly port: number;
  readonly dataDir: string;
  readonly #child: Deno.ChildProcess;
  readonly #ownsDir: boolean;
  /** Milliseconds from spawn to the first answered ping. */
  startupMs = 0;
  /** The store kind the broker reported (checked only when a `store` was asked for). */
  store = "sqlite";
  #status: Promise<Deno.CommandStatus>;

  private constructor(child: Deno.ChildProcess, port: number, dataDir: string, ownsDir: boolean) {
    this.#child = child;
    this.port = port;
    this.dataDir = dataDir;
    this.#ownsDir = ownsDir;
    this.#status = child.status;
  }

  /** Starts `main.ts broker` and waits until it answers a ping. */
  static async start(options: BrokerProcessOptions = {}): Promise<BrokerProcess> {
    const ownsDir = options.dataDir === undefined;
    const dataDir = options.dataDir ?? await Deno.makeTempDir({ prefix: "agent-ipc-bench-" });
    const port = freePort();
    const t0 = performance.now();
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        ...RUN_FLAGS,
        ...denoFlags,
        MAIN,
        "broker",
        "--host",
        "127.0.0.1",
        "--port",
        String(port),
        "--data-dir",
        dataDir,
        "--no-http",
        "--log-file",
        join(dataDir, "broker.log"),
        "--log-level",
        "warn",
        ...(options.store === undefined ? [] : ["--store", options.store]),
        ...(options.args ?? []),
      ],
      clearEnv: true,
      env: childEnv({ IPC_SESSION_FILE: join(dataDir, "session.json"), IPC_NO_HTTP: "1" }),
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const broker = new BrokerProcess(child, port, dataDir, ownsDir);
    try {
      await broker.#ready(options.readyTimeoutMs ?? 30_000);
      if (options.store !== undefined) {
        broker.store = await broker.#storeKind();
        const want = storeKind(options.store);
        if (broker.store !== want) {
          throw new Error(`broker reports store "${broker.store}", not "${want}"`);
        }
      }
    } catch (e) {
      await broker.close();
      throw e;
    }
    broker.startupMs = performance.now() - t0;
    return broker;
  }

  /** The broker's process id. */
  get pid(): number {
    return this.#child.pid;
  }

  async #ready(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    this.#status.then(() => exited = true);
    for (;;) {
      if (exited) throw new Error(`broker exited at start: ${await this.logTail()}`);
      try {
        const c = await FramedClient.connect({ host: this.host, port: this.port });
        try {
          await c.request({ action: "ping" });
          return;
        } finally {
          c.close();
          await c.closed;
        }
      } catch {
        if (Date.now() > deadline) {
          throw new Error(`broker did not answer within ${timeoutMs} ms: ${await this.logTail()}`);
        }
        await sleep(20);
      }
    }
  }

  /** The store kind in the broker's `status` reply. */
  async #storeKind(): Promise<string> {
    const c = await FramedClient.connect({ host: this.host, port: this.port });
    try {
      const reply = await c.request({ action: "status" });
      return String((reply.broker as { store?: unknown } | undefined)?.store);
    } finally {
      c.close();
      await c.closed;
    }
  }

  /** The last lines of the broker's log (for error messages). */
  async logTail(): Promise<string> {
    try {
      const text = await Deno.readTextFile(join(this.dataDir, "broker.log"));
      return text.trim().split("\n").slice(-5).join("\n") || "(empty log)";
    } catch {
      return "(no log)";
    }
  }

  /** CPU seconds used so far. */
  cpuSeconds(): Promise<number | null> {
    return cpuSecondsOf(this.pid);
  }

  /** RSS now and its peak, in bytes. */
  rss(): Promise<{ rss: number; peak: number } | null> {
    return rssOf(this.pid);
  }

  /** Resolves when the process has exited. */
  exited(): Promise<Deno.CommandStatus> {
    return this.#status;
  }

  /** Stops the broker (SIGTERM, then SIGKILL after 5 s) and removes a fresh data dir. */
  async close(): Promise<void> {
    await this.stop();
    if (this.#ownsDir) await Deno.remove(this.dataDir, { recursive: true }).catch(() => {});
  }

  /** Stops the process but keeps the data dir. */
  async stop(): Promise<void> {
    try {
      this.#child.kill("SIGTERM");
    } catch { /* already gone */ }
    const timer = setTimeout(() => {
      try {
        this.#child.kill("SIGKILL");
      } catch { /* gone */ }
    }, 5_000);
    await this.#status;
    clearTimeout(timer);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** One line a load process writes on stdout. */
export type LoadLine =
  | { type: "mark"; name: string }
  | { type: "result"; result: Record<string, unknown> }
  | { type: "error"; message: string };

/**
 * Runs `bench/load.ts <scenario>` with `config` and returns its result.
 * `onMark` is called for each mark the load reaches (the load waits until it
 * returns), so the driver can sample the broker at that point.
 */
export async function runLoad(
  scenario: string,
  config: Record<string, unknown>,
  onMark: (name: string) => void | Promise<void> = () => {},
  extraEnv: Record<string, string> = {},
): Promise<Record<string, unknown>> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...RUN_FLAGS, ...denoFlags, LOAD, scenario, JSON.stringify(config)],
    clearEnv: true,
    env: childEnv(extraEnv),
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  // A load that hangs (a bug) must not hang the run, nor CI.
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  }, limits.loadTimeoutMs);
  const writer = child.stdin.getWriter();
  let result: Record<string, unknown> | undefined;
  let error: string | undefined;
  try {
    const lines = child.stdout.pipeThrough(new TextDecoderStream());
    let buffered = "";
    for await (const chunk of lines) {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, nl).trim();
        buffered = buffered.slice(nl + 1);
        if (!line) continue;
        let msg: LoadLine;
        try {
          msg = JSON.parse(line);
        } catch {
          console.error(`[load] ${line}`);
          continue;
        }
        if (msg.type === "mark") {
          await onMark(msg.name);
          await writer.write(new TextEncoder().encode("\n"));
        } else if (msg.type === "result") result = msg.result;
        else if (msg.type === "error") error = msg.message;
      }
    }
  } catch (e) {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
    throw e;
  } finally {
    clearTimeout(timer);
    await writer.close().catch(() => {});
  }
  const status = await child.status;
  if (timedOut) {
    throw new Error(`load "${scenario}" did not finish within ${limits.loadTimeoutMs} ms`);
  }
  if (error) throw new Error(`load "${scenario}" failed: ${error}`);
  if (!result) throw new Error(`load "${scenario}" exited with code ${status.code} and no result`);
  return result;
}
