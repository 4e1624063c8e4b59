/**
 * A connection as the broker's rules see it, and what a handled request
 * gives back to the connection.
 *
 * @module
 */

/** A connection as the rules see it. */
export interface Peer {
  readonly id: number;
  readonly legacy: boolean;
  /** Connected over loopback: a client on this machine (its pids mean something here). */
  readonly local?: boolean;
  /** The name this connection's session belongs to, once it has shown one. */
  name?: string;
  /** The hash of the session token it showed. */
  tokenHash?: string;
  /** Failed register or session attempts on this connection. */
  failures: number;
  /** Who is on the other end ("pid:4242", "ip:10.0.0.2", "conn:7"), once looked up. */
  ownerKey?: string;
  /** Looks up (once) and sets {@linkcode ownerKey}; absent when it cannot be known. */
  owner?: () => Promise<string>;
  /** When the service last recorded this connection's activity (broker clock). */
  touchedAt?: number;
  /** Aborted when the connection closes. */
  readonly signal: AbortSignal;
}

/** A reply body (the connection adds `id`) and work to do once it is written. */
export interface HandlerResult {
  reply: Record<string, unknown>;
  /** Run after the reply was written to the socket (legacy check-and-clear). */
  afterWrite?: () => Promise<void>;
}
