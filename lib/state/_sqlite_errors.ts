/**
 * Turns SQLite and file-system failures of the SQLite store into
 * `IpcError("E_STORE")` with the path and what to do about it.
 *
 * @module
 */

import { dirname } from "node:path";
import { IpcError } from "../protocol/errors.ts";

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** The fix for a failure, from SQLite's message; "" when there is no better advice. */
function fixFor(msg: string, path: string): string {
  const m = msg.toLowerCase();
  if (m.includes("not a database") || m.includes("malformed") || m.includes("corrupt")) {
    return `: the file is damaged or is not an agent-ipc store; stop the broker and move "${path}" ` +
      `(with its -wal and -shm files) aside to start empty, or restore a backup`;
  }
  if (m.includes("newer than this agent-ipc")) return "";
  if (m.includes("requires") && m.includes("access")) {
    return ": run with --allow-read and --allow-write for the data directory";
  }
  if (m.includes("unable to open") || m.includes("readonly") || m.includes("permission")) {
    return `: check that the directory "${dirname(path)}" exists and is writable by this user, ` +
      `or choose another data directory`;
  }
  if (m.includes("disk is full") || m.includes("disk i/o")) {
    return `: free disk space on the volume of "${path}" and check the disk`;
  }
  if (m.includes("locked") || m.includes("busy")) {
    return ": another process holds the store; stop the other broker that uses this data directory";
  }
  return "";
}

/** The error of a failed open of the store at `path`. */
export function openError(path: string, e: unknown): IpcError {
  if (e instanceof IpcError) return e;
  const msg = messageOf(e);
  return new IpcError("E_STORE", `Cannot open store "${path}": ${msg}${fixFor(msg, path)}`);
}

/** The error of a failed operation (`doing`: "enqueue", "commit", ...) on the store at `path`. */
export function storeError(path: string, doing: string, e: unknown): IpcError {
  if (e instanceof IpcError) return e;
  const msg = messageOf(e);
  return new IpcError("E_STORE", `Store "${path}" could not ${doing}: ${msg}${fixFor(msg, path)}`);
}

/** The error of a call after `close`. */
export function closedError(path: string): IpcError {
  return new IpcError("E_STORE", `Store "${path}" is closed`);
}
