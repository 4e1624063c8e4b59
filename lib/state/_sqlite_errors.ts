/**
 * Turns SQLite and file-system failures of the SQLite store into
 * `IpcError("E_STORE")` with the path and what to do about it.
 *
 * @module
 */

import { dirname } from "node:path";
import { IpcError } from "../protocol/errors.ts";
import { SchemaTooNewError } from "./_sqlite_schema.ts";

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** SQLite primary result codes we have advice for (https://sqlite.org/rescode.html). */
const SQLITE = {
  PERM: 3,
  BUSY: 5,
  LOCKED: 6,
  READONLY: 8,
  IOERR: 10,
  CORRUPT: 11,
  FULL: 13,
  CANTOPEN: 14,
  NOTADB: 26,
};

type Trouble = "damaged" | "access" | "unwritable" | "disk" | "locked";

/**
 * What went wrong, by type: our own error classes, Deno's permission error,
 * and SQLite's result code. Deno's `node:sqlite` (2.9) gives no result code
 * (`errcode` is undefined; every error is ERR_SQLITE_ERROR), so without one
 * the advice falls back to SQLite's fixed result-code texts (`sqlite3_errstr`).
 * Only the advice depends on it, never what the store does.
 */
function troubleOf(e: unknown): Trouble | undefined {
  if (e instanceof SchemaTooNewError) return undefined;
  if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
    return e instanceof Deno.errors.NotCapable ? "access" : "unwritable";
  }
  const errcode = (e as { errcode?: unknown })?.errcode;
  if (typeof errcode === "number") {
    switch (errcode & 0xff) {
      case SQLITE.CORRUPT:
      case SQLITE.NOTADB:
        return "damaged";
      case SQLITE.CANTOPEN:
      case SQLITE.READONLY:
      case SQLITE.PERM:
        return "unwritable";
      case SQLITE.FULL:
      case SQLITE.IOERR:
        return "disk";
      case SQLITE.BUSY:
      case SQLITE.LOCKED:
        return "locked";
      default:
        return undefined;
    }
  }
  const m = messageOf(e).toLowerCase();
  if (m.includes("not a database") || m.includes("malformed") || m.includes("corrupt")) {
    return "damaged";
  }
  if (m.includes("requires") && m.includes("access")) return "access";
  if (m.includes("unable to open") || m.includes("readonly") || m.includes("permission")) {
    return "unwritable";
  }
  if (m.includes("disk is full") || m.includes("disk i/o")) return "disk";
  if (m.includes("locked") || m.includes("busy")) return "locked";
  return undefined;
}

/** The fix for a failure; "" when there is no better advice. */
function fixFor(e: unknown, path: string): string {
  switch (troubleOf(e)) {
    case "damaged":
      return `: the file is damaged or is not an agent-ipc store; stop the broker and move "${path}" ` +
        `(with its -wal and -shm files) aside to start empty, or restore a backup`;
    case "access":
      return ": run with --allow-read and --allow-write for the data directory";
    case "unwritable":
      return `: check that the directory "${dirname(path)}" exists and is writable by this user, ` +
        `or choose another data directory`;
    case "disk":
      return `: free disk space on the volume of "${path}" and check the disk`;
    case "locked":
      return ": another process holds the store; stop the other broker that uses this data directory";
    default:
      return "";
  }
}

/** The error of a failed open of the store at `path`. */
export function openError(path: string, e: unknown): IpcError {
  if (e instanceof IpcError) return e;
  const msg = messageOf(e);
  return new IpcError("E_STORE", `Cannot open store "${path}": ${msg}${fixFor(e, path)}`);
}

/** The error of a failed operation (`doing`: "enqueue", "commit", ...) on the store at `path`. */
export function storeError(path: string, doing: string, e: unknown): IpcError {
  if (e instanceof IpcError) return e;
  const msg = messageOf(e);
  return new IpcError("E_STORE", `Store "${path}" could not ${doing}: ${msg}${fixFor(e, path)}`);
}

/** The error of a call after `close`. */
export function closedError(path: string): IpcError {
  return new IpcError("E_STORE", `Store "${path}" is closed`);
}
