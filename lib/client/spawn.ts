/**
 * The election's "spawn" role: a short-lived process (a CLI command) that
 * finds no broker starts a detached background broker of this same program,
 * one among all the clients that find none (a claim file in the data dir
 * decides who), and reads back why it could not start from the `start_failed`
 * record of its log (`<data-dir>/broker.log`, JSON lines).
 *
 * @module
 */

import { IpcError } from "../protocol/errors.ts";
import { TIMEOUTS } from "../defaults.ts";
import { RUN_FLAGS } from "../permissions.ts";
import { logger, parseJsonLines } from "../log.ts";
import { ensurePrivateDir } from "../state/data_dir.ts";

const log = logger("election");

/** Where the broker is to run: its address, data dir and extra arguments. */
export interface SpawnOptions {
  host: string;
  port: number;
  dataDir: string;
  /** Extra arguments for the detached broker (e.g. `--store`). */
  spawnArgs?: string[];
}

/** The command that starts a detached broker of this same program. */
export function brokerCommand(args: string[]): { cmd: string; args: string[] } {
  const standalone = (Deno.build as { standalone?: boolean }).standalone === true;
  if (standalone) return { cmd: Deno.execPath(), args: ["broker", ...args] };
  return {
    cmd: Deno.execPath(),
    args: ["run", ...RUN_FLAGS, programEntry(import.meta.url), "broker", ...args],
  };
}

/**
 * The program's entry module, given this module's URL: `main.ts` two levels
 * up (a local checkout or a remote URL), or, inside a `deno bundle` file where
 * this module is inlined, the bundle itself.
 */
function programEntry(here: string): string {
  const path = new URL(here).pathname;
  if (!path.endsWith("/lib/client/spawn.ts")) return here;
  return new URL("../../main.ts", here).href;
}

/**
 * Starts a detached background broker; it outlives this process. Resolves
 * with its exit code should it exit while this process runs.
 */
export function spawnDetachedBroker(options: SpawnOptions): Promise<number> {
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

/**
 * The election's step for role "spawn": start one detached broker among all the clients that
 * find none (a claim in the data dir decides who), and when it cannot start,
 * say why instead of waiting for the deadline.
 */
export class Spawner {
  readonly #o: SpawnOptions;
  readonly #since = Date.now();
  /** Our detached broker: when it started, and its exit code once it exited. */
  #spawned: { at: number; exit?: number } | undefined;
  #spawns = 0;
  #claimed = false;

  constructor(options: SpawnOptions) {
    this.#o = options;
  }

  /** One step of the loop: check on ours, or claim and start one, or watch another's. */
  async step(): Promise<void> {
    if (this.#spawned?.exit !== undefined) await this.#afterExit(this.#spawned);
    if (this.#spawned) return;
    if (await claimSpawn(this.#o.dataDir)) {
      this.#claimed = true;
      this.#start();
    } else {
      await this.#reportOthersFailure();
    }
  }

  /** Gives up the claim, if held. */
  async release(): Promise<void> {
    if (!this.#claimed) return;
    this.#claimed = false;
    await releaseSpawn(this.#o.dataDir);
  }

  #start(): void {
    const s: { at: number; exit?: number } = this.#spawned = { at: Date.now() };
    this.#spawns++;
    spawnDetachedBroker(this.#o).then((code) => s.exit = code, () => s.exit = -1);
  }

  /**
   * Ours exited and nobody answers: say why, unless it only lost a race with
   * a broker that is starting or stopping. (Killed, or stopped after serving,
   * is not a startup failure: start another.)
   */
  async #afterExit(spawned: { at: number; exit?: number }): Promise<void> {
    const dataDir = this.#o.dataDir;
    const why = await startupFailure(dataDir, spawned.at);
    const failed = spawned.exit === 1 || spawned.exit === 2;
    if ((failed && !why?.transient) || this.#spawns >= 5) {
      throw new IpcError(
        "E_UNAVAILABLE",
        why === undefined
          ? `The background broker exited (code ${spawned.exit}) without logging why in ` +
            `${dataDir}/broker.log: run "agent-ipc broker --data-dir ${dataDir}" to see the error`
          : `The background broker could not start: ${why.reason}`,
      );
    }
    // Lost to a broker that is starting (it will answer) or stopping (it will
    // let go): give it a second before starting another.
    if (Date.now() - spawned.at >= 1_000) {
      this.#spawned = undefined;
      await this.release();
    }
  }

  /** Another client is starting the broker: wait for it, but a reason it logged for failing is ours to report too. */
  async #reportOthersFailure(): Promise<void> {
    const why = await startupFailure(this.#o.dataDir, this.#since);
    if (why !== undefined && !why.transient) {
      throw new IpcError("E_UNAVAILABLE", `The background broker could not start: ${why.reason}`);
    }
  }
}
