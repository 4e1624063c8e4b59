/**
 * Quiet markers: the files that let an assistant's hooks skip the broker
 * while there is nothing to show. `agents/pid-<P>.quiet` (in the broker's
 * private data dir) exists only while this broker knows that the queue of
 * the one session recorded for assistant process P (`agents/pid-<P>-<server>.json`) is
 * empty; it holds this broker's pid. The hook command `setup` writes tests
 * for it with the shell alone (`read` and `kill -0`, no process started) and
 * starts Deno only when it is missing or its broker is gone.
 *
 * A marker is made only at a session's request (`check` or `ack` with
 * `quiet_pid`, from a loopback client: a pid means nothing on another
 * machine) and only when the queue was empty with interest registered
 * BEFORE it was read, so a message that lands meanwhile cancels it. It goes
 * when:
 *
 * - a message arrives for the name, sent through this broker or (NATS) through
 *   another one (`arrived`, called where waiting receivers are woken);
 * - an audit every {@linkcode QUIET_AUDIT_MS} finds the queue not empty or the
 *   record for P naming another session (a missed notification costs at most
 *   that long);
 * - this broker stops; a new broker removes every marker it finds at start
 *   (it knows none of them), and the shell test's `kill -0` rejects the
 *   marker of a broker that died without cleaning up.
 *
 * @module
 */

import { join } from "node:path";
import { type Waiter, WaiterRegistry } from "./waiters.ts";

/** How often a marker's queue is counted again (bounds the cost of a missed notification). */
export const QUIET_AUDIT_MS = 30_000;

/** What the markers need from the broker. */
export interface QuietMarkerOptions {
  /** The broker's data dir (markers go in its `agents/` folder). */
  dataDir: string;
  /** Messages waiting in `name`'s queue. */
  depth: (name: string) => Promise<number>;
  /** Audit period (tests shorten it). */
  auditMs?: number;
}

interface Arm {
  pid: number;
  waiter: Waiter;
  cancel: () => void;
  /** The file is on disk. */
  written: boolean;
}

const MARKER = /^pid-\d+\.quiet$/;

/** The quiet markers of one broker. */
export class QuietMarkers {
  readonly #dir: string;
  readonly #depth: (name: string) => Promise<number>;
  readonly #auditMs: number;
  /** Interest in arrivals, one waiter per armed marker. */
  readonly #arrivals = new WaiterRegistry();
  readonly #armed = new Map<number, Arm>();
  #closed = false;

  /** Removes the markers an earlier broker left (this one knows none of them). */
  constructor(options: QuietMarkerOptions) {
    this.#dir = join(options.dataDir, "agents");
    this.#depth = options.depth;
    this.#auditMs = options.auditMs ?? QUIET_AUDIT_MS;
    try {
      for (const e of Deno.readDirSync(this.#dir)) {
        if (MARKER.test(e.name)) this.#unlink(join(this.#dir, e.name));
      }
    } catch {
      // No agents folder: no markers.
    }
  }

  /** Markers on disk now. */
  get size(): number {
    let n = 0;
    for (const a of this.#armed.values()) if (a.written) n++;
    return n;
  }

  /** Something arrived for `name`: its markers go (one map lookup when it has none). */
  arrived(name: string): void {
    this.#arrivals.wake(name);
  }

  /** `from` is now `to`. */
  renamed(from: string, to: string): void {
    this.#arrivals.rename(from, to);
  }

  /**
   * Call BEFORE reading `name`'s queue for the session recorded under `pid`;
   * then call what it returns with how many messages wait: 0 writes the
   * marker, unless something arrived in between.
   *
   * @example
   * ```ts
   * const commit = markers.begin("claude", 4242);
   * commit(await store.depth("claude"));
   * ```
   */
  begin(name: string, pid: number): (remaining: number) => void {
    if (this.#closed) return () => {};
    this.#drop(pid);
    const arm = { pid, written: false } as Arm;
    this.#listen(arm, name);
    this.#armed.set(pid, arm);
    return (remaining) => {
      if (this.#armed.get(pid) !== arm) return; // an arrival or a newer request came first
      if (remaining > 0 || this.#recordName(pid) !== name) return this.#drop(pid, arm);
      const path = this.#path(pid);
      const tmp = `${path}.${Deno.pid}.tmp`;
      try {
        // Whole or not at all: the shell reads the pid in it.
        Deno.writeTextFileSync(tmp, `${Deno.pid}\n`, { mode: 0o600 });
        Deno.renameSync(tmp, path);
        arm.written = true;
      } catch {
        this.#unlink(tmp);
        this.#drop(pid, arm);
      }
    };
  }

  /** Removes every marker (the broker stops). */
  close(): void {
    this.#closed = true;
    for (const pid of [...this.#armed.keys()]) this.#drop(pid);
    this.#arrivals.clear();
  }

  #listen(arm: Arm, name: string): void {
    arm.waiter = {
      name,
      deadline: Date.now() + this.#auditMs,
      settle: (woken) => woken ? this.#drop(arm.pid, arm) : void this.#audit(arm),
    };
    arm.cancel = this.#arrivals.add(arm.waiter);
  }

  /** The audit: interest first, then the count, as in `begin`. */
  async #audit(arm: Arm): Promise<void> {
    if (this.#closed || this.#armed.get(arm.pid) !== arm) return;
    const name = arm.waiter.name; // follows renames
    this.#listen(arm, name);
    let depth: number;
    try {
      depth = await this.#depth(name);
    } catch {
      depth = 1; // unknown: not quiet
    }
    if (this.#armed.get(arm.pid) !== arm) return;
    if (depth > 0 || this.#recordName(arm.pid) !== name) this.#drop(arm.pid, arm);
  }

  /** Drops the marker of `pid` (only `arm`'s, when given). */
  #drop(pid: number, arm?: Arm): void {
    const current = this.#armed.get(pid);
    if (!current || (arm && current !== arm)) return;
    this.#armed.delete(pid);
    current.cancel();
    if (current.written) this.#unlink(this.#path(pid));
  }

  /**
   * The name in the one session record of `pid` (`pid-<pid>-<server>.json`),
   * if it has exactly one: a new session may have replaced it, and a process
   * that runs several (Codex's shared daemon) gets no marker, since a shell
   * test could not tell its sessions apart.
   */
  #recordName(pid: number): string | undefined {
    try {
      const own = new RegExp(`^pid-${pid}(?:-\\d+)?\\.json$`);
      const files = [...Deno.readDirSync(this.#dir)].filter((e) => e.isFile && own.test(e.name));
      if (files.length !== 1) return undefined;
      const v = JSON.parse(Deno.readTextFileSync(join(this.#dir, files[0].name)));
      return typeof v?.name === "string" ? v.name : undefined;
    } catch {
      return undefined;
    }
  }

  #path(pid: number): string {
    return join(this.#dir, `pid-${pid}.quiet`);
  }

  #unlink(path: string): void {
    try {
      Deno.removeSync(path);
    } catch {
      // Gone already.
    }
  }
}
