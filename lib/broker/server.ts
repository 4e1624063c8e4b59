/**
 * A running broker: the TCP (or TLS) listener, its connections and their
 * limits, the data dir lock, the store, periodic upkeep, and an orderly
 * shutdown (listener first, then connections, then the store).
 *
 * @module
 */

import { IpcError } from "../protocol/errors.ts";
import { LIMITS, SETTINGS, TIMEOUTS, TTLS } from "../defaults.ts";
import { logger, throttle } from "../log.ts";
import { openStore, sqlitePath } from "../state/open_store.ts";
import type { Retention, Store } from "../state/store.ts";
import { BrokerConnection, PreAuthBudget } from "./connection.ts";
import { PeerOwners } from "./peer_owners.ts";
import {
  type BrokerHost,
  type DataDir,
  ensurePrivateFiles,
  openDataDir,
} from "../state/data_dir.ts";
import { BrokerService, UNCLAIMED_QUEUE_MS } from "./service.ts";
import { dropExpiredClaims } from "./claims.ts";
import { toWire } from "./wire_messages.ts";

const log = logger("broker");
const connRefused = throttle(10_000);
const acceptFailed = throttle(10_000);

/** How a broker is set up. */
export interface BrokerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  dataDir: string;
  /** What runs this broker, for broker.lock (`agent-ipc stop` stops only a "broker"). */
  hostedBy?: BrokerHost;
  /** "sqlite" or a nats:// URL (ignored when `openedStore` is given). */
  store?: string;
  natsToken?: string;
  natsCreds?: string;
  /** Replicas of the NATS store's assets (undefined: automatic). */
  natsReplicas?: number;
  /** A store opened by the caller (tests). The broker closes it. */
  openedStore?: Store;
  /** IPC_SHARED_SECRET; otherwise the data dir's secret file. */
  secret?: string;
  maxFrame?: number;
  maxConnections?: number;
  /** Frame cap before a connection has a session (default 64 KiB). */
  preAuthMaxFrame?: number;
  /** Bytes buffered for connections without a session, together (default 16 MiB). */
  preAuthBufferBytes?: number;
  idleTimeoutMs?: number;
  queueCap?: number;
  historyDays?: number;
  /** An already bound listener (the election's winner passes the one it bound). */
  listener?: Deno.Listener;
  /** TLS for network mode: PEM certificate and key. */
  tls?: { cert: string; key: string };
  hostName?: string;
  /** The broker's clock in ms (tests move one by hand); `Date.now` by default. */
  now?: () => number;
}

/** A running broker. */
export interface Broker extends AsyncDisposable {
  readonly hostname: string;
  readonly port: number;
  readonly service: BrokerService;
  /** The store behind the service (the front ends use the service; this is for its owner). */
  readonly store: Store;
  readonly dataDir: DataDir;
  /** This machine's name as the broker records it on instances (absent when unknown). */
  readonly hostName?: string;
  /** Resolves once the broker has fully stopped. */
  readonly finished: Promise<void>;
  /** Stops: listener, then connections, then the store. Safe twice. */
  close(): Promise<void>;
}

function localHostName(): string | undefined {
  try {
    return Deno.hostname();
  } catch {
    return undefined;
  }
}

/** The connection limits of a broker, defaults applied. */
interface ConnectionLimits {
  maxFrame: number;
  idleTimeoutMs: number;
  maxConnections: number;
  preAuthMaxFrame: number;
  preAuthBudget: PreAuthBudget;
}

/**
 * Starts a broker. Fails with E_STORE when the data dir is locked by another
 * broker or the store cannot open, and with the OS error when the port is taken.
 *
 * @example
 * ```ts
 * await using broker = await startBroker({ host: "127.0.0.1", port: 0, dataDir: "/tmp/x" });
 * ```
 */
export async function startBroker(options: BrokerOptions): Promise<Broker> {
  const hostName = options.hostName ?? localHostName();
  const limits: ConnectionLimits = {
    maxFrame: options.maxFrame ?? SETTINGS.maxFrame.default,
    idleTimeoutMs: options.idleTimeoutMs ?? SETTINGS.idleTimeoutMs.default,
    maxConnections: options.maxConnections ?? SETTINGS.maxConnections.default,
    preAuthMaxFrame: options.preAuthMaxFrame ?? LIMITS.preAuthMaxFrameBytes,
    preAuthBudget: new PreAuthBudget(options.preAuthBufferBytes ?? LIMITS.preAuthBufferBytes),
  };
  const { dataDir, store, listener } = await openResources(options, hostName);
  const addr = listener.addr as Deno.NetAddr;
  // Who holds the data dir, and where: a client on another port, or a second
  // broker, can then name this one.
  await dataDir.recordAddress(addr.hostname, addr.port, options.hostedBy).catch((e) =>
    log.warn(`cannot record the address in broker.lock: ${(e as Error).message}`)
  );
  const service = new BrokerService({
    store,
    secret: dataDir.secret,
    dataDir: options.dataDir,
    queueCap: options.queueCap ?? SETTINGS.queueCap.default,
    maxFrame: limits.maxFrame,
    host: addr.hostname,
    port: addr.port,
    hostName,
    now: options.now,
  });
  const unwatch = store.watch?.((name, replies) => service.notify(name, replies));
  // Messages sent through brokers on other hosts, for the console's live view.
  const unwatchMessages = store.watchMessages?.((m) => {
    if (service.events.active) service.events.emit({ type: "message", message: toWire(m) });
  });
  const purger = startPurging(store, {
    unclaimedQueueMs: UNCLAIMED_QUEUE_MS,
    historyMs: (options.historyDays ?? SETTINGS.historyDays.default) * 86_400_000,
  });
  const accepting = acceptConnections(listener, service, limits);
  const stopSweeping = sweepConnections(accepting.open, limits.idleTimeoutMs);
  log.info(
    `listening on ${addr.hostname}:${addr.port} (pid ${Deno.pid}, data dir ${options.dataDir}, store ${store.kind})`,
    {
      event: "listening",
      host: addr.hostname,
      port: addr.port,
      pid: Deno.pid,
      data_dir: options.dataDir,
      store: store.kind,
    },
  );

  let finish!: () => void;
  const finished = new Promise<void>((r) => finish = r);
  let closing: Promise<void> | undefined;
  // In order: the listener, then the connections (in-flight requests answer first), then the store.
  const close = () =>
    closing ??= (async () => {
      log.info("shutting down", { event: "shutting_down" });
      await accepting.stop();
      stopSweeping();
      const purged = purger.stop();
      service.stop();
      await accepting.drain(TIMEOUTS.shutdownGraceMs);
      unwatch?.();
      unwatchMessages?.();
      await purged;
      await store.close().catch((e) => log.error(`store close failed: ${(e as Error).message}`));
      dataDir.release();
      log.info("stopped", { event: "stopped" });
      finish();
    })();

  return {
    hostname: addr.hostname,
    port: addr.port,
    service,
    store,
    dataDir,
    hostName,
    finished,
    close,
    [Symbol.asyncDispose]: close,
  };
}

/**
 * Step 1 of a start: locks the data dir, opens the store (its files private
 * first) and binds the port, in that order; on a failure, lets go of what
 * was taken.
 */
async function openResources(
  options: BrokerOptions,
  hostName: string | undefined,
): Promise<{ dataDir: DataDir; store: Store; listener: Deno.Listener }> {
  let listener = options.listener;
  let dataDir: DataDir | undefined;
  let store: Store | undefined = options.openedStore;
  try {
    dataDir = await openDataDir(options.dataDir, options.secret);
    if (!store && (options.store || "sqlite") === "sqlite") {
      const db = sqlitePath(options.dataDir);
      await ensurePrivateFiles([db, `${db}-wal`, `${db}-shm`]);
    }
    store ??= await openStore({
      store: options.store ?? "sqlite",
      dataDir: options.dataDir,
      natsToken: options.natsToken,
      natsCreds: options.natsCreds,
      natsReplicas: options.natsReplicas,
      hostName,
    });
    listener ??= options.tls
      ? Deno.listenTls({
        hostname: options.host,
        port: options.port,
        cert: options.tls.cert,
        key: options.tls.key,
      })
      : Deno.listen({ hostname: options.host, port: options.port });
    return { dataDir, store, listener };
  } catch (e) {
    listener?.close();
    await store?.close().catch(() => {});
    dataDir?.release();
    throw e;
  }
}

/**
 * Purges expired queues, forwards, history and file claims now and every hour. Upkeep
 * runs beside the service, not before it: a failover must not wait for a
 * purge that reads a large backlog (NATS streams are read whole). `stop`
 * ends the timer and resolves once a purge under way is done.
 */
function startPurging(store: Store, retention: Retention): { stop(): Promise<void> } {
  const purge = () =>
    store.purge(Date.now(), retention).then(
      async (r) => {
        const expiredClaims = await dropExpiredClaims(store, Date.now()).catch((e) => {
          log.warn(`purge of claims failed: ${(e as Error).message}`, { event: "purge_failed" });
          return 0;
        });
        if (r.expiredQueued || r.expiredForwards || r.expiredHistory || expiredClaims) {
          log.info(
            `purged ${r.expiredQueued} unclaimed, ${r.expiredHistory} history messages, ${r.expiredForwards} forwards, ${expiredClaims} expired claims`,
            { event: "purged", ...r, expiredClaims },
          );
        }
      },
      (e) => log.warn(`purge failed: ${(e as Error).message}`, { event: "purge_failed" }),
    );
  let purging: Promise<void> = purge();
  const timer = setInterval(() => purging = purging.then(purge), TTLS.purgeIntervalMs);
  return {
    stop() {
      clearInterval(timer);
      return purging;
    },
  };
}

/** The accepted connections of a listener, and how to stop taking and serving them. */
interface Accepting {
  /** The connections being served. */
  readonly open: ReadonlySet<BrokerConnection>;
  /** Closes the listener and waits for the accept loop to end. */
  stop(): Promise<void>;
  /** Lets in-flight requests answer (at most `graceMs`), then closes every connection. */
  drain(graceMs: number): Promise<void>;
}

/**
 * Accepts connections and serves each one. Over the limit a connection gets
 * E_BUSY and is closed; once half the slots are taken, one peer (process,
 * see `peer_owners.ts`) may hold only its share of them, checked before its
 * new connection is read. A failed accept (out of file descriptors) waits,
 * doubling up to 1 s, and goes on: it never ends the broker.
 */
function acceptConnections(
  listener: Deno.Listener,
  service: BrokerService,
  limits: ConnectionLimits,
): Accepting {
  const open = new Set<BrokerConnection>();
  const served = new Set<Promise<void>>();
  const owners = new PeerOwners((listener.addr as Deno.NetAddr).port);
  const connectionLimits = { ...limits, owners };
  const pressure = Math.max(1, Math.floor(limits.maxConnections / 2));
  const perPeer = Math.max(1, Math.floor(limits.maxConnections / LIMITS.peerConnectionShare));
  const track = (p: Promise<void>) => {
    const t = p.finally(() => served.delete(t));
    served.add(t);
  };
  const admit = async (c: BrokerConnection): Promise<void> => {
    const mine = await c.peer.owner?.();
    if (mine === undefined || c.closed) {
      c.admitted = true;
      return;
    }
    // Everybody's owner, in the same scan (lookups are batched).
    await Promise.all([...open].map((x) => x.peer.owner?.()));
    // Its admitted connections only: a burst of new ones must not refuse itself.
    let held = 1;
    for (const x of open) if (x.admitted && x.ownerKey === mine && !x.closed) held++;
    if (held <= perPeer) {
      c.admitted = true;
      return;
    }
    open.delete(c); // its slot is free at once; the refusal is only written
    connRefused((more) =>
      log.warn(
        `connection refused: ${mine} holds ${held - 1} of ${limits.maxConnections} connections` +
          (more ? ` (+${more} more since last report)` : ""),
        { event: "connection_refused", peer: mine, held: held - 1 },
      )
    );
    await c.refuse(
      "E_BUSY",
      `Broker busy: this process holds ${
        held - 1
      } connections, its share of ${limits.maxConnections}`,
    );
  };
  const serve = (conn: Deno.Conn) => {
    const c = new BrokerConnection(conn, service, connectionLimits);
    open.add(c);
    service.attach();
    // Under pressure, nothing is read before the peer is admitted.
    if (open.size <= pressure) c.admitted = true;
    track(
      (c.admitted ? Promise.resolve() : admit(c))
        .catch((e) => log.error(`admission failed: ${e}`))
        .then(() => c.closed ? undefined : c.serve())
        .catch((e) => log.error(`connection failed: ${e}`)).finally(() => {
          open.delete(c);
          service.detach(c.peer);
        }),
    );
  };
  const loop = (async () => {
    let backoff = 0;
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
        backoff = 0;
      } catch (e) {
        if (e instanceof Deno.errors.BadResource || e instanceof Deno.errors.Interrupted) break;
        // Out of file descriptors (EMFILE, ENFILE) or a connection reset before
        // it was accepted: wait (doubling, up to 1 s) and go on, never exit.
        backoff = Math.min(1_000, backoff ? backoff * 2 : TIMEOUTS.acceptBackoffMs);
        acceptFailed((more) =>
          log.warn(
            `accept failed: ${(e as Error).message}; retrying in ${backoff} ms` +
              (more ? ` (+${more} more since last report)` : ""),
            { event: "accept_failed", error: (e as Error).name },
          )
        );
        await new Promise((r) => setTimeout(r, backoff));
        continue;
      }
      if (open.size < limits.maxConnections) serve(conn);
      else {track(
          refuse(new BrokerConnection(conn, service, connectionLimits), limits.maxConnections),
        );}
    }
  })();
  return {
    open,
    async stop() {
      try {
        listener.close();
      } catch { /* closed */ }
      await loop;
      owners.close();
    },
    async drain(graceMs) {
      let graceTimer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        Promise.all([...open].map((c) => c.idle())),
        new Promise((r) => graceTimer = setTimeout(r, graceMs)),
      ]);
      clearTimeout(graceTimer);
      for (const c of open) c.close();
      await Promise.all([...served]);
    },
  };
}

/** Refuses a connection over the limit with E_BUSY, reporting it (throttled). */
function refuse(c: BrokerConnection, maxConnections: number): Promise<void> {
  connRefused((more) =>
    log.warn(
      `connection refused: ${maxConnections} connections already open` +
        (more ? ` (+${more} more since last report)` : ""),
      { event: "connection_refused", max_connections: maxConnections },
    )
  );
  return c.refuse(
    "E_BUSY",
    `Broker busy: all ${maxConnections} connection slots are taken (--max-connections)`,
  );
}

/**
 * Closes connections that stall: a frame started and not finished within
 * `idleTimeoutMs`, or replies the peer does not read. Returns the stop.
 */
function sweepConnections(
  open: ReadonlySet<BrokerConnection>,
  idleTimeoutMs: number,
): () => void {
  const timer = setInterval(() => {
    const now = Date.now();
    for (const c of open) {
      if ((c.partialSince && now - c.partialSince > idleTimeoutMs) || c.writeStuck(now)) {
        log.debug(`peer ${c.peer.id}: closed (idle or not reading)`);
        c.close();
      }
    }
  }, Math.max(50, Math.min(1000, idleTimeoutMs / 4)));
  return () => clearInterval(timer);
}

/** Throws unless `host` is loopback or TLS is configured (network mode). */
export function checkNetworkMode(host: string, tls: boolean, secretSet: boolean): void {
  const loopback = host === "localhost" || host === "::1" || host.startsWith("127.");
  if (loopback) return;
  if (!tls) {
    throw new IpcError(
      "E_BAD_FIELD",
      `Refusing plain TCP on non-loopback address "${host}": give --tls-cert and --tls-key (and set IPC_SHARED_SECRET)`,
    );
  }
  if (!secretSet) {
    throw new IpcError(
      "E_BAD_FIELD",
      `Network mode on "${host}" needs a shared secret: set IPC_SHARED_SECRET on every machine`,
    );
  }
}
