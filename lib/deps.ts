/**
 * Every third-party import of agent-ipc, with full versioned `npm:` specifiers.
 *
 * Kept in one module so that the program also runs from a URL: a remote entry
 * module does not read `deno.json`, so no import may rely on an import map.
 *
 * @module
 */

// @ts-types="npm:@modelcontextprotocol/sdk@1.32.2/server/mcp.js"
export {
  McpServer,
  ResourceTemplate,
} from "npm:@modelcontextprotocol/sdk@1.32.2/server/mcp.js";
// @ts-types="npm:@modelcontextprotocol/sdk@1.32.2/server/stdio.js"
export { StdioServerTransport } from "npm:@modelcontextprotocol/sdk@1.32.2/server/stdio.js";
// @ts-types="npm:@modelcontextprotocol/sdk@1.32.2/types.js"
export {
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
} from "npm:@modelcontextprotocol/sdk@1.32.2/types.js";
export { z } from "npm:zod@4.6.7";

// --- NATS (the `nats://` store: lib/state/nats_store.ts) ------------------
// The node transport runs on Deno's node:net / node:tls.
export {
  connect as natsConnect,
  createInbox,
  credsAuthenticator,
  headers as natsHeaders,
  nanos,
} from "npm:@nats-io/transport-node@3.4.0";
export type {
  Msg as NatsMsg,
  NatsConnection,
  NodeConnectionOptions as NatsConnectionOptions,
  Subscription as NatsSubscription,
} from "npm:@nats-io/transport-node@3.4.0";
export {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  jetstream,
  JetStreamApiError,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
} from "npm:@nats-io/jetstream@3.4.0";
export type {
  JetStreamClient,
  JetStreamManager,
  StoredMsg as NatsStoredMsg,
  StreamConfig as NatsStreamConfig,
} from "npm:@nats-io/jetstream@3.4.0";
export { Kvm } from "npm:@nats-io/kv@3.4.0";
export type { KV, KvEntry } from "npm:@nats-io/kv@3.4.0";
export { Objm } from "npm:@nats-io/obj@3.4.0";
export type { ObjectStore } from "npm:@nats-io/obj@3.4.0";
