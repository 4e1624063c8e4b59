/**
 * The assistant's session id as a client names it in a request's `_meta`.
 * Codex runs every window's MCP servers under one shared app-server daemon,
 * so the server's parent process says nothing about which window it serves;
 * Codex names the thread in each `tools/call` (`_meta.threadId`, also
 * `sessionId` and `x-codex-turn-metadata.thread_id`). Other clients may send
 * a `sessionId`.
 *
 * @module
 */

import type { JSONRPCMessage } from "../deps.ts";

/** Something with the MCP transport's `onmessage` (any transport). */
export interface Receiver {
  onmessage?: (message: JSONRPCMessage, extra?: never) => void;
}

/** The session id a request's `_meta` names, or undefined. */
export function sessionIdOfMeta(message: unknown): string | undefined {
  if (typeof message !== "object" || message === null) return undefined;
  const params = (message as { params?: unknown }).params;
  if (typeof params !== "object" || params === null) return undefined;
  const meta = (params as { _meta?: unknown })._meta;
  if (typeof meta !== "object" || meta === null) return undefined;
  const m = meta as Record<string, unknown>;
  const turn = m["x-codex-turn-metadata"] as Record<string, unknown> | undefined;
  for (const v of [m.threadId, m.sessionId, m.session_id, turn?.thread_id]) {
    if (typeof v === "string" && /^[\w.:-]{1,200}$/.test(v)) return v;
  }
  return undefined;
}

/**
 * Calls `learn` with the session id of each incoming request that names one,
 * before the server handles it. Call after the server connected the transport
 * (connecting sets `onmessage`).
 */
export function onSessionMeta<T extends Receiver>(transport: T, learn: (id: string) => void): T {
  const handle = transport.onmessage;
  if (!handle) return transport;
  transport.onmessage = (message, extra) => {
    const id = sessionIdOfMeta(message);
    if (id !== undefined) {
      try {
        learn(id);
      } catch { /* learning must not break a request */ }
    }
    handle(message, extra);
  };
  return transport;
}
