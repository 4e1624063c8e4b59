/**
 * The NATS server of a `--store nats` benchmark run: a real `nats-server -js`
 * subprocess on a free loopback port, its JetStream store in a temporary
 * directory. The driver starts one per run and gives every scenario an
 * empty store (`reset`), as each SQLite scenario gets a fresh data dir.
 *
 * @module
 */

import { freePort } from "./_processes.ts";
import { sleep } from "./_stats.ts";

/** A running `nats-server -js`. */
export class NatsServer implements AsyncDisposable {
  readonly host = "127.0.0.1";
  readonly port: number;
  /** The JetStream store directory. */
  readonly storeDir: string;
  /** `nats-server --version`, e.g. `nats-server: v2.9.10`. */
  readonly version: string;
  #child: Deno.ChildProcess | null = null;
  #removed = false;

  private constructor(port: number, storeDir: string, version: string) {
    this.port = port;
    this.storeDir = storeDir;
    this.version = version;
  }

  /** `nats://127.0.0.1:PORT`: the `--store` of the brokers. */
  get url(): string {
    return `nats://${this.host}:${this.port}`;
  }

  /**
   * Starts `nats-server -js -a 127.0.0.1 -p PORT -sd TMPDIR` and waits until
   * it greets clients. Throws `Error` with the fix when `nats-server` is not
   * installed.
   *
   * @example
   * ```ts
   * await using nats = await NatsServer.start();
   * await BrokerProcess.start({ store: nats.url });
   * ```
   */
  static async start(): Promise<NatsServer> {
    const version = await natsServerVersion();
    const storeDir = await Deno.makeTempDir({ prefix: "agent-ipc-bench-nats-" });
    const server = new NatsServer(freePort(), storeDir, version);
    try {
      await server.#spawn();
    } catch (e) {
      await server.close();
      throw e;
    }
    return server;
  }

  async #spawn(): Promise<void> {
    const child = new Deno.Command("nats-server", {
      args: ["-js", "-a", this.host, "-p", String(this.port), "-sd", this.storeDir],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    this.#child = child;
    let exited = false;
    child.status.then(() => exited = true);
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (exited) throw new Error(`nats-server on port ${this.port} exited at start`);
      try {
        const conn = await Deno.connect({ hostname: this.host, port: this.port });
        try {
          // The server greets every client with an INFO line once it is serving.
          const buf = new Uint8Array(4);
          const n = await conn.read(buf);
          if (n === 4 && new TextDecoder().decode(buf) === "INFO") return;
        } finally {
          conn.close();
        }
      } catch { /* not listening yet */ }
      await sleep(25);
    }
    throw new Error(`nats-server on port ${this.port} did not start within 10 s`);
  }

  /** The process id (null while stopped). */
  get pid(): number | null {
    return this.#child?.pid ?? null;
  }

  /** An empty store: stops the server, empties its store dir, starts it on the same port. */
  async reset(): Promise<void> {
    await this.stop();
    for (const entry of await Array.fromAsync(Deno.readDir(this.storeDir))) {
      await Deno.remove(`${this.storeDir}/${entry.name}`, { recursive: true });
    }
    await this.#spawn();
  }

  /** Stops the server (SIGTERM, SIGKILL after 5 s); the store dir stays. Safe to call twice. */
  async stop(): Promise<void> {
    const child = this.#child;
    if (child === null) return;
    this.#child = null;
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
    }, 5_000);
    await child.status;
    clearTimeout(timer);
  }

  /** Stops the server and removes its store dir. Safe to call twice. */
  async close(): Promise<void> {
    await this.stop();
    if (this.#removed) return;
    this.#removed = true;
    await Deno.remove(this.storeDir, { recursive: true }).catch(() => {});
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** `nats-server --version`; throws `Error` saying how to install it when it is missing. */
export async function natsServerVersion(): Promise<string> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command("nats-server", {
      args: ["--version"],
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Error(
        "--store nats needs `nats-server` on PATH (apt-get install nats-server, or " +
          "https://github.com/nats-io/nats-server/releases)",
      );
    }
    throw e;
  }
  const text = new TextDecoder().decode(out.stdout).trim();
  if (!out.success) throw new Error(`\`nats-server --version\` failed with code ${out.code}`);
  return text;
}
