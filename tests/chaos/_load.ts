/**
 * Load with exact accounting, for the crash and graceful-stop scenarios:
 * agent worker processes (`_agent_worker.ts`) send and receive while the
 * scenario disrupts the broker; afterwards their files are read back and every
 * acknowledged send is checked: delivered to its recipient, in order per
 * sender, and never delivered again once the recipient acknowledged it.
 *
 * @module
 */

import { join } from "node:path";
import { PERMISSION_FLAGS } from "../../lib/permissions.ts";
import type { ElectionRole } from "../../lib/client/election.ts";
import type { WorkerConfig } from "./_agent_worker.ts";
import { brokerStatus, killPid, sleep } from "./_common.ts";

const WORKER = new URL("./_agent_worker.ts", import.meta.url).pathname;

/** One worker process (restartable: each start is a new incarnation). */
export class Worker {
  readonly role: ElectionRole;
  readonly names: string[];
  readonly #base: Omit<WorkerConfig, "role" | "names" | "inc" | "seed">;
  readonly #seed: number;
  inc = -1;
  child: Deno.ChildProcess | undefined;
  #writer: WritableStreamDefaultWriter<Uint8Array> | undefined;
  /** Lines the current incarnation printed. */
  events: Record<string, unknown>[] = [];
  #reading: Promise<void> = Promise.resolve();

  constructor(
    role: ElectionRole,
    names: string[],
    seed: number,
    base: Omit<WorkerConfig, "role" | "names" | "inc" | "seed">,
  ) {
    this.role = role;
    this.names = names;
    this.#seed = seed;
    this.#base = base;
  }

  /** Starts a new incarnation. */
  start(): void {
    this.inc++;
    const config: WorkerConfig = {
      ...this.#base,
      role: this.role,
      names: this.names,
      inc: this.inc,
      seed: this.#seed * 1000 + this.inc,
    };
    const child = this.child = new Deno.Command(Deno.execPath(), {
      args: ["run", ...PERMISSION_FLAGS, WORKER, JSON.stringify(config)],
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    this.#writer = child.stdin.getWriter();
    const events: Record<string, unknown>[] = this.events = [];
    this.#reading = (async () => {
      let buf = "";
      try {
        for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
          buf += chunk;
          let nl;
          while ((nl = buf.indexOf("\n")) >= 0) {
            try {
              events.push(JSON.parse(buf.slice(0, nl)));
            } catch { /* not ours */ }
            buf = buf.slice(nl + 1);
          }
        }
      } catch { /* killed */ }
    })();
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Number of its agents that registered in this incarnation. */
  get ready(): number {
    return this.events.filter((e) => e.ready).length;
  }

  async command(cmd: string): Promise<void> {
    await this.#writer?.write(new TextEncoder().encode(cmd + "\n")).catch(() => {});
  }

  /** SIGKILL; waits for the process to be gone. */
  async kill(): Promise<void> {
    if (!this.child) return;
    try {
      this.child.kill("SIGKILL");
    } catch { /* exited */ }
    await this.child.status;
    await this.#writer?.close().catch(() => {});
    await this.#reading;
  }

  /** The summary printed on `stop`, if any. */
  summary(): Record<string, unknown> | undefined {
    return this.events.find((e) => e.stopped);
  }
}

/** What the files say. */
export interface Ledger {
  /** Sends that failed (not acknowledged; they may still have been delivered). */
  failed: number;
  acked: number;
  /** Unique message ids recorded by their recipients. */
  delivered: number;
  /** Acknowledged sends whose recipient never recorded them. */
  lost: string[];
  /** The recipient of each lost send. */
  lostTo?: Map<string, string>;
  /** A delivery of an id seen before (allowed before its ack). */
  redelivered: number;
  /** One (sender, inc, k) under two ids: a send retried across a failover (allowed). */
  resent: number;
  /** A delivery of an id after its recipient's ack of it succeeded. */
  afterAck: string[];
  /** A sender's messages arriving out of order. */
  disorder: string[];
}

interface SentLine {
  to: string;
  inc: number;
  k: number;
  id: string;
}

function readLines(path: string): Record<string, unknown>[] {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch {
    return [];
  }
  const out: Record<string, unknown>[] = [];
  for (const line of text.split("\n")) {
    if (!line) continue;
    try {
      out.push(JSON.parse(line));
    } catch { /* a line cut by SIGKILL mid-write: the rest of the file counts */ }
  }
  return out;
}

/** Reads every agent's files and checks them. */
export function readLedger(outDir: string, names: string[]): Ledger {
  const acked = new Map<string, SentLine>();
  let failed = 0;
  for (const n of names) {
    for (const l of readLines(join(outDir, `${n}.sent`))) {
      if (l.failed !== undefined) failed++;
      else acked.set(l.id as string, l as unknown as SentLine);
    }
  }
  const seenBy = new Map<string, Set<string>>();
  let redelivered = 0;
  let resent = 0;
  const afterAck: string[] = [];
  const disorder: string[] = [];
  for (const n of names) {
    const seen = new Set<string>();
    const ackedHere = new Set<string>();
    const last = new Map<string, [number, number]>();
    for (const l of readLines(join(outDir, `${n}.recv`))) {
      if (Array.isArray(l.acked)) {
        for (const id of l.acked as string[]) ackedHere.add(id);
        continue;
      }
      const id = l.id as string;
      if (ackedHere.has(id)) afterAck.push(`${n} got ${id} again after acknowledging it`);
      if (seen.has(id)) {
        redelivered++;
        continue;
      }
      seen.add(id);
      const from = l.from as string;
      const key: [number, number] = [l.inc as number, l.k as number];
      const prev = last.get(from);
      if (prev) {
        const cmp = key[0] - prev[0] || key[1] - prev[1];
        if (cmp < 0) {
          disorder.push(`${n}: from ${from} ${key.join(":")} after ${prev.join(":")}`);
        } else if (cmp === 0) resent++;
      }
      if (!prev || key[0] > prev[0] || (key[0] === prev[0] && key[1] >= prev[1])) {
        last.set(from, key);
      }
    }
    seenBy.set(n, seen);
  }
  const lost: string[] = [];
  let delivered = 0;
  for (const s of seenBy.values()) delivered += s.size;
  const lostTo = new Map<string, string>();
  for (const [id, l] of acked) {
    if (!seenBy.get(l.to)?.has(id)) {
      lost.push(id);
      lostTo.set(id, l.to);
    }
  }
  return {
    failed,
    acked: acked.size,
    delivered,
    lost,
    lostTo,
    redelivered,
    resent,
    afterAck,
    disorder,
  };
}

/** Waits until every acknowledged send is recorded (or `ms` passes); returns the last ledger. */
export async function drain(outDir: string, names: string[], ms: number): Promise<Ledger> {
  const deadline = Date.now() + ms;
  let ledger = readLedger(outDir, names);
  while (ledger.lost.length > 0 && Date.now() < deadline) {
    await sleep(500);
    ledger = readLedger(outDir, names);
  }
  return ledger;
}

/** Kills every broker still answering on `port` (detached ones included). */
export async function killBrokersOn(port: number): Promise<void> {
  for (let i = 0; i < 20; i++) {
    const s = await brokerStatus(port, 1_000);
    if (!s) return;
    killPid(s.pid, "SIGKILL");
    await sleep(200);
  }
}
