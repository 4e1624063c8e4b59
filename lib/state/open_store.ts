/**
 * Opens the store a broker was configured with: the embedded SQLite file in
 * the data dir (default), or NATS JetStream for `nats://` URLs. The NATS
 * client is loaded only when used, so the default start stays fast.
 *
 * @module
 */

import { join } from "node:path";
import { IpcError } from "../protocol/errors.ts";
import type { Store } from "./store.ts";

/** Where a broker's state goes. */
export interface StoreChoice {
  /** "sqlite" or a `nats://` / `tls://` URL. */
  store: string;
  dataDir: string;
  natsToken?: string;
  natsCreds?: string;
  natsReplicas?: number;
  hostName?: string;
}

/** The SQLite file inside a data dir. */
export function sqlitePath(dataDir: string): string {
  return join(dataDir, "agent-ipc.db");
}

/** Opens the configured store. Throws IpcError E_STORE with the fix on failure. */
export async function openStore(choice: StoreChoice): Promise<Store> {
  if (choice.store === "sqlite" || choice.store === "") {
    const { openSqliteStore } = await import("./sqlite_store.ts");
    return await openSqliteStore(sqlitePath(choice.dataDir));
  }
  if (/^(nats|tls):\/\//.test(choice.store)) {
    const { openNatsStore } = await import("./nats_store.ts");
    return await openNatsStore(choice.store, {
      token: choice.natsToken,
      credsFile: choice.natsCreds,
      replicas: choice.natsReplicas,
      host: choice.hostName,
    });
  }
  throw new IpcError(
    "E_STORE",
    `Unknown store "${choice.store}": use "sqlite" or a nats://host:4222 URL`,
  );
}
