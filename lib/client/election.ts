/**
 * The "democratic" election: connect to the broker on the well-known port,
 * or, when nobody answers, race to bind it. A long-lived process (the MCP
 * server) that wins hosts the broker in-process, the way its command layer
 * gave it ({@linkcode HostBroker}: this layer never starts one itself); a
 * short-lived one (a CLI command) starts a detached background broker instead
 * (`spawn.ts`). Retries use jittered exponential backoff so survivors of a
 * broker's death do not stampede.
 *
 * @module
 */

import { randomBytes } from "node:crypto";
import { brokerProof, constantTimeEqual } from "../protocol/auth.ts";
import { IpcError } from "../protocol/errors.ts";
import { TIMEOUTS } from "../defaults.ts";
import { logger } from "../log.ts";
import { heldMessage, isDataDirLocked, lockHolder, lockRecord } from "../state/data_dir.ts";
import {
  BrokerNotRespondingError,
  type ConnectOptions,
  FramedClient,
  NotABrokerError,
} from "./framed_client.ts";
import { Spawner } from "./spawn.ts";

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
  /** Where `brokerSecret` comes from, for the advice when the broker cannot prove it. */
  secretSource?: "env" | "file";
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
            void BrokerNotRespondingError.of(options.host, options.port, TIMEOUTS.pingMs)
              .then(reject),
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
      throw new IpcError("E_AUTH", secretMismatchMessage(options), {
        secret_source: options.secretSource,
      });
    }
    return client;
  } catch (e) {
    client.close();
    await client.closed;
    // A peer that answers, but not as a broker, is another program. A peer that
    // closes or stays silent may be a broker starting or dying: the caller retries.
    if (e instanceof IpcError && e.details?.broker_code === "E_BUSY") {
      throw new IpcError(
        "E_BUSY",
        `The broker on ${options.host}:${options.port} is busy: ${
          e.message.replace(/^.*?[Bb]usy: /, "")
        }. Retry later; if this persists, a program holds too many connections to it ` +
          "(the broker's log names it), or raise its --max-connections",
        undefined,
        { cause: e },
      );
    }
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
 * What to say when the broker on the port cannot prove our secret: the likely
 * cause first (this shell's secret differs from the broker's), then the rare
 * one (another user's broker, or an impostor).
 */
function secretMismatchMessage(options: ElectionOptions): string {
  const at = `${options.host}:${options.port}`;
  const likely = options.secretSource === "env"
    ? "this shell's IPC_SHARED_SECRET (or IPC_SHARED_SECRET_FILE) differs from the broker's " +
      "secret. Set the same value " +
      `where the broker runs, or unset it on both so both use ${options.dataDir}/secret`
    : `the broker does not use this data dir's secret (${options.dataDir}/secret): it was ` +
      "most likely started with IPC_SHARED_SECRET set (set the same value here) or with " +
      "another --data-dir (use the same one here)";
  return `The broker on ${at} cannot prove it knows your shared secret. Most likely ${likely}. ` +
    "Rarer: it is another user's broker, or an impostor; nothing was sent to it (then use a " +
    "port of your own, --port / IPC_PORT)";
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
  const spawner = options.role === "spawn" ? new Spawner(options) : undefined;
  try {
    return await elect(options, spawner);
  } finally {
    // Connected, failed or cancelled: a claim to start the broker ends here.
    await spawner?.release();
  }
}

/**
 * The election loop: connect; when nobody answers, host (role "host") or
 * start (role "spawn") a broker; back off; until connected or the deadline.
 */
async function elect(options: ElectionOptions, spawner: Spawner | undefined): Promise<Elected> {
  const deadline = Date.now() + (options.timeoutMs ?? TIMEOUTS.electionMs);
  const started = Date.now();
  let lastError: unknown;
  for (let attempt = 0;; attempt++) {
    if (options.signal?.aborted) throw new IpcError("E_UNAVAILABLE", "Election cancelled");
    const connected = await tryConnect(options, started);
    if ("client" in connected) return connected;
    lastError = connected.error;
    // A broker holds the port but is slow to answer: neither hosting nor
    // starting another can help; ask it again.
    if (lastError instanceof BrokerNotRespondingError) continue;
    // Nobody on our port, but a broker for our data dir runs on another: a
    // broker started here could never open the data dir. Say where it is, now.
    if (isRefused(lastError)) {
      const elsewhere = await brokerElsewhere(options);
      if (elsewhere) throw elsewhere;
    }
    if (options.role === "host") {
      const hosting = await tryToHost(options);
      if ("elected" in hosting) return hosting.elected;
      lastError = hosting.error ?? lastError;
    } else if (spawner) {
      await spawner.step();
    } else {
      break; // role "none": one try
    }
    if (Date.now() >= deadline) break;
    await backoff(attempt, options.signal);
  }
  throw unreachable(options, lastError);
}

/**
 * Step 1: connect to whoever holds the port and check it is our broker.
 * Throws when retrying cannot help (another program holds the port, a
 * broker that cannot prove our secret, one that is busy or does not answer);
 * otherwise returns why it failed.
 */
async function tryConnect(
  options: ElectionOptions,
  started: number,
): Promise<{ client: FramedClient } | { error: unknown }> {
  try {
    return { client: await connectVerified(options) };
  } catch (e) {
    // Another program, a broker that cannot prove our secret, or one with no
    // free slot: retrying will not help, and starting another broker cannot.
    if (
      e instanceof NotABrokerError ||
      (e instanceof IpcError && (e.code === "E_AUTH" || e.code === "E_BUSY"))
    ) throw e;
    // A broker holds the port and accepted, but does not answer: a stopped
    // process says so at once; otherwise (a broker still opening its store
    // answers late) give it until a second silence.
    if (e instanceof BrokerNotRespondingError) {
      if (e.stopped || Date.now() - started >= 2 * TIMEOUTS.pingMs) throw e;
      return { error: e };
    }
    if (!isRefused(e)) log.debug(`connect failed: ${(e as Error).message}`);
    return { error: e };
  }
}

/**
 * Step 2, role "host": bind the port and host the broker on it, with the
 * capability the command layer gave. Returns nothing when another process
 * bound the port first, and the lock error when a broker that is starting or
 * stopping still holds the data dir (both: try again).
 */
async function tryToHost(
  options: ElectionOptions,
): Promise<{ elected: Elected } | { error?: unknown }> {
  let listener: Deno.Listener;
  try {
    listener = Deno.listen({ hostname: options.host, port: options.port });
  } catch (e) {
    if (e instanceof Deno.errors.AddrInUse) return {};
    throw e;
  }
  let hosted: HostedBroker;
  try {
    hosted = await options.hostBroker!({ host: options.host, listener, dataDir: options.dataDir });
  } catch (e) {
    // The data dir is still held by a broker that is stopping (it closed
    // its port first) or starting (it binds its port last): retry.
    if (isDataDirLocked(e)) return { error: e };
    throw e;
  }
  log.info(`won the election: hosting the broker on ${options.host}:${hosted.port}`);
  try {
    return {
      elected: { client: await connectVerified({ ...options, port: hosted.port }), hosted },
    };
  } catch (e) {
    await hosted.close();
    throw e;
  }
}

/**
 * The error for a client whose port has no broker while the broker of its
 * data dir listens on another port (its lock file says where), or undefined.
 */
async function brokerElsewhere(options: ElectionOptions): Promise<IpcError | undefined> {
  if (options.port === 0) return undefined;
  // The record first, without a lock: during a failover every client looks here, and
  // only a record of another port is worth checking (a shared lock for an instant,
  // which a broker starting at that instant would take for a held data dir).
  const recorded = await lockRecord(options.dataDir);
  if (recorded?.port === undefined || recorded.port === options.port) return undefined;
  const holder = await lockHolder(options.dataDir);
  if (holder?.port === undefined || holder.port === options.port) return undefined;
  return new IpcError("E_UNAVAILABLE", heldMessage(options.dataDir, holder), {
    data_dir: options.dataDir,
    running_host: holder.host,
    running_port: holder.port,
    running_pid: holder.pid,
  });
}

/**
 * Jittered exponential backoff: 0-20 ms, 0-40 ms, … capped at 0-100 ms. A
 * refused connect on loopback costs next to nothing, while a higher cap
 * keeps clients asleep after the new broker listens (up to 400 ms measured).
 */
function backoff(attempt: number, signal?: AbortSignal): Promise<void> {
  return sleep(Math.random() * Math.min(100, 20 * 2 ** attempt), signal);
}

/** The error of an election that ran out of time (or of tries, role "none"). */
function unreachable(options: ElectionOptions, lastError: unknown): unknown {
  if (isDataDirLocked(lastError)) return lastError;
  return new IpcError(
    "E_UNAVAILABLE",
    `No broker reachable on ${options.host}:${options.port}` +
      (options.role === "spawn"
        ? ` (a background broker was started: see ${options.dataDir}/broker.log)`
        : "") +
      (lastError ? `: ${(lastError as Error).message}` : ""),
  );
}
