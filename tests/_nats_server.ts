/**
 * Test helper: a real `nats-server` with JetStream as a subprocess on a free
 * loopback port, its store in a temporary directory.
 *
 * Tests that need it are skipped, with a message saying why, only when the
 * `nats-server` binary is not installed (`apt-get install nats-server`).
 *
 * @module
 */

/** Why NATS tests are skipped (null when `nats-server` is installed). */
export const NATS_SKIP_REASON: string | null = await probe();

if (NATS_SKIP_REASON !== null) {
  console.error(`NATS tests skipped: ${NATS_SKIP_REASON}`);
}

async function probe(): Promise<string | null> {
  try {
    const out = await new Deno.Command("nats-server", { args: ["--version"], stdout: "piped" })
      .output();
    return out.success ? null : "`nats-server --version` failed";
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      return "`nats-server` is not installed (apt-get install nats-server)";
    }
    throw e;
  }
}

/** A running nats-server. */
export interface NatsServer extends AsyncDisposable {
  /** Kills the server and removes its store now (for `unload` handlers). */
  killSync(): void;
  /** `nats://127.0.0.1:PORT`. */
  readonly url: string;
  readonly port: number;
  /** The JetStream store directory (kept across `restart`). */
  readonly storeDir: string;
  /** Stops the server (SIGTERM, then waits). Safe to call twice. */
  stop(): Promise<void>;
  /** Starts a stopped server again on the same port and store directory. */
  start(): Promise<void>;
  /** `stop()` then `start()`: JetStream data on disk survives. */
  restart(): Promise<void>;
  /** SIGSTOP: frozen with its connections open, so requests go unanswered until `resume`. */
  pause(): void;
  /** SIGCONT after {@linkcode NatsServer.pause}. */
  resume(): void;
}

/** Options for {@linkcode startNatsServer}. */
export interface NatsServerOptions {
  /** Require this token from clients (`--auth`). */
  token?: string;
  /** Run JetStream (`-js`, the default); false starts a plain server the store must refuse. */
  jetstream?: boolean;
}

/** A free TCP port on loopback (bind port 0, read it, release it). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/**
 * Waits until the nats-server `proc` on `port` greets clients, for at most
 * `ms`; throws when it exits first (with the tail of its `log`, if given).
 */
export async function waitServing(
  port: number,
  proc: Deno.ChildProcess,
  ms: number,
  log?: string,
): Promise<void> {
  let exited = false;
  proc.status.then(() => exited = true);
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (exited) {
      const tail = log === undefined ? "" : await Deno.readTextFile(log).catch(() => "");
      throw new Error(
        `nats-server on port ${port} exited during start` + (tail ? `:\n${tail.slice(-2000)}` : ""),
      );
    }
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      // The server greets every client with an INFO line once it is serving.
      const buf = new Uint8Array(8);
      const n = await conn.read(buf);
      conn.close();
      if (n !== null && new TextDecoder().decode(buf.subarray(0, n)).startsWith("INFO")) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`nats-server on port ${port} did not start within ${ms / 1000} s`);
}

/**
 * Starts `nats-server -js -a 127.0.0.1 -p PORT -sd TMPDIR` and waits until it
 * accepts clients.
 *
 * @example
 * ```ts
 * await using nats = await startNatsServer();
 * const store = await openNatsStore(nats.url, {});
 * ```
 */
export async function startNatsServer(opts: NatsServerOptions = {}): Promise<NatsServer> {
  if (NATS_SKIP_REASON !== null) throw new Error(NATS_SKIP_REASON);
  const storeDir = await Deno.makeTempDir({ prefix: "agent-ipc-nats-" });
  const port = freePort();
  let proc: Deno.ChildProcess | null = null;
  let removed = false;

  async function start(): Promise<void> {
    if (proc !== null) return;
    const args = ["-a", "127.0.0.1", "-p", String(port), "-sd", storeDir];
    if (opts.jetstream !== false) args.unshift("-js");
    if (opts.token !== undefined) args.push("--auth", opts.token);
    proc = new Deno.Command("nats-server", {
      args,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    try {
      await waitServing(port, proc, 10_000);
    } catch (e) {
      await stop();
      throw e;
    }
  }

  async function stop(): Promise<void> {
    const p = proc;
    if (p === null) return;
    proc = null;
    try {
      p.kill("SIGTERM");
    } catch {
      // already exited
    }
    const timer = setTimeout(() => {
      try {
        p.kill("SIGKILL");
      } catch {
        // already exited
      }
    }, 5_000);
    await p.status;
    clearTimeout(timer);
  }

  await start();
  return {
    killSync() {
      try {
        proc?.kill("SIGKILL");
      } catch {
        // already exited
      }
      proc = null;
      if (!removed) {
        removed = true;
        try {
          Deno.removeSync(storeDir, { recursive: true });
        } catch {
          // already gone
        }
      }
    },
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    start,
    stop,
    async restart() {
      await stop();
      await start();
    },
    pause() {
      proc?.kill("SIGSTOP");
    },
    resume() {
      proc?.kill("SIGCONT");
    },
    async [Symbol.asyncDispose]() {
      await stop();
      if (!removed) {
        removed = true;
        await Deno.remove(storeDir, { recursive: true }).catch(() => {});
      }
    },
  };
}

/**
 * One server for a whole test module, started when the module loads (call it
 * at top level, so no single test owns the process) and killed when the
 * module's tests are done. Null when `nats-server` is not installed.
 *
 * @example
 * ```ts
 * const shared = await moduleNatsServer();
 * Deno.test({ name: "x", ignore: !shared }, async () => { shared!.url; });
 * ```
 */
export async function moduleNatsServer(): Promise<NatsServer | null> {
  if (NATS_SKIP_REASON !== null) return null;
  const server = await startNatsServer();
  globalThis.addEventListener("unload", () => server.killSync());
  return server;
}
