/**
 * The CLI's saved session: a small JSON file, `~/.ipc-session` by default, in
 * the original's format `{"instance_id": "NAME", "session_token": "TOKEN"}`
 * with mode 0600. It is read only when it is ours (a regular file, our uid,
 * not readable by others) and well formed; a corrupt or foreign file is
 * reported, never silently replaced, and saves are atomic (a private temp file
 * renamed over the old one), so a crash never leaves half a session.
 *
 * @module
 */

import { basename, dirname, join } from "node:path";
import { IpcError } from "../protocol/errors.ts";
import { NAME_PATTERN } from "../protocol/validate.ts";
import type { Session } from "./agent_client.ts";

const isWindows = Deno.build.os === "windows";

/** A session file larger than this is not one of ours. */
const MAX_SESSION_FILE_BYTES = 64 * 1024;

/**
 * What is at a session file's path.
 * - `missing`: nothing (not registered).
 * - `ok`: a valid session of ours.
 * - `corrupt`: ours, but not a session (bad JSON, wrong fields): `register --force` may replace it.
 * - `foreign`: not safely ours (another user's, readable by others, a link, a directory);
 *   `replaceable` tells whether `register --force` may replace it.
 */
export type SessionFileState =
  | { kind: "missing" }
  | { kind: "ok"; session: Session }
  | { kind: "corrupt"; reason: string }
  | { kind: "foreign"; reason: string; replaceable: boolean };

function currentUid(): number | null {
  try {
    return Deno.uid();
  } catch {
    return null; // no --allow-sys: the mode check still applies
  }
}

/** Parses session file text; returns the session or why it is not one. */
export function parseSessionText(text: string): Session | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return "not valid JSON";
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return "not a JSON object";
  }
  const { instance_id: name, session_token: token } = value as Record<string, unknown>;
  if (typeof name !== "string" || !NAME_PATTERN.test(name)) {
    return `"instance_id" is not an instance name`;
  }
  if (typeof token !== "string" || token.length === 0 || token.length > 256) {
    return `"session_token" is not a session token`;
  }
  return { name, token };
}

/**
 * Looks at the session file at `path` without changing it.
 *
 * @example
 * ```ts
 * const state = await inspectSessionFile("/home/me/.ipc-session");
 * if (state.kind === "ok") console.log(state.session.name);
 * ```
 */
export async function inspectSessionFile(path: string): Promise<SessionFileState> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return { kind: "missing" };
    return {
      kind: "foreign",
      reason: `cannot be read: ${(e as Error).message}`,
      replaceable: false,
    };
  }
  if (info.isSymlink) {
    return { kind: "foreign", reason: "is a symbolic link", replaceable: true };
  }
  if (!info.isFile) return { kind: "foreign", reason: "is not a regular file", replaceable: false };
  if (!isWindows) {
    const uid = currentUid();
    if (uid !== null && info.uid !== null && info.uid !== uid) {
      return {
        kind: "foreign",
        reason: `belongs to another user (uid ${info.uid})`,
        replaceable: false,
      };
    }
    if (info.mode !== null && (info.mode & 0o077) !== 0) {
      const mode = (info.mode & 0o777).toString(8).padStart(4, "0");
      return {
        kind: "foreign",
        reason: `can be read or written by other users (mode ${mode})`,
        replaceable: true,
      };
    }
  }
  if (info.size > MAX_SESSION_FILE_BYTES) {
    return { kind: "corrupt", reason: `too large (${info.size} bytes)` };
  }
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    return {
      kind: "foreign",
      reason: `cannot be read: ${(e as Error).message}`,
      replaceable: false,
    };
  }
  const parsed = parseSessionText(text);
  return typeof parsed === "string"
    ? { kind: "corrupt", reason: parsed }
    : { kind: "ok", session: parsed };
}

/** The error for a session file that cannot be used. */
export function sessionFileError(
  path: string,
  state: Exclude<SessionFileState, { kind: "ok" | "missing" }>,
): IpcError {
  const head = `Session file "${path}"`;
  let fix: string;
  if (state.kind === "corrupt") {
    fix = `is not an agent-ipc session (${state.reason}): fix or delete it, ` +
      `or run "agent-ipc register NAME --force" to replace it`;
  } else if (!state.replaceable) {
    fix = `${state.reason}: it is neither used nor replaced; ` +
      "pick your own file with --session-file or IPC_SESSION_FILE";
  } else if (state.reason.startsWith("can be read")) {
    fix = `${state.reason}: run "chmod 600 ${path}", ` +
      `or "agent-ipc register NAME --force" to replace it`;
  } else {
    fix = `${state.reason}: remove it, or run "agent-ipc register NAME --force" to replace it`;
  }
  return new IpcError("E_SESSION", `${head} ${fix}`, { session_file: path });
}

/**
 * Reads the session at `path`: undefined when there is none. Throws IpcError
 * E_SESSION when the file is corrupt or foreign.
 */
export async function readSessionFile(path: string): Promise<Session | undefined> {
  const state = await inspectSessionFile(path);
  if (state.kind === "missing") return undefined;
  if (state.kind === "ok") return state.session;
  throw sessionFileError(path, state);
}

/**
 * Saves `session` at `path` atomically, mode 0600. Refuses (IpcError
 * E_SESSION) to replace a corrupt or foreign file unless `force` is set, and
 * never replaces one that is not replaceable (another user's file, a directory).
 */
export async function writeSessionFile(
  path: string,
  session: Session,
  options: { force?: boolean } = {},
): Promise<void> {
  const state = await inspectSessionFile(path);
  if (state.kind === "corrupt" || state.kind === "foreign") {
    const replaceable = state.kind === "corrupt" || state.replaceable;
    if (!options.force || !replaceable) throw sessionFileError(path, state);
  }
  const text = JSON.stringify({ instance_id: session.name, session_token: session.token }) + "\n";
  const random = crypto.getRandomValues(new Uint32Array(1))[0].toString(36);
  const temp = join(dirname(path), `.${basename(path)}.${Deno.pid}.${random}.tmp`);
  try {
    await Deno.writeTextFile(temp, text, { mode: 0o600, createNew: true });
    if (!isWindows) await Deno.chmod(temp, 0o600);
    await Deno.rename(temp, path);
  } catch (e) {
    await Deno.remove(temp).catch(() => {});
    throw new IpcError(
      "E_SESSION",
      `Cannot save the session to "${path}": ${(e as Error).message}`,
      { session_file: path },
    );
  }
}

/**
 * Deletes the session file at `path` if it holds `session` (a file replaced
 * meanwhile by another registration is left alone). Returns true if removed.
 */
export async function removeSessionFile(path: string, session: Session): Promise<boolean> {
  const state = await inspectSessionFile(path);
  if (state.kind !== "ok" || state.session.token !== session.token) return false;
  try {
    await Deno.remove(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw new IpcError(
      "E_SESSION",
      `Cannot remove the session file "${path}": ${(e as Error).message}`,
      { session_file: path },
    );
  }
}
