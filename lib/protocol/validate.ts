/**
 * The one gate between untrusted bytes and typed requests: decodes a payload
 * (UTF-8, JSON, object) and checks every field of its action. Returns a typed
 * {@linkcode Request} or throws an {@linkcode IpcError} with a stable code.
 *
 * @module
 */

import { IpcError } from "./errors.ts";
import { LIMITS, TTLS } from "../defaults.ts";
import { checkClaimPath } from "./globs.ts";
import type { Action, JsonObject, MessageBody, Request, RequestId } from "./messages.ts";
import { ACTIONS } from "./messages.ts";

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Instance names: 1 to 32 of `A-Z a-z 0-9 _ -`, matched exactly. */
export const NAME_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;

/** Names no instance may register (see {@linkcode isReservedName} for their look-alikes). */
export const RESERVED_NAMES: ReadonlySet<string> = new Set(["system", "all", "*", "human"]);

/** Digits that read like letters in a name. */
const LOOK_ALIKES: Record<string, string> = {
  "0": "o",
  "1": "l",
  "3": "e",
  "4": "a",
  "5": "s",
  "7": "t",
};

/**
 * The skeleton of a name for comparing look-alikes: Unicode NFKC, lower case
 * (the case fold of every character a name may hold), separators `_` `-`
 * dropped, `rn` read as `m`, and digits that pass for letters read as them.
 *
 * @example
 * ```ts
 * nameSkeleton("SYS_TEM"); // "system"
 * nameSkeleton("Hurnan"); // "human"
 * ```
 */
export function nameSkeleton(name: string): string {
  return name.normalize("NFKC").toLowerCase().replace(/[_\-\s]/g, "").replaceAll("rn", "m")
    .replace(/[013457]/g, (c) => LOOK_ALIKES[c]);
}

const RESERVED_SKELETONS = new Set([...RESERVED_NAMES].map(nameSkeleton));

/**
 * True when `name` is reserved, or reads like a reserved name whatever its
 * case or spelling (`SYSTEM`, `Human`, `A11`, `sys-tem`).
 */
export function isReservedName(name: string): boolean {
  return RESERVED_NAMES.has(name) || RESERVED_SKELETONS.has(nameSkeleton(name));
}

/** How deep a message's `data` may nest. */
export const MAX_DATA_DEPTH = LIMITS.maxDataDepth;

/** The nesting depth of a JSON value (a scalar 0, `{}` 1), counted up to `limit + 1`. */
export function jsonDepth(value: unknown, limit: number = MAX_DATA_DEPTH): number {
  // Iterative: a recursive walk of hostile input could overflow the stack.
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length) {
    const [v, d] = stack.pop()!;
    if (typeof v !== "object" || v === null) continue;
    const here = d + 1;
    if (here > deepest) deepest = here;
    if (deepest > limit) return deepest;
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (typeof child === "object" && child !== null) stack.push([child, here]);
    }
  }
  return deepest;
}

/** Client-chosen idempotency keys of `send` and `broadcast`. */
export const CLIENT_ID_PATTERN = /^[A-Za-z0-9_-]{8,64}$/;

/** Longest accepted `wait` timeout: 5 minutes. */
export const MAX_WAIT_MS = LIMITS.maxWaitMs;

/** Default lease of a file claim: 30 minutes. */
export const DEFAULT_CLAIM_TTL_MS = TTLS.claimDefaultMs;
/** Longest lease of a file claim: 24 hours. */
export const MAX_CLAIM_TTL_MS = TTLS.claimMaxMs;
/** Most paths in one claim, release or claims request. */
export const MAX_CLAIM_PATHS = LIMITS.maxClaimPaths;
/** Longest claim reason, characters. */
export const MAX_CLAIM_REASON = LIMITS.maxClaimReason;

/** Throws unless `name` is a valid instance name (reserved names allowed). */
export function checkName(name: unknown, field: string): string {
  if (typeof name !== "string") {
    throw new IpcError("E_BAD_FIELD", `Field "${field}" must be a string`);
  }
  if (!NAME_PATTERN.test(name)) {
    throw new IpcError(
      "E_BAD_NAME",
      `Invalid name ${JSON.stringify(name.slice(0, 40))}: use 1 to 32 of A-Z a-z 0-9 _ -`,
    );
  }
  return name;
}

/** Decodes a frame payload to a JSON object, or throws E_BAD_UTF8 / E_BAD_JSON / E_NOT_OBJECT. */
export function decodePayload(payload: Uint8Array): JsonObject {
  let text: string;
  try {
    text = utf8.decode(payload);
  } catch {
    throw new IpcError("E_BAD_UTF8", "Request is not valid UTF-8");
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new IpcError("E_BAD_JSON", "Request is not valid JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new IpcError("E_NOT_OBJECT", "Request must be a JSON object");
  }
  return value as JsonObject;
}

/** The request id of a raw object, if it carries a usable one. */
export function requestIdOf(raw: JsonObject): RequestId | undefined {
  const id = raw.id;
  if (typeof id === "string" && id.length <= 128) return id;
  if (typeof id === "number" && Number.isFinite(id)) return id;
  return undefined;
}

function optString(raw: JsonObject, field: string): string | undefined {
  const v = raw[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") throw new IpcError("E_BAD_FIELD", `Field "${field}" must be a string`);
  return v;
}

function optBool(raw: JsonObject, field: string): boolean | undefined {
  const v = raw[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "boolean") {
    throw new IpcError("E_BAD_FIELD", `Field "${field}" must be true or false`);
  }
  return v;
}

function optInt(raw: JsonObject, field: string, min: number, max: number): number | undefined {
  const v = raw[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw new IpcError(
      "E_BAD_FIELD",
      `Field "${field}" must be a whole number from ${min} to ${max}`,
    );
  }
  return v;
}

/** `quiet_pid` of `check` and `ack`, as a spread (absent: no key). */
function optQuietPid(raw: JsonObject): { quiet_pid?: number } {
  const pid = optInt(raw, "quiet_pid", 2, 2 ** 31 - 1);
  return pid === undefined ? {} : { quiet_pid: pid };
}

function optClientId(raw: JsonObject): string | undefined {
  const v = raw.client_id;
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string" || !CLIENT_ID_PATTERN.test(v)) {
    throw new IpcError("E_BAD_FIELD", `Field "client_id" must be 8 to 64 of A-Z a-z 0-9 _ -`);
  }
  return v;
}

/** A message reference: a full message id or a short id (1-64 of A-Z a-z 0-9 _ -). */
function messageRef(raw: JsonObject): string {
  const v = raw.message_id;
  if (typeof v !== "string" || !/^[A-Za-z0-9_-]{1,64}$/.test(v)) {
    throw new IpcError(
      "E_BAD_FIELD",
      `Field "message_id" must be a message id or short id (1 to 64 of A-Z a-z 0-9 _ -)`,
    );
  }
  return v;
}

function body(raw: JsonObject): MessageBody {
  const m = raw.message;
  if (typeof m === "string") {
    // Accepted for convenience; the original's scripts always send an object.
    return { content: m };
  }
  if (typeof m !== "object" || m === null || Array.isArray(m)) {
    throw new IpcError("E_BAD_FIELD", `Field "message" must be an object {"content": string}`);
  }
  const { content, data } = m as JsonObject;
  if (typeof content !== "string") {
    throw new IpcError("E_BAD_FIELD", `Field "message.content" must be a string`);
  }
  if (data !== undefined && data !== null) {
    if (typeof data !== "object" || Array.isArray(data)) {
      throw new IpcError("E_BAD_FIELD", `Field "message.data" must be an object`);
    }
    if (jsonDepth(data) > MAX_DATA_DEPTH) {
      throw new IpcError(
        "E_BAD_FIELD",
        `Field "message.data" nests deeper than ${MAX_DATA_DEPTH} levels`,
        { max_depth: MAX_DATA_DEPTH },
      );
    }
    return { content, data: data as JsonObject };
  }
  return { content };
}

function claimRoot(raw: JsonObject, required: boolean): string | undefined {
  const root = optString(raw, "root");
  if (root === undefined) {
    if (required) throw new IpcError("E_BAD_FIELD", `Field "root" is required`);
    return undefined;
  }
  // An absolute directory, or a repository's identity (`repo:HOST/PATH`,
  // `commit:SHA`: see `repoKey`), the same on every machine.
  if (
    // deno-lint-ignore no-control-regex
    root.length > 4096 || /[\u0000-\u001f]/.test(root) ||
    !/^(\/|[A-Za-z]:[\\/]|repo:\S|commit:[0-9a-f]{40,64}$)/.test(root)
  ) {
    throw new IpcError(
      "E_BAD_FIELD",
      `Field "root" must be an absolute directory path or a repository key (repo:HOST/PATH, commit:SHA)`,
    );
  }
  return root;
}

function claimPaths(raw: JsonObject, required: boolean): string[] | undefined {
  const paths = raw.paths;
  if (paths === undefined || paths === null) {
    if (required) throw new IpcError("E_BAD_FIELD", `Field "paths" is required`);
    return undefined;
  }
  if (
    !Array.isArray(paths) || paths.length > MAX_CLAIM_PATHS ||
    (required && paths.length === 0) || !paths.every((p) => typeof p === "string")
  ) {
    throw new IpcError(
      "E_BAD_FIELD",
      `Field "paths" must be a list of 1 to ${MAX_CLAIM_PATHS} paths relative to "root"`,
    );
  }
  return (paths as string[]).map(checkClaimPath);
}

/**
 * Checks a decoded object and returns the typed request.
 *
 * @example
 * ```ts
 * const req = parseRequest({ action: "send", to_id: "fred", message: { content: "hi" } });
 * ```
 */
export function parseRequest(raw: JsonObject): Request {
  const action = raw.action;
  if (typeof action !== "string" || !(ACTIONS as readonly string[]).includes(action)) {
    throw new IpcError(
      "E_UNKNOWN_ACTION",
      `Unknown action ${
        JSON.stringify(typeof action === "string" ? action.slice(0, 40) : action ?? null)
      }: use one of ${ACTIONS.join(", ")}`,
    );
  }
  const base = {
    id: requestIdOf(raw),
    session_token: optString(raw, "session_token"),
  };
  switch (action as Action) {
    case "register": {
      const instance_id = checkName(raw.instance_id, "instance_id");
      const auth_token = optString(raw, "auth_token");
      if (auth_token === undefined) {
        throw new IpcError("E_BAD_FIELD", `Field "auth_token" is required to register`);
      }
      return { ...base, action: "register", instance_id, auth_token };
    }
    case "send": {
      const to = raw.to_id;
      if (typeof to !== "string") {
        throw new IpcError("E_BAD_FIELD", `Field "to_id" must be a string`);
      }
      if (to !== "*") checkName(to, "to_id");
      const client_id = optClientId(raw);
      const urgent = optBool(raw, "urgent");
      return {
        ...base,
        action: "send",
        to_id: to,
        message: body(raw),
        ...(client_id === undefined ? {} : { client_id }),
        ...(urgent ? { urgent } : {}),
      };
    }
    case "reply": {
      const message_id = messageRef(raw);
      const client_id = optClientId(raw);
      const urgent = optBool(raw, "urgent");
      return {
        ...base,
        action: "reply",
        message_id,
        message: body(raw),
        ...(client_id === undefined ? {} : { client_id }),
        ...(urgent ? { urgent } : {}),
      };
    }
    case "wait_reply":
      return {
        ...base,
        action: "wait_reply",
        message_id: messageRef(raw),
        timeout_ms: optInt(raw, "timeout_ms", 0, MAX_WAIT_MS),
      };
    case "receipt":
      return { ...base, action: "receipt", message_id: messageRef(raw) };
    case "thread":
      return {
        ...base,
        action: "thread",
        message_id: messageRef(raw),
        limit: optInt(raw, "limit", 1, 10_000),
      };
    case "broadcast": {
      const client_id = optClientId(raw);
      return {
        ...base,
        action: "broadcast",
        message: body(raw),
        ...(client_id === undefined ? {} : { client_id }),
      };
    }
    case "check":
      return {
        ...base,
        action: "check",
        ack: optBool(raw, "ack"),
        limit: optInt(raw, "limit", 1, 10_000),
        ...optQuietPid(raw),
      };
    case "ack": {
      const ids = raw.ids;
      if (
        !Array.isArray(ids) || ids.length > 10_000 ||
        !ids.every((x) => typeof x === "string" && x.length <= 64)
      ) {
        throw new IpcError(
          "E_BAD_FIELD",
          `Field "ids" must be a list of message ids (at most 10000)`,
        );
      }
      return { ...base, action: "ack", ids: ids as string[], ...optQuietPid(raw) };
    }
    case "wait":
      return {
        ...base,
        action: "wait",
        timeout_ms: optInt(raw, "timeout_ms", 0, MAX_WAIT_MS),
        ack: optBool(raw, "ack"),
        limit: optInt(raw, "limit", 1, 10_000),
      };
    case "rename": {
      const new_id = checkName(raw.new_id, "new_id");
      const old_id = raw.old_id === undefined || raw.old_id === null
        ? undefined
        : checkName(raw.old_id, "old_id");
      return { ...base, action: "rename", new_id, old_id };
    }
    case "list":
    case "whoami":
    case "status":
    case "unregister":
      return { ...base, action } as Request;
    case "ping": {
      const nonce = optString(raw, "nonce");
      if (nonce !== undefined && !/^[A-Za-z0-9_-]{16,128}$/.test(nonce)) {
        throw new IpcError("E_BAD_FIELD", `Field "nonce" must be 16 to 128 of A-Z a-z 0-9 _ -`);
      }
      return { ...base, action: "ping", nonce };
    }
    case "claim": {
      const reason = optString(raw, "reason");
      if (reason !== undefined && reason.length > MAX_CLAIM_REASON) {
        throw new IpcError(
          "E_BAD_FIELD",
          `Field "reason" must be at most ${MAX_CLAIM_REASON} characters`,
        );
      }
      const ttl_ms = optInt(raw, "ttl_ms", 1000, MAX_CLAIM_TTL_MS);
      const shared = optBool(raw, "shared");
      return {
        ...base,
        action: "claim",
        root: claimRoot(raw, true)!,
        paths: claimPaths(raw, true)!,
        ...(ttl_ms === undefined ? {} : { ttl_ms }),
        ...(shared === undefined ? {} : { shared }),
        ...(reason ? { reason } : {}),
      };
    }
    case "release":
    case "claims": {
      const root = claimRoot(raw, false);
      const paths = claimPaths(raw, false);
      return {
        ...base,
        action,
        ...(root === undefined ? {} : { root }),
        ...(paths === undefined ? {} : { paths }),
      } as Request;
    }
  }
}
