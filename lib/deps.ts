/**
 * Every third-party import of agent-ipc, with full versioned `npm:` specifiers.
 *
 * Kept in one module so that the program also runs from a URL: a remote entry
 * module does not read `deno.json`, so no import may rely on an import map.
 *
 * @module
 */

// @ts-types="npm:@modelcontextprotocol/sdk@1.32.2/server/mcp"
export { McpServer, ResourceTemplate } from "npm:@modelcontextprotocol/sdk@1.32.2/server/mcp.js";
// @ts-types="npm:@modelcontextprotocol/sdk@1.32.2/server/stdio"
export { StdioServerTransport } from "npm:@modelcontextprotocol/sdk@1.32.2/server/stdio.js";
// @ts-types="npm:@modelcontextprotocol/sdk@1.32.2/types"
export {
  ErrorCode,
  McpError,
  ResourceUpdatedNotificationSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
} from "npm:@modelcontextprotocol/sdk@1.32.2/types.js";
// @ts-types="npm:@modelcontextprotocol/sdk@1.32.2/types"
export type { CallToolResult, JSONRPCMessage } from "npm:@modelcontextprotocol/sdk@1.32.2/types.js";
// @ts-types="npm:@modelcontextprotocol/sdk@1.32.2/shared/transport"
export type { Transport } from "npm:@modelcontextprotocol/sdk@1.32.2/shared/transport.js";
export { z } from "npm:zod@4.6.7";

// --- NATS (the `nats://` store: lib/state/nats_store.ts) ------------------
// The node transport runs on Deno's node:net / node:tls. Its values come from
// `loadNats()`, on first use: exported from here like the rest, this module's
// importers (every MCP server) evaluated the NATS packages too, 35-65 ms of
// its start, though only a `nats://` store uses them.
export type {
  Msg as NatsMsg,
  MsgHdrs as NatsMsgHdrs,
  NatsConnection,
  NodeConnectionOptions as NatsConnectionOptions,
  Subscription as NatsSubscription,
} from "npm:@nats-io/transport-node@3.4.0";
export type {
  JetStreamClient,
  JetStreamManager,
  StoredMsg as NatsStoredMsg,
  StreamConfig as NatsStreamConfig,
} from "npm:@nats-io/jetstream@3.4.0";
export type { KV, KvEntry } from "npm:@nats-io/kv@3.4.0";
export type { ObjectStore, Objm as NatsObjm } from "npm:@nats-io/obj@3.4.0";

/**
 * The values of the NATS packages the store uses, evaluated on the first call
 * (later calls get the same modules).
 */
export function loadNats() {
  return Promise.all([
    import("npm:@nats-io/transport-node@3.4.0"),
    import("npm:@nats-io/jetstream@3.4.0"),
    // The error classes the package does not re-export from its main entry (JetStreamNotEnabled).
    import("npm:@nats-io/jetstream@3.4.0/internal"),
    import("npm:@nats-io/kv@3.4.0"),
    import("npm:@nats-io/obj@3.4.0"),
  ]).then(([transport, js, internal, kv, obj]) => ({
    natsConnect: transport.connect,
    createInbox: transport.createInbox,
    credsAuthenticator: transport.credsAuthenticator,
    natsHeaders: transport.headers,
    NoRespondersError: transport.NoRespondersError,
    PermissionViolationError: transport.PermissionViolationError,
    RequestError: transport.RequestError,
    TimeoutError: transport.TimeoutError,
    nanos: transport.nanos,
    AckPolicy: js.AckPolicy,
    DeliverPolicy: js.DeliverPolicy,
    DiscardPolicy: js.DiscardPolicy,
    jetstream: js.jetstream,
    JetStreamApiCodes: js.JetStreamApiCodes,
    JetStreamApiError: js.JetStreamApiError,
    jetstreamManager: js.jetstreamManager,
    RetentionPolicy: js.RetentionPolicy,
    StorageType: js.StorageType,
    jserrors: internal.jserrors,
    Kvm: kv.Kvm,
    Objm: obj.Objm,
  }));
}

// --- Config files (`setup`: lib/setup/) -----------------------------------
// JSON with comments, edited as text so comments and layout stay.
export {
  applyEdits,
  findNodeAtLocation,
  getNodeValue,
  modify,
  parseTree,
  printParseErrorCode,
} from "npm:jsonc-parser@3.3.1";
export type {
  JSONPath,
  Node as JsonNode,
  ParseError as JsonParseError,
} from "npm:jsonc-parser@3.3.1";
// TOML with source positions, so one table can be replaced in the text.
export { ParseError as TomlParseError, parseTOML } from "npm:toml-eslint-parser@1.0.3";
export type { AST as TomlAst } from "npm:toml-eslint-parser@1.0.3";
// Line diffs for `setup --dry-run`.
export { structuredPatch } from "npm:diff@9.0.0";
