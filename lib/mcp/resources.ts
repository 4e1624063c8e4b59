/**
 * The MCP resources `ipc://inbox` (unread messages, read without marking
 * them read) and `ipc://status` (JSON: name, broker, hosting, unread), and
 * their subscriptions: a subscriber of `ipc://inbox` gets
 * `notifications/resources/updated` when a message arrives, one of
 * `ipc://status` when the connection or the session changes.
 *
 * @module
 */

import {
  ErrorCode,
  McpError,
  type McpServer,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
} from "../deps.ts";
import { logger } from "../log.ts";
import type { McpAgent } from "./agent.ts";
import { formatMessages } from "./format.ts";
import { InboxWatcher } from "./inbox.ts";
import { errorText } from "./tools.ts";

const log = logger("mcp");

/** The inbox resource. */
export const INBOX_URI = "ipc://inbox";
/** The status resource. */
export const STATUS_URI = "ipc://status";

/** Resources and subscriptions. */
export interface IpcResources {
  /** Await `watcher.close()` after closing the agent, to see its loop end. */
  readonly watcher: InboxWatcher;
  /** Stops notifying and watching. */
  close(): void;
}

/** Registers the resources and subscription handlers. Call before `connect`. */
export function registerResources(
  server: McpServer,
  agent: McpAgent,
  options: { pollMs?: number } = {},
): IpcResources {
  const subscribed = new Set<string>();
  const updated = (uri: string) => {
    if (!subscribed.has(uri) || !server.isConnected()) return;
    server.server.sendResourceUpdated({ uri }).catch((e) =>
      log.debug(`resource update not sent: ${(e as Error).message}`)
    );
  };
  const watcher = new InboxWatcher({
    agent,
    pollMs: options.pollMs,
    onArrival: () => updated(INBOX_URI),
  });
  agent.ledger.onAcked = () => watcher.resync();
  const off = agent.on(() => updated(STATUS_URI));

  server.registerResource("inbox", INBOX_URI, {
    description: "Unread agent-ipc messages (reading this does not mark them read).",
    mimeType: "text/plain",
  }, async (uri) => {
    await agent.ready();
    let text: string;
    try {
      const u = await agent.unread();
      text = formatMessages(u.messages);
      if (u.count > u.messages.length) text += `\n\n(${u.count - u.messages.length} more)`;
    } catch (e) {
      text = errorText(e);
    }
    return { contents: [{ uri: uri.href, mimeType: "text/plain", text }] };
  });

  server.registerResource("status", STATUS_URI, {
    description: "agent-ipc connection status (JSON).",
    mimeType: "application/json",
  }, async (uri) => {
    await agent.ready();
    const status: Record<string, unknown> = {
      name: agent.name ?? null,
      broker: agent.address,
      connected: agent.connected,
      hosting: agent.hosting,
    };
    if (agent.lastError) status.last_error = agent.lastError;
    if (agent.name) {
      try {
        status.unread = (await agent.unread()).count;
      } catch (e) {
        status.last_error = errorText(e);
      }
    }
    return {
      contents: [{
        uri: uri.href,
        mimeType: "application/json",
        text: JSON.stringify(status, null, 2),
      }],
    };
  });

  server.server.registerCapabilities({ resources: { subscribe: true } });
  server.server.setRequestHandler(SubscribeRequestSchema, (req) => {
    const uri = req.params.uri;
    if (uri !== INBOX_URI && uri !== STATUS_URI) {
      throw new McpError(
        ErrorCode.InvalidParams,
        `Unknown resource "${uri}": subscribe to ${INBOX_URI} or ${STATUS_URI}`,
      );
    }
    subscribed.add(uri);
    if (subscribed.has(INBOX_URI)) watcher.start();
    return {};
  });
  server.server.setRequestHandler(UnsubscribeRequestSchema, (req) => {
    subscribed.delete(req.params.uri);
    if (!subscribed.has(INBOX_URI)) watcher.stop();
    return {};
  });

  return {
    watcher,
    close() {
      off();
      watcher.stop();
    },
  };
}
