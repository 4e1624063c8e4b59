/**
 * Hosting a broker: starts the broker and, beside it, its web console. The
 * broker knows nothing of the console; this module, at the top, composes the
 * two and hands the election its way to host a broker
 * ({@linkcode hostBrokerWith}).
 *
 * @module
 */

import { logger } from "../log.ts";
import { type Broker, type BrokerOptions, startBroker } from "../broker/server.ts";
import type { HostBroker } from "../client/election.ts";
import { startConsole, type WebConsole } from "../web/console_server.ts";

const log = logger("broker");

/** How to host a broker: the broker's options and, optionally, its console. */
export interface HostOptions extends BrokerOptions {
  /** The web console (HTTP, loopback by default); off when absent. */
  console?: { port: number; host?: string };
}

/** A running broker with its console, when that runs. */
export interface BrokerAndConsole extends Broker {
  /** The web console's address (without token), when it runs. */
  readonly consoleUrl?: string;
  /** The web console's login token, when it runs. */
  readonly consoleToken?: string;
}

/**
 * Starts a broker, then its console. The console is optional: a taken port
 * (or any failure) is logged and leaves the broker running without it.
 * Closing stops the console first, then the broker.
 *
 * @example
 * ```ts
 * await using hosted = await hostBroker({
 *   host: "127.0.0.1",
 *   port: 0,
 *   dataDir: "/tmp/x",
 *   console: { port: 0 },
 * });
 * console.log(hosted.consoleUrl);
 * ```
 */
export async function hostBroker(options: HostOptions): Promise<BrokerAndConsole> {
  const broker = await startBroker(options);
  const webConsole = options.console ? await startConsoleOf(broker, options.console) : undefined;
  let closing: Promise<void> | undefined;
  const close = () =>
    closing ??= (async () => {
      await webConsole?.close().catch((e) =>
        log.warn(`web console close: ${(e as Error).message}`)
      );
      await broker.close();
    })();
  return {
    hostname: broker.hostname,
    port: broker.port,
    service: broker.service,
    store: broker.store,
    dataDir: broker.dataDir,
    hostName: broker.hostName,
    finished: broker.finished,
    consoleUrl: webConsole?.url,
    consoleToken: webConsole?.token,
    close,
    [Symbol.asyncDispose]: close,
  };
}

async function startConsoleOf(
  broker: Broker,
  where: { port: number; host?: string },
): Promise<WebConsole | undefined> {
  try {
    const webConsole = await startConsole({
      service: broker.service,
      dataDir: broker.dataDir.path,
      port: where.port,
      host: where.host,
      hostName: broker.hostName,
      brokerAddress: `${broker.hostname}:${broker.port}`,
    });
    broker.service.consoleUrl = webConsole.url;
    return webConsole;
  } catch (e) {
    log.warn(
      e instanceof Deno.errors.AddrInUse
        ? `web console not started: port ${where.port} is already in use (--http-port, IPC_HTTP_PORT)`
        : `web console not started: ${(e as Error).message}`,
    );
    return undefined;
  }
}

/**
 * The election's way to host a broker ({@linkcode HostBroker}): a broker
 * (and console) with `options`, on the port and listener the election won.
 *
 * @example
 * ```ts
 * const client = await AgentClient.connect({
 *   host: "127.0.0.1", port: 9876, dataDir, role: "host",
 *   hostBroker: hostBrokerWith({ console: { port: 9877 } }),
 * });
 * ```
 */
export function hostBrokerWith(options: Partial<HostOptions> = {}): HostBroker {
  return (site) =>
    hostBroker({
      ...options,
      host: site.host,
      port: (site.listener.addr as Deno.NetAddr).port,
      dataDir: site.dataDir,
      listener: site.listener,
    });
}
