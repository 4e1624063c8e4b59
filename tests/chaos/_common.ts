/**
 * What the chaos scenarios share: the real program as a broker process on a
 * free port in a temp data dir, broker status and memory from outside, agent
 * worker processes, and the row every scenario reports.
 *
 * @module
 */

import { join } from "node:path";
import { authToken } from "../../lib/protocol/auth.ts";
import { FramedClient } from "../../lib/client/framed_client.ts";
import { RUN_FLAGS } from "../../lib/permissions.ts";
import { listenerOf } from "../../lib/proc_net.ts";

/** Options every scenario gets. */
export interface ScenarioOptions {
  /** Smaller counts for a fast CI run. */
  quick: boolean;
  /** Seed of everything random in the run. */
  seed: number;
}

/** One scenario's outcome: one row of the report. */
export interface Row {
  scenario: string;
  /** What was done, how much. */
  action: string;
  sent?: number;
  acked?: number;
  delivered?: number;
  lost?: number;
  /** Deliveries of one message id seen more than once before its ack (allowed). */
  redelivered?: number;
  /** Errors the clients or attackers saw (expected ones included), by kind. */
  errors: string;
  /** Was the broker (or its successor) answering at the end? */
  alive: boolean;
  /** Extra figures (memory, latency, re-election times). */
  notes: string;
  ms: number;
  /** Broken promises; empty when the scenario passed. */
  failures: string[];
}

/** A scenario: a name and a run. */
export interface Scenario {
  name: string;
  run(o: ScenarioOptions): Promise<Row>;
}

/** The real program's entry point. */
export const MAIN = new URL("../../main.ts", import.meta.url).pathname;

/** A free loopback port. */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Sleeps `ms`. */
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A temp data dir (0700 parent) removed by `dispose`. */
export async function tempDir(prefix: string): Promise<string> {
  return await Deno.makeTempDir({ prefix: `ipc-chaos-${prefix}-` });
}

/** Removes a temp dir, quietly. */
export async function removeDir(dir: string): Promise<void> {
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}

/**
 * A broker started as its own process, with the flags agent-ipc starts its
 * background broker with: `main.ts broker --port P --data-dir D --no-http`.
 */
export class BrokerProcess {
  readonly child: Deno.ChildProcess;
  readonly port: number;
  readonly dataDir: string;
  readonly #stderr: Promise<string>;

  private constructor(child: Deno.ChildProcess, port: number, dataDir: string) {
    this.child = child;
    this.port = port;
    this.dataDir = dataDir;
    this.#stderr = new Response(child.stderr).text().catch(() => "");
  }

  /** Starts one and waits until it answers `ping`. */
  static async start(
    dataDir: string,
    opts: {
      port?: number;
      args?: string[];
      env?: Record<string, string>;
      /** Run the web console on this port (otherwise --no-http). */
      httpPort?: number;
      /** Start it with this limit of open files (`ulimit -n`). */
      openFiles?: number;
    } = {},
  ): Promise<BrokerProcess> {
    const port = opts.port ?? freePort();
    const args = [
      "run",
      // As agent-ipc starts its own brokers (permissions and V8 flags).
      ...RUN_FLAGS,
      MAIN,
      "broker",
      "--port",
      String(port),
      "--data-dir",
      dataDir,
      ...(opts.httpPort === undefined ? ["--no-http"] : ["--http-port", String(opts.httpPort)]),
      "--log-level",
      "warn",
      ...(opts.args ?? []),
    ];
    // `exec` keeps the pid: the shell becomes the broker.
    const [cmd, argv] = opts.openFiles === undefined ? [Deno.execPath(), args] : [
      "/bin/sh",
      ["-c", `ulimit -n ${opts.openFiles} && exec "$0" "$@"`, Deno.execPath(), ...args],
    ];
    const child = new Deno.Command(cmd, {
      args: argv,
      env: { IPC_SHARED_SECRET: "", ...opts.env },
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const b = new BrokerProcess(child, port, dataDir);
    if (!await waitForBroker(port, 20_000)) {
      b.kill("SIGKILL");
      throw new Error(`broker did not start: ${await b.stderr()}`);
    }
    return b;
  }

  get pid(): number {
    return this.child.pid;
  }

  /** The broker's stderr, once it has exited. */
  stderr(): Promise<string> {
    return this.#stderr;
  }

  kill(signal: Deno.Signal): void {
    try {
      this.child.kill(signal);
    } catch { /* exited */ }
  }

  /** Stops it (SIGTERM, then SIGKILL after 10 s); returns the exit code. */
  async stop(): Promise<number> {
    this.kill("SIGTERM");
    const t = setTimeout(() => this.kill("SIGKILL"), 10_000);
    const { code } = await this.child.status;
    clearTimeout(t);
    await this.#stderr;
    return code;
  }
}

/** The secret of a data dir. */
export async function secretOf(dataDir: string): Promise<string> {
  return (await Deno.readTextFile(join(dataDir, "secret"))).trim();
}

/** The auth proof function for a data dir's secret. */
export async function prover(dataDir: string): Promise<(name: string) => string> {
  const s = await secretOf(dataDir);
  return (name) => authToken(name, s);
}

/** The broker's `status` (pid, connections, waiting), or null when none answers. */
export async function brokerStatus(port: number, timeoutMs = 2_000): Promise<
  { pid: number; connections: number; waiting: number } | null
> {
  let c: FramedClient | undefined;
  try {
    c = await FramedClient.connect({ host: "127.0.0.1", port });
    const r = await Promise.race([
      c.request({ action: "status" }),
      sleep(timeoutMs).then(() => null),
    ]);
    if (!r) return null;
    const b = r.broker as { pid?: number; connections: number; waiting: number };
    // `status` names the pid only to a session: ask /proc who listens.
    return {
      pid: b.pid ?? (await listenerOf(port))?.pid ?? NaN,
      connections: b.connections,
      waiting: b.waiting,
    };
  } catch {
    return null;
  } finally {
    if (c) {
      c.close();
      await c.closed;
    }
  }
}

/** Waits until a broker answers on `port`; false after `ms`. */
export async function waitForBroker(port: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await brokerStatus(port, 1_000)) return true;
    await sleep(50);
  }
  return false;
}

/**
 * Resident memory of a process in MiB, or NaN. Through `ps`: Deno reads
 * /proc/PID only with --allow-all, which this suite does not ask for.
 */
export async function rssMiB(pid: number): Promise<number> {
  try {
    const out = await new Deno.Command("ps", {
      args: ["-o", "rss=", "-p", String(pid)],
      stdout: "piped",
      stderr: "null",
    }).output();
    const kb = Number(new TextDecoder().decode(out.stdout).trim());
    return out.success && kb > 0 ? kb / 1024 : NaN;
  } catch {
    return NaN;
  }
}

/**
 * The first line a child process prints, parsed as JSON (`{}` when it prints
 * none); its output after that is dropped.
 */
export async function firstLine(child: Deno.ChildProcess): Promise<Record<string, unknown>> {
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  reader.releaseLock();
  child.stdout.cancel().catch(() => {});
  return JSON.parse(text.split("\n")[0] || "{}");
}

/** True while a process exists. */
export function alive(pid: number): boolean {
  try {
    Deno.kill(pid, "SIGCONT");
    return true;
  } catch {
    return false;
  }
}

/** Kills a process by pid, quietly. */
export function killPid(pid: number, signal: Deno.Signal = "SIGKILL"): void {
  try {
    Deno.kill(pid, signal);
  } catch { /* gone */ }
}

/** Formats a count of error kinds: "E_AUTH 3, E_SESSION 2" or "none". */
export function formatCounts(counts: Record<string, number>): string {
  const parts = Object.entries(counts).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k} ${n}`);
  return parts.length ? parts.join(", ") : "none";
}

/** Adds one to a count. */
export function bump(counts: Record<string, number>, key: string, n = 1): void {
  counts[key] = (counts[key] ?? 0) + n;
}

/** Percentile of a list of numbers (nearest rank). */
export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p / 100 * s.length) - 1))];
}

/** A row with the fields every scenario fills the same way. */
export function row(
  scenario: string,
  t0: number,
  fields: Partial<Row> & { action: string; alive: boolean },
): Row {
  return {
    scenario,
    errors: "none",
    notes: "",
    failures: [],
    ...fields,
    ms: Date.now() - t0,
  };
}
