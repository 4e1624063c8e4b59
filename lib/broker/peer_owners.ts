/**
 * Who is on the other end of a connection: the broker's notion of a "peer"
 * for per-peer limits. On loopback every client is 127.0.0.1, so the address
 * says nothing; on Linux the owning process is found through /proc (see
 * `proc_net.ts`). Lookups are batched and spaced ({@linkcode PEER_SCAN_MS}
 * apart): one scan of /proc answers every connection waiting, so a flood of
 * fresh connections costs a bounded share of the broker's time. Only asked
 * for under pressure (failed proofs, many connections), never on the common
 * path. Where the owner cannot be found, a loopback peer is its connection,
 * and a network peer its address.
 *
 * @module
 */

import { TIMEOUTS } from "../defaults.ts";
import { clientOwners } from "../proc_net.ts";

/** The least time between two scans. */
export const PEER_SCAN_MS = TIMEOUTS.peerScanMs;

function isLoopback(host: string): boolean {
  return host.startsWith("127.") || host === "::1" || host === "::ffff:127.0.0.1";
}

/** Finds the owners of connections to one listening port. */
export class PeerOwners {
  readonly #port: number;
  readonly #scan: (port: number, clientPorts: Iterable<number>) => Promise<Map<number, number>>;
  #waiting = new Map<number, ((pid: number | undefined) => void)[]>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #lastScan = -Infinity;
  #scanning = false;
  #closed = false;
  /** Scans made so far (for tests and the chaos notes). */
  scans = 0;

  constructor(
    port: number,
    scan: (port: number, clientPorts: Iterable<number>) => Promise<Map<number, number>> =
      clientOwners,
  ) {
    this.#port = port;
    this.#scan = scan;
  }

  /**
   * The key of `remote`'s peer: `pid:N` for a loopback client whose process
   * was found, `ip:ADDR` for a network client, otherwise `fallback`.
   */
  async keyOf(remote: Deno.NetAddr, fallback: string): Promise<string> {
    if (!isLoopback(remote.hostname)) return `ip:${remote.hostname}`;
    if (this.#closed) return fallback;
    const pid = await this.#pid(remote.port);
    return pid === undefined ? fallback : `pid:${pid}`;
  }

  #pid(clientPort: number): Promise<number | undefined> {
    return new Promise((resolve) => {
      const list = this.#waiting.get(clientPort);
      if (list) list.push(resolve);
      else this.#waiting.set(clientPort, [resolve]);
      if (this.#timer === undefined && !this.#scanning) this.#schedule();
    });
  }

  #schedule(): void {
    const wait = Math.max(0, this.#lastScan + PEER_SCAN_MS - performance.now());
    this.#timer = setTimeout(() => void this.#run(), wait);
  }

  async #run(): Promise<void> {
    this.#timer = undefined;
    const waiting = this.#waiting;
    this.#waiting = new Map();
    this.#scanning = true;
    this.scans++;
    let found: Map<number, number>;
    try {
      found = await this.#scan(this.#port, waiting.keys());
    } catch {
      found = new Map();
    }
    this.#scanning = false;
    this.#lastScan = performance.now();
    for (const [port, list] of waiting) for (const r of list) r(found.get(port));
    // Lookups that came in during the scan wait for the next one.
    if (this.#waiting.size && this.#timer === undefined && !this.#closed) this.#schedule();
  }

  /** Cancels a pending scan (shutdown); waiting lookups get no owner. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const waiting = this.#waiting;
    this.#waiting = new Map();
    for (const list of waiting.values()) for (const r of list) r(undefined);
  }
}
