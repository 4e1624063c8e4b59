/**
 * The agent-ipc wire protocol as types: requests are a discriminated union on
 * `action`, replies share one envelope. The same field names serve framed and
 * legacy connections (see docs/protocol.md).
 *
 * @module
 */

import type { ErrorCode } from "./errors.ts";

/** A request correlation id: echoed in the reply of a framed request. */
export type RequestId = string | number;

/** Arbitrary JSON object carried with a message. */
export type JsonObject = Record<string, unknown>;

/** The body of a message as the sender gives it. */
export interface MessageBody {
  content: string;
  data?: JsonObject;
}

/** Fields every request may carry. */
interface RequestBase {
  id?: RequestId;
  session_token?: string;
}

/** `register`: claim a name with the shared-secret proof. */
export interface RegisterRequest extends RequestBase {
  action: "register";
  instance_id: string;
  auth_token: string;
}
/** `send`: queue one message for one instance (or a future one). */
export interface SendRequest extends RequestBase {
  action: "send";
  to_id: string;
  message: MessageBody;
  /**
   * Idempotency key chosen by the client (8-64 of `A-Z a-z 0-9 _ -`), reused
   * on every retry of one send: a repeat within 24 hours stores nothing and
   * gets the first message's id with `duplicate: true`.
   */
  client_id?: string;
  /** Shown first in the recipient's `check`, and flagged in every view. */
  urgent?: boolean;
}
/**
 * `reply`: answer a message the caller received (by its id or short id). The
 * reply goes to that message's sender and carries `reply_to` and `thread_id`.
 */
export interface ReplyRequest extends RequestBase {
  action: "reply";
  message_id: string;
  message: MessageBody;
  client_id?: string;
  urgent?: boolean;
}
/**
 * `wait_reply`: wait up to `timeout_ms` for a reply to a message the caller
 * sent. The reply is returned unacknowledged (the client acks it once shown);
 * on timeout nothing is consumed, and a later reply stays queued as usual.
 */
export interface WaitReplyRequest extends RequestBase {
  action: "wait_reply";
  message_id: string;
  timeout_ms?: number;
}
/** `receipt`: where a message the caller sent is (queued, delivered, read, replied). */
export interface ReceiptRequest extends RequestBase {
  action: "receipt";
  message_id: string;
}
/** `thread`: every message of the conversation a message belongs to, oldest first. */
export interface ThreadRequest extends RequestBase {
  action: "thread";
  message_id: string;
  limit?: number;
}
/** `broadcast`: queue one message for every other registered instance. */
export interface BroadcastRequest extends RequestBase {
  action: "broadcast";
  message: MessageBody;
  /** Idempotency key as for `send`, applied per recipient. */
  client_id?: string;
}
/** `check`: read the caller's queue (framed: leave unacked unless `ack`). */
export interface CheckRequest extends RequestBase {
  action: "check";
  ack?: boolean;
  limit?: number;
  /**
   * An assistant process on the broker's machine whose hooks may skip the
   * broker while this queue stays empty: when the check finds it empty, the
   * broker keeps `agents/pid-<quiet_pid>.quiet` in its data dir until
   * anything arrives (loopback clients only; see `broker/quiet_markers.ts`).
   */
  quiet_pid?: number;
}
/** `ack`: remove delivered messages from the caller's queue. */
export interface AckRequest extends RequestBase {
  action: "ack";
  ids: string[];
  /** As for `check`: when the ack leaves the queue empty. */
  quiet_pid?: number;
}
/** `wait`: like check, but the reply waits up to `timeout_ms` for a message. */
export interface WaitRequest extends RequestBase {
  action: "wait";
  timeout_ms?: number;
  ack?: boolean;
  limit?: number;
}
/** `list`: every known instance. */
export interface ListRequest extends RequestBase {
  action: "list";
}
/** `rename`: change the caller's own name. */
export interface RenameRequest extends RequestBase {
  action: "rename";
  new_id: string;
  /** Accepted for legacy clients; must be the caller's own name. */
  old_id?: string;
}
/** `whoami`: the caller's name and queue depth. */
export interface WhoamiRequest extends RequestBase {
  action: "whoami";
}
/** `status`: broker address, pid, version, uptime, data dir, store, queues. */
export interface StatusRequest extends RequestBase {
  action: "status";
}
/** `unregister`: revoke the caller's session. */
export interface UnregisterRequest extends RequestBase {
  action: "unregister";
}
/**
 * `ping`: liveness check; needs no session. With a `nonce`, the reply carries
 * `proof`, an HMAC of the nonce under the shared secret: a client that knows
 * the secret can tell its broker from a program squatting on the port before
 * it sends anything derived from the secret.
 */
export interface PingRequest extends RequestBase {
  action: "ping";
  nonce?: string;
}

/**
 * `claim`: lease files under a repository root (advisory). All or nothing:
 * when any path overlaps a live claim of another agent (exclusive on either
 * side), nothing is claimed and the error `E_CLAIMED` lists the conflicts.
 * Claiming a path the caller already holds renews it.
 */
export interface ClaimRequest extends RequestBase {
  action: "claim";
  /** Absolute path of the repository root (git top level, else a directory). */
  root: string;
  /** Paths or globs relative to `root`, POSIX, normalised (see `globs.ts`). */
  paths: string[];
  /** Lease length (default 30 minutes, at most 24 hours). */
  ttl_ms?: number;
  /** Shared claims coexist with other shared claims, never with exclusive ones. */
  shared?: boolean;
  /** Why, shown to whoever runs into the claim. */
  reason?: string;
}
/** `release`: drop claims of the caller; without `paths`, all of them (under `root` if given). */
export interface ReleaseRequest extends RequestBase {
  action: "release";
  root?: string;
  paths?: string[];
}
/** `claims`: the live claims (under `root`; with `paths`, only those overlapping them). */
export interface ClaimsRequest extends RequestBase {
  action: "claims";
  root?: string;
  paths?: string[];
}

/** Every request, keyed on `action`. */
export type Request =
  | RegisterRequest
  | SendRequest
  | BroadcastRequest
  | CheckRequest
  | AckRequest
  | WaitRequest
  | ListRequest
  | RenameRequest
  | WhoamiRequest
  | StatusRequest
  | UnregisterRequest
  | PingRequest
  | ClaimRequest
  | ReleaseRequest
  | ClaimsRequest
  | ReplyRequest
  | WaitReplyRequest
  | ReceiptRequest
  | ThreadRequest;

/** The name of an action. */
export type Action = Request["action"];

/** Every action, in the order of docs/protocol.md. */
export const ACTIONS: readonly Action[] = [
  "register",
  "send",
  "broadcast",
  "check",
  "ack",
  "wait",
  "list",
  "rename",
  "whoami",
  "status",
  "unregister",
  "ping",
  "claim",
  "release",
  "claims",
  "reply",
  "wait_reply",
  "receipt",
  "thread",
];

/** A message as delivered on the wire (legacy clients read `from`, `to`, `timestamp`, `message`). */
export interface WireMessage {
  id: string;
  from: string;
  to: string;
  /** ISO 8601 UTC. */
  timestamp: string;
  message: MessageBody;
  /** Set when the content was stored as a large-message file. */
  large?: { path: string; size: number };
  /**
   * The 7-character form of `id` every view shows (see `short_id.ts`). This
   * broker always sets it; a client of an older broker computes `shortId(id)`.
   */
  short_id?: string;
  /** Sent as urgent: shown first and flagged (the broker sets only `true`). */
  urgent?: boolean;
  /** The id of the message this one answers, and its short id. */
  reply_to?: string;
  reply_to_short?: string;
  /** The id of the conversation's first message (set on replies). */
  thread_id?: string;
  /** The start of the message this one answers. */
  quote?: string;
}

/** Where a message is, as its sender sees it. */
export type ReceiptState = "queued" | "delivered" | "read" | "replied";

/** A receipt as `receipt` reports it (times ISO 8601 UTC). */
export interface WireReceipt {
  message_id: string;
  short_id: string;
  to: string;
  state: ReceiptState;
  queued_at: string;
  delivered_at?: string;
  read_at?: string;
  replied_at?: string;
  reply_id?: string;
}

/** A known instance as `list` reports it. */
export interface WireInstance {
  id: string;
  /** ISO 8601 UTC. */
  last_seen: string;
  online: boolean;
  queued: number;
  host?: string;
}

/** A file claim as `claim`, `release` and `claims` report it. */
export interface WireClaim {
  root: string;
  path: string;
  holder: string;
  shared: boolean;
  reason?: string;
  /** ISO 8601 UTC. */
  claimed_at: string;
  /** ISO 8601 UTC. */
  expires_at: string;
}

/** The reply envelope. */
export interface OkReply {
  id?: RequestId;
  status: "ok";
  message: string;
  [field: string]: unknown;
}
/** An error reply. */
export interface ErrorReply {
  id?: RequestId;
  status: "error";
  code: ErrorCode;
  message: string;
  [field: string]: unknown;
}
/** Any reply. */
export type Reply = OkReply | ErrorReply;
