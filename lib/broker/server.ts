/**
 * A running broker: the TCP (or TLS) listener, its connections and their
 * limits, the data dir lock, the store, periodic upkeep, and an orderly
 * shutdown (listener first, then connections, then the store).
 *
 * @module
 */

import { IpcError } from "../protocol/errors.ts";
import { SETTINGS, TIMEOUTS, TTLS } from "../defaults.ts";
import { logger, throttle } from "../log.ts";
import { openStore, sqlitePath } from "../state/open_store.ts";
import type { Store } from "../state/store.ts";
import { BrokerConnection } from "./connection.ts";
import { type DataDir, ensurePrivateFiles, openDataDir } from "../state/data_dir.ts";
import { BrokerService, UNCLAIMED_QUEUE_MS } from "./service.ts";

const log = logger("broker");
const connRefused = throttle(10_000);

/** How a broker is set up. */
export interface BrokerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  dataDir: string;
  /** "sqlite" or a nats:// URL (ignored when `openedStore` is given). */
  store?: string;
  natsToken?: string;
  natsCreds?: string;
  /** A store opened by the caller (tests). The broker closes it. */
  openedStore?: Store;
  /** IPC_SHARED_SECRET; otherwise the data dir's secret file. */
  secret?: string;
  maxFrame?: number;
  maxConnections?: number;
  idleTimeoutMs?: number;
  queueCap?: number;
  historyDays?: number;
  /** An already bound listener (the election's winner passes the one it bound). */
  listener?: Deno.Listener;
  /** TLS for network mode: PEM certificate and key. */
  tls?: { cert: string; key: string };
  hostName?: string;
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
  const maxFrame = options.maxFrame ?? SETTINGS.maxFrame.default;
  const idleTimeoutMs = options.idleTimeoutMs ?? SETTINGS.idleTimeoutMs.default;
  const maxConnections = options.maxConnections ?? SETTINGS.maxConnections.default;
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
  } catch (e) {
    listener?.close();
    await store?.close().catch(() => {});
    dataDir?.release();
    throw e;
  }
  const addr = listener.addr as Deno.NetAddr;
  const service = new BrokerService({
    store,
    secret: dataDir.secret,
    dataDir: options.dataDir,
    queueCap: options.queueCap ?? SETTINGS.queueCap.default,
    maxFrame,
    host: addr.hostname,
    port: addr.port,
    hostName,
  });
  const unwatch = store.watch?.((name: string) => service.notify(name));
  const connections = new Set<BrokerConnection>();
  const served = new Set<Promise<void>>();
  const retention = {
    unclaimedQueueMs: UNCLAIMED_QUEUE_MS,
    historyMs: (options.historyDays ?? SETTINGS.historyDays.default) * 86_400_000,
  };
  const purge = () =>
    store!.purge(Date.now(), retention).then(
      (r) => {
        if (r.expiredQueued || r.expiredForwards || r.expiredHistory) {
          log.info(
            `purged ${r.expiredQueued} unclaimed, ${r.expiredHistory} history messages, ${r.expiredForwards} forwards`,
          );
        }
      },
      (e) => log.warn(`purge failed: ${(e as Error).message}`),
    );
  // Upkeep runs beside the service, not before it: a failover must not wait for
  // a purge that reads a large backlog (NATS streams are read whole).
  let purging: Promise<void> = purge();
  const purgeTimer = setInterval(() => purging = purging.then(purge), TTLS.purgeIntervalMs);
  const sweepTimer = setInterval(() => {
    const now = Date.now();
    for (const c of connections) {
      if ((c.partialSince && now - c.partialSince > idleTimeoutMs) || c.writeStuck(now)) {
        log.debug(`peer ${c.peer.id}: closed (idle or not reading)`);
        c.close();
      }
    }
  }, Math.max(50, Math.min(1000, idleTimeoutMs / 4)));

  const l = listener;
  const accepting = (async () => {
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await l.accept();
      } catch (e) {
        if (e instanceof Deno.errors.BadResource || e instanceof Deno.errors.Interrupted) break;
        log.warn(`accept failed: ${(e as Error).message}`);
        await new Promise((r) => setTimeout(r, 10));
        continue;
      }
      if (connections.size >= maxConnections) {
        connRefused((more) =>
          log.warn(
            `connection refused: ${maxConnections} connections already open` +
              (more ? ` (+${more} more since last report)` : ""),
          )
        );
        try {
          conn.close();
        } catch { /* gone */ }
        continue;
      }
      const c = new BrokerConnection(conn, service, { maxFrame, idleTimeoutMs });
      connections.add(c);
      service.attach();
      const p = c.serve().catch((e) => log.error(`connection failed: ${e}`)).finally(() => {
        connections.delete(c);
        service.detach(c.peer);
        served.delete(p);
      });
      served.add(p);
    }
  })();

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
  const close = () =>
    closing ??= (async () => {
      log.info("shutting down");
      try {
        l.close();
      } catch { /* closed */ }
      await accepting;
      clearInterval(sweepTimer);
      clearInterval(purgeTimer);
      service.stop();
      // Let in-flight requests answer (bounded), then close every connection.
      let graceTimer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        Promise.all([...connections].map((c) => c.idle())),
        new Promise((r) => graceTimer = setTimeout(r, TIMEOUTS.shutdownGraceMs)),
      ]);
      clearTimeout(graceTimer);
      for (const c of connections) c.close();
      await Promise.all([...served]);
      unwatch?.();
      await purging;
      try {
        await store!.close();
      } catch (e) {
        log.error(`store close failed: ${(e as Error).message}`);
      }
      dataDir!.release();
      log.info("stopped");
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
