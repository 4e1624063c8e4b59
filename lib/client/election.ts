/**
 * The "democratic" election: connect to the broker on the well-known port,
 * or, when nobody answers, race to bind it. A long-lived process (the MCP
 * server) that wins hosts the broker in-process, the way its command layer
 * gave it ({@linkcode HostBroker}: this layer never starts one itself); a
 * short-lived one (a CLI command) starts a detached background broker
 * instead. Retries use jittered
 * exponential backoff so survivors of a broker's death do not stampede.
 *
 * @module
 */

import { randomBytes } from "node:crypto";
import { brokerProof, constantTimeEqual } from "../protocol/auth.ts";
import { IpcError } from "../protocol/errors.ts";
import { TIMEOUTS } from "../defaults.ts";
import { PERMISSION_FLAGS } from "../permissions.ts";
import { logger, parseJsonLines } from "../log.ts";
import { ensurePrivateDir, isDataDirLocked } from "../state/data_dir.ts";
import { type ConnectOptions, FramedClient, NotABrokerError } from "./framed_client.ts";

const log = logger("election");

/**
 * What to do when no broker answers: host one in this process (needs
 * {@linkcode ElectionOptions.hostBroker}), spawn a detached one, or neither.
 */
export type ElectionRole = "host" | "spawn" | "none";

/** Where this process won the broker's port: what a broker hosted there needs from the election. */
export interface HostingSite {
  /** The address the election bound. */
  host: string;
  /** The listener bound on the broker's port; the hosted broker owns it (and closes it on failure). */
  listener: Deno.Listener;
  dataDir: string;
}

/** A broker this process hosts, as the election sees it. */
export interface HostedBroker {
  readonly port: number;
  /** Stops the broker. Safe twice. */
  close(): Promise<void>;
}

/**
 * How to host a broker on the port this process won: a capability the
 * command layer passes in (the client layer never starts a broker itself).
 * Rejects with the data dir's lock error (`isDataDirLocked`) when another
 * broker still holds the data dir; the election retries then.
 */
export type HostBroker = (site: HostingSite) => Promise<HostedBroker>;

/** Election settings. */
export interface ElectionOptions extends ConnectOptions {
  role: ElectionRole;
  dataDir: string;
  /**
   * The shared secret, to check the broker's proof (`ping` with a nonce)
   * before trusting the port; when it yields nothing the broker is not checked
   * (a client with no secret cannot register anyway).
   */
  brokerSecret?: () => Promise<string | undefined>;
  /** How to host the broker when this process wins the election (role "host"). */
  hostBroker?: HostBroker;
  /** Extra arguments for a detached broker (e.g. `--store`). */
  spawnArgs?: string[];
  /** Give up after this long (default 10 s). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** The outcome: a verified connection, and the broker when this process hosts it. */
export interface Elected {
  client: FramedClient;
  hosted?: HostedBroker;
}

/** The command that starts a detached broker of this same program. */
export function brokerCommand(args: string[]): { cmd: string; args: string[] } {
  const standalone = (Deno.build as { standalone?: boolean }).standalone === true;
  if (standalone) return { cmd: Deno.execPath(), args: ["broker", ...args] };
  return {
    cmd: Deno.execPath(),
    args: ["run", ...PERMISSION_FLAGS, programEntry(import.meta.url), "broker", ...args],
  };
}

/**
 * The program's entry module, given this module's URL: `main.ts` two levels
 * up (a local checkout or a remote URL), or, inside a `deno bundle` file where
 * this module is inlined, the bundle itself.
 */
function programEntry(here: string): string {
  const path = new URL(here).pathname;
  if (!path.endsWith("/lib/client/election.ts")) return here;
  return new URL("../../main.ts", here).href;
}

/**
 * Starts a detached background broker; it outlives this process. Resolves
 * with its exit code should it exit while this process runs.
 */
export function spawnDetachedBroker(options: ElectionOptions): Promise<number> {
  const args = [
    "--host",
    options.host,
    "--port",
    String(options.port),
    "--data-dir",
    options.dataDir,
    "--log-file",
    `${options.dataDir}/broker.log`,
    ...(options.spawnArgs ?? []),
  ];
  const { cmd, args: full } = brokerCommand(args);
  log.info(`no broker on ${options.host}:${options.port}: starting one in the background`);
  const child = new Deno.Command(cmd, {
    args: full,
    stdin: "null",
    stdout: "null",
    stderr: "null",
    detached: true,
  }).spawn();
  child.unref();
  return child.status.then((s) => s.code);
}

/**
 * The `event` of the record a broker writes to its log file when it cannot
 * start, with `reason` (a sentence) and `transient` (it lost a race for the
 * port or the data dir with a broker that is starting or stopping).
 */
export const START_FAILED = "start_failed";

/** Why a broker could not start, as it logged it. */
interface StartFailure {
  reason: string;
  /** Lost a race with a broker that is starting or stopping: another try may work. */
  transient: boolean;
}

/** Why a broker started since `since` could not start, from the data dir's broker.log. */
async function startupFailure(dataDir: string, since: number): Promise<StartFailure | undefined> {
  let text: string;
  try {
    // Only the end of the log: it grows for as long as the data dir lives.
    using file = await Deno.open(`${dataDir}/broker.log`);
    const size = (await file.stat()).size;
    await file.seek(Math.max(0, size - 16_384), Deno.SeekMode.Start);
    const buf = new Uint8Array(Math.min(size, 16_384));
    let at = 0;
    while (at < buf.length) {
      const n = await file.read(buf.subarray(at));
      if (n === null) break;
      at += n;
    }
    text = new TextDecoder().decode(buf.subarray(0, at));
  } catch {
    return undefined;
  }
  for (const r of parseJsonLines(text).reverse()) {
    if (r.event !== START_FAILED || !(Date.parse(r.time) >= since - 1_000)) continue;
    return { reason: String(r.reason ?? r.msg), transient: r.transient === true };
  }
  return undefined;
}

/** How long a claim to start the background broker stands (see {@linkcode claimSpawn}). */
const SPAWN_CLAIM_MS = TIMEOUTS.spawnClaimMs;

/**
 * Claims the right to start the background broker: a marker file created
 * exclusively in the data dir. When a broker dies, every spawn-role survivor
 * finds the port free at once; without the claim each started a broker of its
 * own, and all but one lost the race and exited (85 processes for 3 elections
 * of 15 clients). A claim older than {@linkcode SPAWN_CLAIM_MS} is stale (its
 * owner died before the broker it started could answer).
 */
async function claimSpawn(dataDir: string): Promise<boolean> {
  const marker = `${dataDir}/spawning`;
  try {
    await ensurePrivateDir(dataDir);
  } catch {
    return true; // the broker will report the data dir itself
  }
  for (let i = 0; i < 2; i++) {
    try {
      await Deno.writeTextFile(marker, `${Deno.pid}\n`, { createNew: true, mode: 0o600 });
      return true;
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) return true;
      const age = await Deno.stat(marker).then(
        (i) => Date.now() - (i.mtime?.getTime() ?? 0),
        () => 0,
      );
      if (age < SPAWN_CLAIM_MS) return false;
      await Deno.remove(marker).catch(() => {});
    }
  }
  return false;
}

/** Gives up a claim made with {@linkcode claimSpawn}. */
async function releaseSpawn(dataDir: string): Promise<void> {
  await Deno.remove(`${dataDir}/spawning`).catch(() => {});
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });

function isRefused(e: unknown): boolean {
  return e instanceof Deno.errors.ConnectionRefused || e instanceof Deno.errors.ConnectionReset;
}

/** Connects and checks that an agent-ipc broker answers. */
async function connectVerified(options: ElectionOptions): Promise<FramedClient> {
  const secret = await options.brokerSecret?.();
  const nonce = secret ? randomBytes(24).toString("base64url") : undefined;
  const client = await FramedClient.connect(options);
  try {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const reply = await Promise.race([
      client.request(nonce ? { action: "ping", nonce } : { action: "ping" }),
      new Promise<never>((_, reject) =>
        timer = setTimeout(
          () =>
            reject(
              new IpcError(
                "E_UNAVAILABLE",
                `no answer to ping within ${TIMEOUTS.pingMs / 1000} s`,
              ),
            ),
          TIMEOUTS.pingMs,
        )
      ),
    ]).finally(() => clearTimeout(timer));
    if (reply.broker !== "agent-ipc") throw new NotABrokerError("not agent-ipc");
    if (
      secret && nonce &&
      (typeof reply.proof !== "string" ||
        !constantTimeEqual(reply.proof, brokerProof(secret, nonce)))
    ) {
      throw new IpcError(
        "E_AUTH",
        `The program on ${options.host}:${options.port} answers like an agent-ipc broker but cannot ` +
          "prove it knows your shared secret: it is not your broker (another user's, or an impostor). " +
          "Nothing was sent to it. Stop it, or use a port of your own (--port / IPC_PORT)",
      );
    }
    return client;
  } catch (e) {
    client.close();
    await client.closed;
    // A peer that answers, but not as a broker, is another program. A peer that
    // closes or stays silent may be a broker starting or dying: the caller retries.
    if (e instanceof NotABrokerError) {
      throw new NotABrokerError(
        `Port ${options.port} on ${options.host} is used by another program, not an agent-ipc broker: ` +
          "stop it, or choose another port with --port / IPC_PORT",
      );
    }
    throw e;
  }
}

/**
 * Connects to the broker, electing one when nobody answers.
 * Throws IpcError E_UNAVAILABLE when none could be reached within the timeout,
 * and E_STORE when this process won the port but cannot open the data dir.
 */
export async function connectOrElect(options: ElectionOptions): Promise<Elected> {
  if (options.role === "host" && !options.hostBroker) {
    throw new TypeError('Role "host" needs options.hostBroker (how to host a broker)');
  }
  const claim: { held: boolean } = { held: false };
  try {
    return await elect(options, claim);
  } finally {
    // Connected, failed or cancelled: a claim to start the broker ends here.
    if (claim.held) await releaseSpawn(options.dataDir);
  }
}

async function elect(options: ElectionOptions, claim: { held: boolean }): Promise<Elected> {
  const deadline = Date.now() + (options.timeoutMs ?? TIMEOUTS.electionMs);
  const started = Date.now();
  let spawned: { at: number; exit?: number } | undefined;
  let spawns = 0;
  let lastError: unknown;
  for (let attempt = 0;; attempt++) {
    if (options.signal?.aborted) throw new IpcError("E_UNAVAILABLE", "Election cancelled");
    try {
      return { client: await connectVerified(options) };
    } catch (e) {
      lastError = e;
      // Another program, or a broker that cannot prove our secret: retrying will not help.
      if (e instanceof NotABrokerError || (e instanceof IpcError && e.code === "E_AUTH")) throw e;
      if (!isRefused(e)) log.debug(`connect failed: ${(e as Error).message}`);
    }
    if (options.role === "host") {
      let listener: Deno.Listener | undefined;
      try {
        listener = Deno.listen({ hostname: options.host, port: options.port });
      } catch (e) {
        if (!(e instanceof Deno.errors.AddrInUse)) throw e;
      }
      let hosted: HostedBroker | undefined;
      if (listener) {
        try {
          hosted = await options.hostBroker!({
            host: options.host,
            listener,
            dataDir: options.dataDir,
          });
        } catch (e) {
          // The data dir is still held by a broker that is stopping (it closed
          // its port first) or starting (it binds its port last): retry.
          if (!isDataDirLocked(e)) throw e;
          lastError = e;
        }
      }
      if (hosted) {
        log.info(`won the election: hosting the broker on ${options.host}:${hosted.port}`);
        try {
          return { client: await connectVerified({ ...options, port: hosted.port }), hosted };
        } catch (e) {
          await hosted.close();
          throw e;
        }
      }
    } else if (options.role === "spawn") {
      if (spawned?.exit !== undefined) {
        // Ours exited and nobody answers: say why rather than wait for the deadline,
        // unless it only lost a race with a broker that is starting or stopping.
        // (Killed, or stopped after serving, is not a startup failure: start another.)
        const why = await startupFailure(options.dataDir, spawned.at);
        const failed = spawned.exit === 1 || spawned.exit === 2;
        if ((failed && !why?.transient) || spawns >= 5) {
          throw new IpcError(
            "E_UNAVAILABLE",
            why === undefined
              ? `The background broker exited (code ${spawned.exit}) without logging why in ` +
                `${options.dataDir}/broker.log: run "agent-ipc broker --data-dir ${options.dataDir}" to see the error`
              : `The background broker could not start: ${why.reason}`,
          );
        }
        // Lost to a broker that is starting (it will answer) or stopping (it will
        // let go): give it a second before starting another.
        if (Date.now() - spawned.at >= 1_000) {
          spawned = undefined;
          claim.held = false;
          await releaseSpawn(options.dataDir);
        }
      }
      if (!spawned && await claimSpawn(options.dataDir)) {
        claim.held = true;
        const s: { at: number; exit?: number } = spawned = { at: Date.now() };
        spawns++;
        spawnDetachedBroker(options).then((code) => s.exit = code, () => s.exit = -1);
      } else if (!spawned) {
        // Another client is starting the broker: wait for it, but a reason it
        // logged for failing is ours to report too.
        const why = await startupFailure(options.dataDir, started);
        if (why !== undefined && !why.transient) {
          throw new IpcError(
            "E_UNAVAILABLE",
            `The background broker could not start: ${why.reason}`,
          );
        }
      }
    } else if (options.role === "none") {
      break;
    }
    if (Date.now() >= deadline) break;
    // Jittered exponential backoff: 0-20 ms, 0-40 ms, … capped at 0-100 ms. A
    // refused connect on loopback costs next to nothing, while a higher cap
    // keeps clients asleep after the new broker listens (up to 400 ms measured).
    await sleep(Math.random() * Math.min(100, 20 * 2 ** attempt), options.signal);
  }
  if (isDataDirLocked(lastError)) throw lastError;
  throw new IpcError(
    "E_UNAVAILABLE",
    `No broker reachable on ${options.host}:${options.port}` +
      (options.role === "spawn"
        ? ` (a background broker was started: see ${options.dataDir}/broker.log)`
        : "") +
      (lastError ? `: ${(lastError as Error).message}` : ""),
  );
}
